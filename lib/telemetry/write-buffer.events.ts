import type { DeadLetter } from '../flush/dead-letter.interface.js';
import type { FlushReport } from '../flush/flush-report.interface.js';

/**
 * Names of the events the module emits through `@nestjs/event-emitter`'s
 * `EventEmitter2`, when the app has it (`EventEmitterModule.forRoot()`).
 * Listen with `@OnEvent(WriteBufferEvent.FlushFailed)` or
 * `@OnEvent('write-buffer.flush.failed')`.
 * @publicApi
 */
export const WriteBufferEvent = {
  /** A flush of one data source succeeded. Payload: {@link FlushCompletedEvent}. */
  FlushCompleted: 'write-buffer.flush.completed',
  /** Flushing a data source started failing (once per run of failures, as the ERROR log line). Payload: {@link FlushFailedEvent}. */
  FlushFailed: 'write-buffer.flush.failed',
  /** Flushing a data source succeeded again after failures. Payload: {@link FlushRecoveredEvent}. */
  FlushRecovered: 'write-buffer.flush.recovered',
  /** A write was set aside as a dead letter. Payload: {@link DeadLetterEvent}. */
  DeadLetter: 'write-buffer.dead-letter',
  /** A write found `limits.maxPendingEntries` reached and was rejected. Payload: {@link BufferFullEvent}. */
  BufferFull: 'write-buffer.buffer-full',
  /** At start, pending writes (journal) or in-flight batches were found. Payload: {@link RecoveredEvent}. */
  Recovered: 'write-buffer.recovered',
} as const;

/** @publicApi */
export interface FlushCompletedEvent {
  dataSource: string;
  /** What the flush of this data source did. */
  report: FlushReport;
}

/** @publicApi */
export interface FlushFailedEvent {
  dataSource: string;
  /** The error's message. */
  error: string;
  /**
   * `transient` (database unreachable, deadlock, …), `data` (a refused
   * statement outside a batch, e.g. on the ledger), `lease_lost` (another
   * flusher took over), or `other`.
   */
  kind: string;
  /** Delay before the next scheduled attempt, in milliseconds. */
  backoffMs: number;
}

/** @publicApi */
export interface FlushRecoveredEvent {
  dataSource: string;
  /** Flushes that had failed in a row before this success. */
  failedAttempts: number;
}

/** @publicApi */
export interface DeadLetterEvent {
  letter: DeadLetter;
}

/** @publicApi */
export interface BufferFullEvent {
  /** Entries held when the write was refused. */
  pendingEntries: number;
  /** `limits.maxPendingEntries`. */
  maxPendingEntries: number;
  /** `limits.policy`. */
  policy: 'flush' | 'reject';
}

/** @publicApi */
export interface RecoveredEvent {
  pending: { counters: number; updates: number; inserts: number };
  inFlightBatches: number;
  deadLetters: number;
  /** What applying the in-flight batches did, when it succeeded. */
  report?: FlushReport;
  /** Why applying them failed (they stay buffered). */
  error?: string;
}

/** The part of `EventEmitter2` the module calls. */
export interface EventEmitterLike {
  emit(event: string, payload: unknown): unknown;
}

/**
 * Emits the module's events on the app's `EventEmitter2`, if any. A
 * listener that throws is the app's problem, never the flush's.
 */
export class WriteBufferEvents {
  /** Events that go nowhere. */
  static readonly none = new WriteBufferEvents();

  private emitter?: EventEmitterLike;

  /** `find` looks the app's emitter up (on first use: it may be created after this module). */
  constructor(private readonly find?: () => EventEmitterLike | undefined) {}

  emit(event: typeof WriteBufferEvent.FlushCompleted, payload: FlushCompletedEvent): void;
  emit(event: typeof WriteBufferEvent.FlushFailed, payload: FlushFailedEvent): void;
  emit(event: typeof WriteBufferEvent.FlushRecovered, payload: FlushRecoveredEvent): void;
  emit(event: typeof WriteBufferEvent.DeadLetter, payload: DeadLetterEvent): void;
  emit(event: typeof WriteBufferEvent.BufferFull, payload: BufferFullEvent): void;
  emit(event: typeof WriteBufferEvent.Recovered, payload: RecoveredEvent): void;
  emit(event: string, payload: unknown): void {
    if (!this.find) return;
    try {
      this.emitter ??= this.find();
      if (!this.emitter) return;
      this.emitter.emit(event, payload);
    } catch {
      // EventEmitter2 rethrows a synchronous listener's error; the flush goes on.
    }
  }
}
