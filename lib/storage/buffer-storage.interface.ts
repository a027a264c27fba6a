import type { DeadLetter } from '../flush/dead-letter.interface.js';
import type {
  BufferTarget,
  CellSnapshot,
  CellsSnapshot,
  ClaimedBatch,
  ColumnMerges,
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
 *   claim that raced with its database read;
 * - the flush lease fencing `claim`, `inFlight` (with a lease), `ack` and
 *   `split`: once the caller's lease is not the data source's current one,
 *   each rejects with `LeaseLostError` (a `WriteBufferError`) and changes
 *   nothing. Other failures reject with the storage's own errors (Redis:
 *   `RedisUnavailableError`).
 * @publicApi
 */
export interface BufferStorage {
  /** Adds `delta` to the pending counter of (row, column). */
  increment(target: BufferTarget, key: RowKey, column: string, delta: number): Promise<void>;
  /**
   * Merges `values` into the row's pending update (last write wins per
   * column) and drops pending deltas of the columns it sets.
   *
   * `merges` names the columns of `values` an entity merges with max/min
   * (the entity option `merge`): such a column's pending value is replaced
   * only by one that ranks greater (`'max'`) or less (`'min'`), and `NULL`
   * never replaces a value, atomically with respect to other writers of
   * the row. A storage that ignores `merges` stays correct in the database
   * (the flush merges with the table's value) but may keep a lesser value
   * pending when two writes race, so the database ends below the maximum.
   */
  update(
    target: BufferTarget,
    key: RowKey,
    values: StoredRow,
    merges?: ColumnMerges,
  ): Promise<void>;
  /**
   * Appends rows to the table's pending inserts, in order. `keys[i]` is the
   * row key of `rows[i]` when it names its whole primary key, so `read`
   * can find the row.
   */
  insert(target: BufferTarget, rows: StoredRow[], keys?: Array<RowKey | null>): Promise<void>;
  /**
   * Unapplied layers of one cell (in-flight batches, then pending; within
   * each, a buffered insert of the row before its updates and counters).
   */
  read(target: BufferTarget, key: RowKey, column: string): Promise<CellSnapshot>;
  /**
   * Checks what the storage already holds before the module uses it (a
   * persisted format it does not know is refused with a
   * `WriteBufferConfigError`). Optional.
   */
  open?(dataSources: readonly string[]): Promise<void>;
  /**
   * Moves up to `maxRows` pending entries of the data source (only of
   * `tables`, when given) into a new in-flight batch owned by `lease`.
   * Resolves `null` when nothing is pending. Rejects with `LeaseLostError`,
   * claiming nothing, once `lease` is not the data source's current lease.
   */
  claim(dataSource: string, options: ClaimOptions): Promise<ClaimedBatch | null>;
  /**
   * In-flight batches of the data source, oldest first. With `lease`, they
   * now belong to it (a flusher taking over from one whose lease expired),
   * so the previous owner can no longer ack or split them; rejects with
   * `LeaseLostError` if `lease` is not current.
   */
  inFlight(dataSource: string, lease?: FlushLease): Promise<ClaimedBatch[]>;
  /**
   * In one atomic step: deletes an in-flight batch and keeps `setAside`'s
   * dead letters. Resolves how many letters were kept (the rest found the
   * store full). Rejects with `LeaseLostError`, changing nothing, if
   * `lease` no longer owns the batch.
   */
  ack(batch: ClaimedBatch, lease: FlushLease, setAside?: SetAside): Promise<number>;
  /**
   * In one atomic step: replaces an in-flight batch by `parts` (in its
   * place in the in-flight order, owned by `lease`), keeps `setAside`'s
   * dead letters, and changes the claim epoch. Used to isolate entries the
   * database refuses: `batch` was never applied, each part is applied and
   * acked on its own. Resolves and rejects as `ack`.
   */
  split(
    batch: ClaimedBatch,
    lease: FlushLease,
    parts: ClaimedBatch[],
    setAside?: SetAside,
  ): Promise<number>;
  /**
   * Takes the data source's flush lease for `ttl` milliseconds, or
   * resolves `null` if another flusher holds it.
   */
  lease(dataSource: string, ttl: number): Promise<FlushLease | null>;
  /** The data source's dead letters, oldest first. */
  deadLetters(dataSource: string): Promise<DeadLetter[]>;
  /**
   * Moves dead letters (those with `ids`, or all) back to pending state in
   * one atomic step per letter: a letter is buffered again exactly once,
   * however many callers retry it at the same moment. Resolves how many
   * this call moved.
   */
  requeueDeadLetters(dataSource: string, ids?: readonly string[]): Promise<number>;
  /** Deletes dead letters (those with `ids`, or all); resolves how many. */
  removeDeadLetters(dataSource: string, ids?: readonly string[]): Promise<number>;
  /** Counts of what the storage holds, over every data source it has served. */
  stats(): Promise<StorageStats>;
  /**
   * Entries held in this process (pending and in flight), synchronously,
   * for storages that can tell at no cost; used by `limits.maxPendingEntries`.
   */
  pendingEntries?(): number;
  /**
   * Pending entries per data source, table and kind, for the
   * `write_buffer_pending_entries` gauge (optional: without it the gauge
   * has the kind only, from `stats()`).
   */
  pendingByTable?(): Promise<PendingTableEntries[]>;
  /**
   * When the oldest write of each data source not yet applied (pending or
   * in flight) arrived, in milliseconds since the epoch; data sources with
   * nothing buffered are left out. Optional: without it the
   * `write_buffer_oldest_pending_age_seconds` gauge reports nothing.
   */
  oldestPending?(): Promise<Array<{ dataSource: string; at: number }>>;
  /** Whether a pending counter for (row, column) exists, synchronously (optional). */
  hasCounter?(target: BufferTarget, key: RowKey, column: string): boolean;
  /** Releases resources the storage created. */
  close(): Promise<void>;
  /**
   * Drops every pending write of one row (its counters, its update, and
   * the pending inserts whose row key is `key`) in one atomic step with
   * respect to writes and claims: a write that arrives after it starts
   * fresh pending state, and a write it dropped has resolved before it
   * resolves. In-flight batches are left as they are (they are immutable)
   * and only counted. Optional: `BufferService.discard()` refuses to run on
   * a storage without it.
   */
  discard?(target: BufferTarget, key: RowKey): Promise<DiscardResult>;
  /**
   * `read` for many cells of one table at once: the layers of every
   * (`keys[k]`, `columns[c]`) in `layers[k][c]`, all from one state of the
   * storage, with its claim epoch (with no keys: the epoch alone).
   * Optional: without it `BufferService.getMany()` and `overlay()` call
   * `read` per cell (and re-read when the epoch moved between them).
   */
  readMany?(target: BufferTarget, keys: RowKey[], columns: string[]): Promise<CellsSnapshot>;
}

