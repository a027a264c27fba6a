import { Logger } from '@nestjs/common';
import type { BufferStorage } from '../storage/buffer-storage.interface.js';
import type { ClaimedBatch, FlushLease } from '../storage/buffer-batch.interface.js';
import type { DeadLetter } from './dead-letter.interface.js';
import type { FlushReport } from './flush-report.interface.js';
import { WriteBufferEvent, type WriteBufferEvents } from '../telemetry/write-buffer.events.js';

/** What the acknowledger does with dead letters. */
export interface DeadLetterLimits {
  /** Most dead letters the data source keeps (`limits.maxDeadLetters`). */
  maxDeadLetters: number;
  /** Called with each dead letter the storage kept. */
  onDeadLetter?: (letter: DeadLetter) => void;
  /** Emits `write-buffer.dead-letter` for each of them. */
  events?: WriteBufferEvents;
}

/**
 * The ack step: removes a settled batch from storage (or replaces it by
 * its parts), together with the dead letters set aside from it, and
 * reports, logs and hands to `onDeadLetter` the letters the storage kept.
 * Logs once when the dead letters fill up and once when there is room again.
 */
export class Acknowledger {
  private readonly logger = new Logger('WriteBuffer');
  /** Whether the last dead letters found the store full (logged once per change). */
  private deadLettersFull = false;

  constructor(
    private readonly dataSource: string,
    private readonly storage: BufferStorage,
    private readonly limits: DeadLetterLimits,
  ) {}

  /** Deletes the in-flight batch, keeping `letters`. */
  async ack(
    batch: ClaimedBatch,
    lease: FlushLease,
    report: FlushReport,
    letters: DeadLetter[],
  ): Promise<void> {
    const kept = await this.storage.ack(batch, lease, this.setAside(letters));
    this.keptDeadLetters(letters, kept, report);
  }

  /** Replaces the in-flight batch by `parts` (atomically), keeping `letters`. */
  async split(
    batch: ClaimedBatch,
    lease: FlushLease,
    report: FlushReport,
    parts: ClaimedBatch[],
    letters: DeadLetter[],
  ): Promise<void> {
    const kept = await this.storage.split(batch, lease, parts, this.setAside(letters));
    this.keptDeadLetters(letters, kept, report);
  }

  private setAside(letters: DeadLetter[]) {
    return letters.length ? { letters, max: this.limits.maxDeadLetters } : undefined;
  }

  /** Reports, logs and hands to `onDeadLetter` the letters the storage kept. */
  private keptDeadLetters(letters: DeadLetter[], kept: number, report: FlushReport) {
    if (letters.length === 0) return;
    report.deadLettered += kept;
    const full = kept < letters.length;
    if (full !== this.deadLettersFull) {
      this.deadLettersFull = full;
      if (full) {
        this.logger.error(
          `The dead letters of data source '${this.dataSource}' reached limits.maxDeadLetters (${this.limits.maxDeadLetters}): ` +
            `further writes that cannot be applied are dropped and counted (stats().deadLettersDropped). ` +
            `Retry or discard dead letters to make room. The next line will say when there is room again.`,
        );
      } else {
        this.logger.log(`The dead letters of data source '${this.dataSource}' have room again.`);
      }
    }
    // The storage keeps the first `kept` letters it was given.
    for (const letter of letters.slice(0, kept)) {
      this.logger.warn(
        `Dead letter ${letter.id}: ${letter.kind} on ${letter.entity}` +
          `${letter.key ? ` ${JSON.stringify(letter.key)}` : ''} was set aside: ${letter.error}`,
      );
      try {
        this.limits.onDeadLetter?.(letter);
      } catch (error) {
        this.logger.error(`onDeadLetter threw: ${(error as Error).message}`);
      }
      this.limits.events?.emit(WriteBufferEvent.DeadLetter, { letter });
    }
  }
}
