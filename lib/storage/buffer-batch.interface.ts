/**
 * A value as it goes into the database: already converted by the TypeORM
 * driver (`preparePersistentValue`), so JSON columns hold their JSON text.
 * Storages must give back exactly what they were given: `Date` and
 * `Buffer` included.
 * @publicApi
 */
export type StoredValue = string | number | boolean | null | Date | Buffer;

/**
 * Column (property path) → prepared value.
 * @publicApi
 */
export type StoredRow = Record<string, StoredValue>;

/**
 * Identifies the table a buffered write belongs to. `table` is the
 * entity's table path; `dataSource` the TypeORM data source name.
 * @publicApi
 */
export interface BufferTarget {
  readonly dataSource: string;
  readonly table: string;
}

/**
 * A row key, encoded structurally: the JSON array of the row's primary
 * column values, in primary-column order (`[42]`, `["eu",7]`).
 * @publicApi
 */
export type RowKey = string;

/**
 * The part of a claimed batch that belongs to one table.
 * @publicApi
 */
export interface BatchTable {
  table: string;
  /** Rows to insert, in the order they were buffered. */
  inserts: StoredRow[];
  /**
   * The row key of each insert that names its whole primary key (`null`
   * for one that does not), when any does: `get()` reads an inserted row's
   * values before the flush.
   */
  insertKeys?: Array<RowKey | null>;
  /** Column values to set on existing rows, merged per column. */
  updates: Array<[key: RowKey, values: StoredRow]>;
  /** Deltas to add to existing rows' columns. */
  counters: Array<[key: RowKey, deltas: Record<string, number>]>;
}

/**
 * Entries moved out of pending state by `claim`. Immutable once claimed:
 * a crashed flush applies the very same batch again, and the ledger
 * recognises it by `id`.
 * @publicApi
 */
export interface ClaimedBatch {
  /** Unique id, written to the ledger in the transaction that applies it. */
  id: string;
  dataSource: string;
  tables: BatchTable[];
}

/**
 * What a storage holds, unapplied, for one (row, column).
 * @publicApi
 */
export interface CellLayer {
  /** Set when the layer is an in-flight batch; absent for pending state. */
  batchId?: string;
  /**
   * The layer is a buffered insert of the row: `value` is the inserted
   * value of the column (`undefined`: the row leaves it to its default).
   * It comes before the updates and counters of the same batch or of
   * pending state, as a flush applies them.
   */
  inserted?: boolean;
  /** Whether an update in this layer sets the column (to `value`). */
  isSet: boolean;
  value?: StoredValue;
  /** Sum of the increments after the set (or all of them, without a set). */
  delta: number;
}

/**
 * Unapplied state of one cell, oldest layer first, together with the
 * storage's claim epoch (how many batches were ever claimed) at read time.
 * @publicApi
 */
export interface CellSnapshot {
  epoch: number;
  layers: CellLayer[];
}

/**
 * Counts a storage reports in `BufferService.stats()`.
 * @publicApi
 */
export interface StorageStats {
  pending: { counters: number; updates: number; inserts: number };
  inFlightBatches: number;
  /** Dead letters held. */
  deadLetters: number;
  /** Dead letters dropped because `limits.maxDeadLetters` were held already. */
  deadLettersDropped: number;
  /** Entries and bytes in use in the journal, for storages that keep one. */
  journal?: { entries: number; bytes: number };
  /**
   * When the oldest write not yet applied (pending or in flight) arrived,
   * in milliseconds since the epoch, for storages that track it (see
   * `BufferStorage.oldestPending`).
   */
  oldestPendingAt?: number;
}

/**
 * Permission to flush one data source; see `BufferStorage.lease`.
 * @publicApi
 */
export interface FlushLease {
  /** Random token; checked by `claim`, `inFlight`, `split` and `ack` as a fencing value. */
  readonly token: string;
  /** Extends the lease; resolves `false` if it was lost. */
  renew(): Promise<boolean>;
  /** Gives the lease up (only if still held by this token). */
  release(): Promise<void>;
}

/**
 * Unapplied state of many cells of one table, from `BufferStorage.readMany`:
 * `layers[k][c]` holds the layers of (`keys[k]`, `columns[c]`) as
 * {@link CellSnapshot} does, all read at one claim `epoch`.
 * @publicApi
 */
export interface CellsSnapshot {
  epoch: number;
  layers: CellLayer[][][];
  /** The ids of the in-flight batches, in apply order (the order of the layers). */
  batches?: string[];
}

/**
 * How `BufferStorage.update` merges one column of `values` (see the entity
 * option `merge`): the pending value is replaced only by a value whose
 * `rank` is greater (`'max'`) or less (`'min'`). `rank` is the number the
 * value compares by (an instant's milliseconds since the epoch), `null`
 * for `NULL`, which counts as absent: it never replaces a value.
 * @publicApi
 */
export interface ColumnMerge {
  rule: 'max' | 'min';
  rank: number | null;
}

/**
 * The merge of each merged column of an update, by column.
 * @publicApi
 */
export type ColumnMerges = Readonly<Record<string, ColumnMerge>>;