/**
 * What `BufferStorage.claim` takes.
 * @publicApi
 */
export interface ClaimOptions {
  /** Most entries (insert rows, rows with updates or counters) to claim. */
  maxRows: number;
  /** Table paths to claim from; all when absent. */
  tables?: readonly string[];
  /**
   * Most entries to claim of the tables named here (by table path),
   * instead of `maxRows`: such a table neither spends nor is bounded by
   * the `maxRows` the other tables share (per-entity `maxBatchRows`).
   */
  tableMaxRows?: Readonly<Record<string, number>>;
  /** The claiming flusher's lease; the batch belongs to it. */
  lease: FlushLease;
}

/**
 * Pending entries of one kind in one table, from `BufferStorage.pendingByTable`.
 * @publicApi
 */
export interface PendingTableEntries {
  dataSource: string;
  table: string;
  kind: 'counter' | 'update' | 'insert';
  count: number;
}

/**
 * What `BufferService.discard()` (and `BufferStorage.discard`) resolves.
 * @publicApi
 */
export interface DiscardResult {
  /**
   * Pending entries dropped: the row's counters (one per column), its
   * update (one), and its pending inserts (one each).
   */
  discarded: number;
  /**
   * In-flight batches (claimed by a flush, not yet acknowledged) that
   * still hold writes of the row. They are not dropped: they apply as
   * claimed. When it is not 0 and the row is about to be deleted, call
   * `await buffer.flush()` first, or accept that those writes apply to
   * the row (or miss it).
   */
  inFlight: number;
}

/** Dead letters to keep together with an `ack` or `split`, up to `max` held in all. */
export interface SetAside {
  letters: DeadLetter[];
  /** Most dead letters the data source may hold; letters past it are dropped and counted. */
  max: number;
}

/** Injection token of the {@link BufferStorage} in use. */
export const BufferStorage = Symbol('BufferStorage');
