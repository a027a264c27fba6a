import { Injectable } from '@nestjs/common';

/** Counts the writes this process buffered, for the size trigger and for storages that do not count entries. */
@Injectable()
export class WriteTally {
  /** Writes since the latest flush started. */
  sinceFlush = 0;
  /** Writes no flush of everything has covered yet. */
  unflushed = 0;

  /** `count` writes were buffered. */
  wrote(count: number): void {
    this.unflushed += count;
    this.sinceFlush += count;
  }

  /** A flush starts; returns the writes it covers if it flushes everything. */
  flushStarted(): number {
    this.sinceFlush = 0;
    return this.unflushed;
  }

  /** A flush of everything applied the `covered` writes it started with. */
  flushed(covered: number): void {
    this.unflushed = Math.max(0, this.unflushed - covered);
  }

  /** No more than `entries` can be unflushed: the storage holds no more. */
  atMost(entries: number): void {
    this.unflushed = Math.min(this.unflushed, entries);
  }

  /** `count` entries buffered before were dropped (`BufferService.discard()`). */
  dropped(count: number): void {
    this.unflushed = Math.max(0, this.unflushed - count);
  }
}
