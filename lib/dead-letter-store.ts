import { Inject, Injectable } from '@nestjs/common';
import { byArrival, type DeadLetter } from './flush/dead-letter.interface.js';
import { BufferStorage } from './storage/buffer-storage.interface.js';
import {
  WRITE_BUFFER_RESOLVED_OPTIONS,
  type ResolvedWriteBufferOptions,
} from './write-buffer-options.resolver.js';

/** The dead letters of every data source: listed, buffered again, or discarded. */
@Injectable()
export class DeadLetterStore {
  private readonly dataSources: readonly string[];

  constructor(
    @Inject(WRITE_BUFFER_RESOLVED_OPTIONS) options: ResolvedWriteBufferOptions,
    @Inject(BufferStorage) private readonly storage: BufferStorage,
  ) {
    this.dataSources = options.dataSources;
  }

  /** Every data source's dead letters, oldest first. */
  async list(): Promise<DeadLetter[]> {
    const all = await Promise.all(this.dataSources.map((name) => this.storage.deadLetters(name)));
    return all.flat().sort(byArrival);
  }

  /** Buffers dead letters again (all, or those with `ids`); resolves how many. */
  retry(ids?: string[]): Promise<number> {
    return this.eachDataSource((name) => this.storage.requeueDeadLetters(name, ids));
  }

  /** Deletes dead letters for good (all, or those with `ids`); resolves how many. */
  discard(ids?: string[]): Promise<number> {
    return this.eachDataSource((name) => this.storage.removeDeadLetters(name, ids));
  }

  private async eachDataSource(run: (name: string) => Promise<number>): Promise<number> {
    let total = 0;
    for (const name of this.dataSources) total += await run(name);
    return total;
  }
}
