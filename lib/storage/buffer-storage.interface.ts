import type { DeadLetter } from '../flush/dead-letter.interface.js';
import type {
  BufferTarget,
  CellSnapshot,
  ClaimedBatch,
  FlushLease,
  RowKey,
  StorageStats,
  StoredRow,
} from './buffer-batch.interface.js';

/**
 * Where buffered writes wait for a flush. Every method resolves only once
 * the write has the durability the storage promises.
 *
 * The flush protocol (claim → apply with ledger → ack) relies on:
 * - `claim` moving pending entries into a new, immutable in-flight batch
 *   atomically, so writes that arrive later start fresh pending entries;
 * - in-flight batches staying visible (`inFlight`) until `ack`;
 * - `epoch` changing on every claim, so `BufferService.get()` can detect a
 *   claim that raced with its database read.
 */
export interface BufferStorage {
  /** Adds `delta` to the pending counter of (row, column). */
  increment(target: BufferTarget, key: RowKey, column: string, delta: number): Promise<void>;
  /**
   * Merges `values` into the row's pending update (last write wins per
   * column) and drops pending deltas of the columns it sets.
   */
  update(target: BufferTarget, key: RowKey, values: StoredRow): Promise<void>;
  /** Appends rows to the table's pending inserts, in order. */
  insert(target: BufferTarget, rows: StoredRow[]): Promise<void>;
  /** Unapplied layers of one cell (in-flight batches, then pending). */
  read(target: BufferTarget, key: RowKey, column: string): Promise<CellSnapshot>;
  /**
   * Moves up to `maxRows` pending entries of the data source (only of
   * `tables`, when given) into a new in-flight batch owned by `lease`.
   * Resolves `null` when nothing is pending.
   */
  claim(dataSource: string, options: ClaimOptions): Promise<ClaimedBatch | null>;
  /**
   * In-flight batches of the data source, oldest first. With `lease`, they
   * now belong to it (a flusher taking over from one whose lease expired),
   * so the previous owner can no longer ack them.
   */
  inFlight(dataSource: string, lease?: FlushLease): Promise<ClaimedBatch[]>;
  /**
   * Deletes an applied in-flight batch. Rejects, deleting nothing, if
   * `lease` is no longer the data source's current lease.
   */
  ack(batch: ClaimedBatch, lease: FlushLease): Promise<void>;
  /**
   * Takes the data source's flush lease for `ttl` milliseconds, or
   * resolves `null` if another flusher holds it.
   */
  lease(dataSource: string, ttl: number): Promise<FlushLease | null>;
  /** Stores dead letters (same id: replaced), durably and visible to every instance. */
  putDeadLetters(letters: DeadLetter[]): Promise<void>;
  /** All dead letters, oldest first. */
  deadLetters(): Promise<DeadLetter[]>;
  /** Deletes dead letters by id. */
  removeDeadLetters(ids: string[]): Promise<void>;
  stats(): Promise<StorageStats>;
  /**
   * Entries held in this process (pending and in flight), synchronously,
   * for storages that can tell at no cost; used by `limits.maxPendingEntries`.
   */
  pendingEntries?(): number;
  /** Whether a pending counter for (row, column) exists, synchronously (optional). */
  hasCounter?(target: BufferTarget, key: RowKey, column: string): boolean;
  /** Releases resources the storage created. */
  close(): Promise<void>;
}

/** What `BufferStorage.claim` takes. */
export interface ClaimOptions {
  /** Most entries (insert rows, rows with updates or counters) to claim. */
  maxRows: number;
  /** Table paths to claim from; all when absent. */
  tables?: readonly string[];
  /** The claiming flusher's lease; the batch belongs to it. */
  lease: FlushLease;
}

/** Injection token of the {@link BufferStorage} in use. */
export const BufferStorage = Symbol('BufferStorage');
