import { Inject, Injectable } from '@nestjs/common';
import type { EntityTarget, ObjectLiteral } from 'typeorm';
import { BufferedDataSources } from './buffered-data-sources.js';
import { WriteBufferConfigError } from './errors.js';
import { BufferStorage, type DiscardResult } from './storage/buffer-storage.interface.js';
import { WriteTally } from './write-tally.js';

/** Drops the pending writes of one row (`BufferService.discard()`). */
@Injectable()
export class RowDiscarder {
  constructor(
    @Inject(BufferStorage) private readonly storage: BufferStorage,
    private readonly sources: BufferedDataSources,
    private readonly tally: WriteTally,
  ) {}

  /** See `BufferService.discard()`. */
  async discard<T extends ObjectLiteral>(
    entity: EntityTarget<T>,
    id: unknown,
  ): Promise<DiscardResult> {
    const buffered = this.sources.catalog.get(entity);
    const key = buffered.key(id);
    if (!this.storage.discard) {
      throw WriteBufferConfigError.storageLacks('discard()', 'BufferService.discard()');
    }
    const result = await this.storage.discard(buffered.target, key);
    // Storages that do not count entries fall back on the tally (of this
    // process's writes) for `limits.maxPendingEntries`. The entries dropped
    // may stand for more writes than that: the tally then falls to what
    // the storage still holds.
    this.tally.dropped(result.discarded);
    if (result.discarded > 0 && !this.storage.pendingEntries) {
      const { pending } = await this.storage.stats();
      this.tally.atMost(pending.counters + pending.updates + pending.inserts);
    }
    return result;
  }
}
