import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { LeaseLostError, WriteBufferConfigError } from '../errors.js';
import { byArrival, type DeadLetter } from '../flush/dead-letter.interface.js';
import type {
  BufferStorage,
  ClaimOptions,
  DiscardResult,
  PendingTableEntries,
  SetAside,
} from './buffer-storage.interface.js';
import type {
  BatchTable,
  BufferTarget,
  CellLayer,
  CellSnapshot,
  CellsSnapshot,
  ClaimedBatch,
  ColumnMerges,
  FlushLease,
  RowKey,
  StorageStats,
  StoredRow,
} from './buffer-batch.interface.js';
import { newBatchId } from './batch-id.js';
import { batchCells, insertLayer, pushLayer, type BatchCells } from './cell-layers.js';
import { decodeInsert, encodeInsert } from './insert-entry.codec.js';
import { addDelta, countersOf, setColumns, type RowState } from './row-state.js';
import { decodeJson, encodeJson } from './stored-value.codec.js';

/** How the shared LMDB storage is opened. */
export interface LmdbStorageConfig {
  /** File path of the LMDB environment (created if missing, with a `-lock` file beside it). */
  path: string;
  /** `'sync'`: a write resolves once its commit is on disk; `'relaxed'`: once committed. */
  durability: 'sync' | 'relaxed';
  /** Initial map size in bytes (lmdb-js grows it when needed). */
  mapSize?: number;
}

/**
 * Format of what the shared storage keeps (key layout and value encoding),
 * under the key `['v']`. It differs from the memory storage's journal
 * format, so neither opens the other's environment.
 */
export const LMDB_STORAGE_FORMAT = 'shared-1';

/**
 * The key layout. `ds` is the data source, `t` the table path, `seq` a
 * claim (batches) or insert sequence number.
 */
type Key =
  | [kind: 'v']
  | [kind: 'm', ds: string]
  | [kind: 'l', ds: string]
  | [kind: 'p', ds: string, t: string, key: RowKey]
  | [kind: 'q', ds: string, t: string]
  | [kind: 'i', ds: string, t: string, seq: number]
  | [kind: 'k', ds: string, t: string, key: RowKey]
  | [kind: 'b', ds: string, seq: number, part: string, id: string]
  | [kind: 'a', ds: string, id: string]
  | [kind: 'o', ds: string, id: string]
  | [kind: 'd', ds: string, id: string];

/** Counts and sequence numbers of one data source, kept under `['m', ds]`. */
interface SourceMeta {
  /** Claim epoch: changes on every claim and split. */
  epoch: number;
  /** Last batch sequence number. */
  seq: number;
  counters: number;
  updates: number;
  inserts: number;
  batches: number;
  dead: number;
  dropped: number;
  /** Tables that may hold pending entries. */
  tables: string[];
  /** When the oldest pending write of each table arrived (ms since the epoch). */
  since?: Record<string, number>;
  /** When the oldest write of each in-flight batch arrived, by batch id. */
  inFlightSince?: Record<string, number>;
}

/** The flush lease of a data source, kept under `['l', ds]`. */
interface LeaseRecord {
  token: string;
  /** Epoch milliseconds; the processes sharing an environment share the machine's clock. */
  expiresAt: number;
}

/** A transaction's refusal: the caller's lease is not the current one. */
class Fenced {
  constructor(readonly reason: string) {}
}

/** One write of a group: what it runs, and what that returned or threw. */
interface WriteOp {
  run: () => unknown;
  result: unknown;
  error: unknown;
}

/** A write of a group threw: the group's child transaction is aborted and the group runs again, each write isolated. */
class OpFailed {}

/** The writes of one event-loop turn, run in one transaction callback. */
interface WriteGroup {
  ops: WriteOp[];
  committed: Promise<void>;
  /** Committed and on disk. */
  flushed: Promise<void>;
}

/** In-flight batches kept decoded at most; they are immutable, so the cache only saves work. */
const MAX_CACHED_BATCHES = 256;

/**
 * Buffers in one LMDB environment shared by every process of one machine
 * that opens the same path: pending entries, in-flight batches, dead
 * letters, counts and the flush lease all live in it, and every
 * read-modify-write runs inside an LMDB write transaction, which holds
 * the environment's write lock (shared across processes). lmdb-js runs
 * the transaction callbacks queued in one event-loop turn in one write
 * transaction, so concurrent writers of a process share one commit.
 */
export class LmdbStorage implements BufferStorage {
  private readonly db: RootDatabase<string, Key>;
  private readonly durable: boolean;
  private readonly cells = new Map<string, { batch: ClaimedBatch; cells: BatchCells }>();
  private readonly writes = new Set<Promise<unknown>>();
  /** This turn's write group, until its transaction runs. */
  private group?: WriteGroup;
  /** Within a group's transaction: the metas read, written once at its end. */
  private metas?: Map<string, SourceMeta>;

  constructor(config: LmdbStorageConfig) {
    this.durable = config.durability === 'sync';
    mkdirSync(dirname(config.path), { recursive: true });
    this.db = open<string, Key>({
      path: config.path,
      mapSize: config.mapSize,
      compression: false,
      // Values are already text (tagged JSON): stored as UTF-8, no msgpack pass.
      encoding: 'string',
    });
    try {
      this.checkFormat(config.path);
    } catch (error) {
      this.db.close().catch(() => undefined);
      throw error;
    }
  }

  /** Stamps a new environment with the format; refuses one written in another. */
  private checkFormat(path: string) {
    const found = this.db.transactionSync(() => {
      const value = this.db.get(['v']);
      if (value !== undefined) return value;
      if (this.db.getKeysCount({ limit: 1 }) > 0) return null;
      this.db.putSync(['v'], LMDB_STORAGE_FORMAT);
      return LMDB_STORAGE_FORMAT;
    });
    if (found === LMDB_STORAGE_FORMAT) return;
    throw WriteBufferConfigError.lmdbFormat(
      path,
      found === null ? 'none' : JSON.stringify(found.slice(0, 40)),
      LMDB_STORAGE_FORMAT,
    );
  }

  increment(target: BufferTarget, key: RowKey, column: string, delta: number): Promise<void> {
    return this.write(() => {
      this.changeRow(target, key, (row, meta) => (meta.counters += addDelta(row, column, delta)));
    }, this.durable);
  }

  update(
    target: BufferTarget,
    key: RowKey,
    values: StoredRow,
    merges?: ColumnMerges,
  ): Promise<void> {
    return this.write(() => {
      this.changeRow(target, key, (row, meta) => {
        const change = setColumns(row, values, false, merges);
        meta.updates += change.updates;
        meta.counters += change.counters;
      });
    }, this.durable);
  }

  insert(target: BufferTarget, rows: StoredRow[], keys?: Array<RowKey | null>): Promise<void> {
    return this.write(() => {
      const meta = this.meta(target.dataSource);
      this.pushInserts(meta, target, rows, keys);
      this.putMeta(target.dataSource, meta);
    }, this.durable);
  }

  async read(target: BufferTarget, key: RowKey, column: string): Promise<CellSnapshot> {
    const { epoch, layers } = await this.readMany(target, [key], [column]);
    return { epoch, layers: layers[0][0] };
  }

  async readMany(target: BufferTarget, keys: RowKey[], columns: string[]): Promise<CellsSnapshot> {
    const { dataSource: ds, table } = target;
    // Another process may have committed since this turn's snapshot was taken.
    this.db.resetReadTxn();
    // Synchronous from here: every read below sees one snapshot.
    const batches = [...this.batches(ds)].map(({ id, batch }) => ({
      id,
      cells: this.cached(id, batch).cells,
    }));
    const layers = keys.map((key) => {
      const insertSeq = this.db.get(['k', ds, table, key]);
      const insertText = insertSeq && this.db.get(['i', ds, table, Number(insertSeq)]);
      const pendingInsert = insertText ? decodeInsert(insertText).row : undefined;
      const pendingRow = this.rowAt(['p', ds, table, key]);
      return columns.map((column) => {
        const cell: CellLayer[] = [];
        for (const { id, cells } of batches) {
          const insert = cells.inserted.get(table)?.get(key);
          if (insert) cell.push(insertLayer(insert, column, id));
          const row = cells.rows.get(table)?.get(key);
          if (row) pushLayer(cell, row, column, id);
        }
        if (pendingInsert) cell.push(insertLayer(pendingInsert, column));
        if (pendingRow) pushLayer(cell, pendingRow, column);
        return cell;
      });
    });
    return { epoch: this.meta(ds).epoch, layers, batches: batches.map(({ id }) => id) };
  }

  async claim(dataSource: string, options: ClaimOptions): Promise<ClaimedBatch | null> {
    const { lease, maxRows, tables, tableMaxRows } = options;
    // Durable before it resolves: a batch must never be applied while a
    // crash of the machine could still bring its entries back as pending.
    const result = await this.write(() => {
      const refused = this.fence(dataSource, lease.token);
      if (refused) return refused;
      const meta = this.meta(dataSource);
      const { claimed, since } = this.take(dataSource, meta, maxRows, tables, tableMaxRows);
      if (claimed.length === 0) {
        this.putMeta(dataSource, meta);
        return null;
      }
      const batch: ClaimedBatch = { id: newBatchId(), dataSource, tables: claimed };
      const seq = ++meta.seq;
      meta.epoch++;
      this.putBatch(meta, batch, seq, '', lease.token);
      (meta.inFlightSince ??= {})[batch.id] = since;
      this.putMeta(dataSource, meta);
      return batch;
    }, true);
    if (result instanceof Fenced) throw LeaseLostError.fenced(dataSource, result.reason);
    return result;
  }

  async inFlight(dataSource: string, lease?: FlushLease): Promise<ClaimedBatch[]> {
    if (!lease) {
      this.db.resetReadTxn();
      return [...this.batches(dataSource)].map(({ id, batch }) => this.cached(id, batch).batch);
    }
    const result = await this.write(() => {
      const refused = this.fence(dataSource, lease.token);
      if (refused) return refused;
      const found = [...this.batches(dataSource)];
      // They are this lease's now: their former owner can no longer ack or split them.
      for (const { id } of found) void this.db.put(['o', dataSource, id], lease.token);
      return found.map(({ id, batch }) => this.cached(id, batch).batch);
    }, false);
    if (result instanceof Fenced) throw LeaseLostError.fenced(dataSource, result.reason);
    return result;
  }

  /** An ack is a split into no parts. */
  ack(batch: ClaimedBatch, lease: FlushLease, setAside?: SetAside): Promise<number> {
    return this.split(batch, lease, [], setAside);
  }

  /** The batch leaves, its parts (if any) and dead letters come in, in one transaction. */
  async split(
    batch: ClaimedBatch,
    lease: FlushLease,
    parts: ClaimedBatch[],
    setAside?: SetAside,
  ): Promise<number> {
    const ds = batch.dataSource;
    // A split is durable before it resolves, since a part may be applied
    // next; an ack is not waited for (lost, it means a re-apply the ledger skips).
    const result = await this.write(() => {
      const refused = this.fence(ds, lease.token);
      if (refused) return refused;
      const at = this.db.get(['a', ds, batch.id]);
      if (at === undefined) return 0;
      if (this.db.get(['o', ds, batch.id]) !== lease.token) {
        return new Fenced('the batch belongs to another flusher now');
      }
      const [seq, part] = JSON.parse(at) as [number, string];
      const meta = this.meta(ds);
      void this.db.remove(['b', ds, seq, part, batch.id]);
      void this.db.remove(['a', ds, batch.id]);
      void this.db.remove(['o', ds, batch.id]);
      meta.batches--;
      const since = meta.inFlightSince?.[batch.id];
      if (meta.inFlightSince) delete meta.inFlightSince[batch.id];
      // Parts sort in the place of the batch they replace, in their order.
      parts.forEach((added, i) => {
        const place = `${part}${part ? '/' : ''}${String(i).padStart(6, '0')}`;
        this.putBatch(meta, added, seq, place, lease.token);
        if (since !== undefined) (meta.inFlightSince ??= {})[added.id] = since;
      });
      if (parts.length) meta.epoch++;
      const kept = this.keepDeadLetters(ds, meta, setAside);
      this.putMeta(ds, meta);
      return kept;
    }, parts.length > 0);
    this.cells.delete(batch.id);
    if (result instanceof Fenced) throw LeaseLostError.fenced(ds, result.reason);
    return result;
  }

  async lease(dataSource: string, ttl: number): Promise<FlushLease | null> {
    const token = randomUUID();
    const taken = await this.write(() => {
      const held = this.leaseOf(dataSource);
      if (held && held.expiresAt > Date.now()) return false;
      this.putLease(dataSource, token, ttl);
      return true;
    }, false);
    if (!taken) return null;
    return {
      token,
      renew: () =>
        this.write(() => {
          if (this.fence(dataSource, token)) return false;
          this.putLease(dataSource, token, ttl);
          return true;
        }, false),
      release: async () => {
        await this.write(() => {
          if (this.leaseOf(dataSource)?.token === token) void this.db.remove(['l', dataSource]);
        }, false).catch(() => undefined);
      },
    };
  }

  async deadLetters(dataSource: string): Promise<DeadLetter[]> {
    this.db.resetReadTxn();
    return this.lettersOf(dataSource).sort(byArrival);
  }

  requeueDeadLetters(dataSource: string, ids?: readonly string[]): Promise<number> {
    // One transaction: a letter is buffered again once, however many processes retry it.
    return this.write(() => {
      const letters = this.lettersOf(dataSource, ids).sort(byArrival);
      if (letters.length === 0) return 0;
      const meta = this.meta(dataSource);
      for (const letter of letters) {
        void this.db.remove(['d', dataSource, letter.id]);
        meta.dead--;
        const target = { dataSource, table: letter.table };
        if (letter.kind === 'insert') {
          this.pushInserts(meta, target, [letter.payload], [letter.rowKey ?? null]);
          continue;
        }
        this.changeRow(
          target,
          letter.rowKey!,
          (row) => {
            if (letter.kind === 'update') {
              // Deltas pending now all arrived after the letter's update: they stay.
              meta.updates += setColumns(row, letter.payload, true, letter.merges).updates;
            } else {
              for (const [column, delta] of Object.entries(letter.payload)) {
                meta.counters += addDelta(row, column, Number(delta));
              }
            }
          },
          meta,
        );
      }
      this.putMeta(dataSource, meta);
      return letters.length;
    }, true);
  }

  removeDeadLetters(dataSource: string, ids?: readonly string[]): Promise<number> {
    if (ids?.length === 0) return Promise.resolve(0);
    return this.write(() => {
      const letters = this.lettersOf(dataSource, ids);
      if (letters.length === 0) return 0;
      const meta = this.meta(dataSource);
      for (const letter of letters) void this.db.remove(['d', dataSource, letter.id]);
      meta.dead -= letters.length;
      this.putMeta(dataSource, meta);
      return letters.length;
    }, true);
  }

  discard(target: BufferTarget, key: RowKey): Promise<DiscardResult> {
    const { dataSource: ds, table } = target;
    // One transaction, in line with this turn's writes: every process sees the row before or after.
    return this.write(() => {
      const meta = this.meta(ds);
      let discarded = 0;
      const row = this.rowAt(['p', ds, table, key]);
      if (row) {
        const counters = countersOf(row);
        meta.counters -= counters;
        meta.updates -= row.set ? 1 : 0;
        discarded += counters + (row.set ? 1 : 0);
        void this.db.remove(['p', ds, table, key]);
      }
      const inserts: Key[] = [];
      for (const { key: at, value } of this.range(['i', ds, table])) {
        if (decodeInsert(value).key === key) inserts.push(at);
      }
      // Removed once the range was read: a cursor does not outlive removals under it.
      for (const at of inserts) void this.db.remove(at);
      if (inserts.length) void this.db.remove(['k', ds, table, key]);
      meta.inserts -= inserts.length;
      discarded += inserts.length;
      // A table left with nothing pending leaves the meta, as after a claim.
      if (!this.keys(['i', ds, table]).next().value && !this.keys(['p', ds, table]).next().value) {
        this.untouch(meta, table);
      }
      let inFlight = 0;
      for (const { id, batch } of this.batches(ds)) {
        const { cells } = this.cached(id, batch);
        if (cells.rows.get(table)?.has(key) || cells.inserted.get(table)?.has(key)) inFlight++;
      }
      this.putMeta(ds, meta);
      return { discarded, inFlight };
    }, true);
  }

  async pendingByTable(): Promise<PendingTableEntries[]> {
    this.db.resetReadTxn();
    const result: PendingTableEntries[] = [];
    for (const { key, value } of this.range(['m'])) {
      const dataSource = key[1] as string;
      for (const table of (JSON.parse(value) as SourceMeta).tables) {
        let counter = 0;
        let update = 0;
        const insert = [...this.keys(['i', dataSource, table])].length;
        for (const { value: row } of this.range(['p', dataSource, table])) {
          const state = decodeJson<RowState>(row);
          if (state.set) update++;
          counter += countersOf(state);
        }
        const counts = { counter, update, insert };
        for (const kind of ['counter', 'update', 'insert'] as const) {
          result.push({ dataSource, table, kind, count: counts[kind] });
        }
      }
    }
    return result;
  }

  async oldestPending(): Promise<Array<{ dataSource: string; at: number }>> {
    this.db.resetReadTxn();
    const result: Array<{ dataSource: string; at: number }> = [];
    for (const { key, value } of this.range(['m'])) {
      const meta = JSON.parse(value) as SourceMeta;
      const pending = meta.tables.map((table) => meta.since?.[table] ?? Infinity);
      const at = Math.min(...pending, ...Object.values(meta.inFlightSince ?? {}));
      if (Number.isFinite(at)) result.push({ dataSource: key[1] as string, at });
    }
    return result;
  }

  async stats(): Promise<StorageStats> {
    const oldest = await this.oldestPending();
    this.db.resetReadTxn();
    const stats: StorageStats = {
      pending: { counters: 0, updates: 0, inserts: 0 },
      inFlightBatches: 0,
      deadLetters: 0,
      deadLettersDropped: 0,
    };
    for (const { value } of this.range(['m'])) {
      const meta = JSON.parse(value) as SourceMeta;
      stats.pending.counters += meta.counters;
      stats.pending.updates += meta.updates;
      stats.pending.inserts += meta.inserts;
      stats.inFlightBatches += meta.batches;
      stats.deadLetters += meta.dead;
      stats.deadLettersDropped += meta.dropped;
    }
    if (oldest.length) stats.oldestPendingAt = Math.min(...oldest.map(({ at }) => at));
    return stats;
  }

  async close(): Promise<void> {
    // Writes already issued settle first (their callers are waiting for them).
    while (this.writes.size) await Promise.allSettled([...this.writes]);
    await this.db.flushed;
    await this.db.close();
  }

  /**
   * Runs `run` inside a write transaction and resolves its result once
   * committed, or with `durable` once that commit is on disk. The writes
   * of one event-loop turn join one group: one transaction callback, one
   * commit, one read and one write of each data source's meta.
   */
  private write<T>(run: () => T, durable: boolean): Promise<T> {
    let group = this.group;
    if (!group) {
      try {
        group = this.openGroup();
      } catch (error) {
        // lmdb-js throws at once once closed (a lease renewal after shutdown): a rejection, as for any write.
        return Promise.reject(error as Error);
      }
    }
    const op: WriteOp = { run, result: undefined, error: undefined };
    group.ops.push(op);
    const done = (durable ? group.flushed : group.committed).then(() => {
      if (op.error !== undefined) throw op.error;
      return op.result as T;
    });
    this.writes.add(done);
    const forget = () => this.writes.delete(done);
    done.then(forget, forget);
    return done;
  }

  /** Queues the transaction of a new write group; writes join it until it runs. */
  private openGroup(): WriteGroup {
    const ops: WriteOp[] = [];
    const committed = this.db.transaction(() => {
      // From here on, new writes go to the next group.
      if (this.group === group) this.group = undefined;
      this.runGroup(ops);
    }) as Promise<void>;
    // `flushed` is taken now, with the transaction just queued: taken once
    // it commits, it would also wait for the sync of writes begun since.
    const flushed = new Promise<void>((resolve, reject) =>
      this.db.flushed.then(() => resolve(), reject),
    );
    const group: WriteGroup = {
      ops,
      committed,
      flushed: Promise.all([committed, flushed]).then(() => undefined),
    };
    // Unobserved when no write of the group awaits it.
    group.flushed.catch(() => undefined);
    this.group = group;
    return group;
  }

  /**
   * Runs a group's writes (inside its transaction) in one child
   * transaction. If one of them throws half-way (a key past LMDB's
   * largest), that child is aborted and the group runs again with each
   * write in a child transaction of its own, so that the failed write
   * alone leaves nothing behind. Writes do not fail otherwise: their input
   * was checked before they were issued.
   */
  private runGroup(ops: WriteOp[]) {
    try {
      this.db.childTransaction(() => this.runOps(ops, false));
    } catch (error) {
      if (!(error instanceof OpFailed)) throw error;
      for (const op of ops) op.result = op.error = undefined;
      this.runOps(ops, true);
    }
  }

  /** Runs writes inside the group's transaction, then writes the metas they changed. */
  private runOps(ops: WriteOp[], isolated: boolean) {
    let metas = new Map<string, SourceMeta>();
    this.metas = metas;
    try {
      for (const op of ops) {
        if (!isolated) {
          try {
            op.result = op.run();
          } catch {
            throw new OpFailed();
          }
          continue;
        }
        // Its meta changes roll back with the copy taken before it.
        const before = new Map([...metas].map(([ds, meta]) => [ds, structuredClone(meta)]));
        try {
          op.result = this.db.childTransaction(op.run);
        } catch (error) {
          op.error = error ?? new Error('write failed');
          this.metas = metas = before;
        }
      }
      for (const [ds, meta] of metas) void this.db.put(['m', ds], JSON.stringify(meta));
    } finally {
      this.metas = undefined;
    }
  }

  /** Changes a pending row (inside a write transaction) and counts it in the meta. */
  private changeRow(
    target: BufferTarget,
    key: RowKey,
    change: (row: RowState, meta: SourceMeta) => void,
    given?: SourceMeta,
  ) {
    const meta = given ?? this.meta(target.dataSource);
    const rowKey: Key = ['p', target.dataSource, target.table, key];
    const row = this.rowAt(rowKey) ?? {};
    change(row, meta);
    void this.db.put(rowKey, encodeJson(row));
    this.touch(meta, target.table);
    if (!given) this.putMeta(target.dataSource, meta);
  }

  /** Appends inserts to a table (inside a write transaction). */
  private pushInserts(
    meta: SourceMeta,
    { dataSource: ds, table }: BufferTarget,
    rows: StoredRow[],
    keys?: Array<RowKey | null>,
  ) {
    let seq = Number(this.db.get(['q', ds, table]) ?? 0);
    rows.forEach((row, i) => {
      const key = keys?.[i] ?? null;
      void this.db.put(['i', ds, table, seq], encodeInsert(row, key));
      // The database keeps the first insert of a key (later ones fail on it).
      if (key !== null && this.db.get(['k', ds, table, key]) === undefined) {
        void this.db.put(['k', ds, table, key], String(seq));
      }
      seq++;
    });
    void this.db.put(['q', ds, table], String(seq));
    meta.inserts += rows.length;
    this.touch(meta, table);
  }

  /**
   * Takes up to `budget` pending entries of the data source (inside the
   * claim's transaction; a table in `limits` up to its own limit instead):
   * per table in name order, its inserts first, and
   * its rows only once its inserts are all taken, so an increment never
   * reaches the database before the insert of its row.
   */
  private take(
    ds: string,
    meta: SourceMeta,
    budget: number,
    only?: readonly string[],
    limits?: Readonly<Record<string, number>>,
  ): { claimed: BatchTable[]; since: number } {
    const claimed: BatchTable[] = [];
    const taken: Key[] = [];
    let since = Infinity;
    for (const table of [...meta.tables].sort()) {
      // A table with a limit of its own spends that, not the batch's budget.
      const own = limits?.[table];
      if (own === undefined && budget <= 0) continue;
      if (only && !only.includes(table)) continue;
      let room = own ?? budget;
      const part: BatchTable = { table, inserts: [], updates: [], counters: [] };
      const insertKeys: Array<RowKey | null> = [];
      let left = false;
      for (const { key, value } of this.range(['i', ds, table])) {
        if (room <= 0) {
          left = true;
          break;
        }
        const { row, key: rowKey } = decodeInsert(value);
        part.inserts.push(row);
        insertKeys.push(rowKey);
        taken.push(key);
        if (rowKey !== null && this.db.get(['k', ds, table, rowKey]) === String(key[3])) {
          taken.push(['k', ds, table, rowKey]);
        }
        room--;
      }
      meta.inserts -= part.inserts.length;
      if (insertKeys.some((key) => key !== null)) part.insertKeys = insertKeys;
      if (!left) {
        for (const { key, value } of this.range(['p', ds, table])) {
          if (room <= 0) {
            left = true;
            break;
          }
          const row = decodeJson<RowState>(value);
          const rowKey = key[3] as RowKey;
          if (row.set) part.updates.push([rowKey, row.set]);
          const counters = countersOf(row);
          if (counters) part.counters.push([rowKey, row.deltas!]);
          meta.updates -= row.set ? 1 : 0;
          meta.counters -= counters;
          taken.push(key);
          room--;
        }
      }
      if (part.inserts.length || part.updates.length || part.counters.length) {
        claimed.push(part);
        since = Math.min(since, meta.since?.[table] ?? Date.now());
      }
      if (!left) this.untouch(meta, table);
      if (own === undefined) budget = room;
    }
    // Removed once the ranges were read: a cursor does not outlive removals under it.
    for (const key of taken) void this.db.remove(key);
    return { claimed, since };
  }

  /** Keeps the letters that fit under `setAside.max` (a letter already held is replaced). */
  private keepDeadLetters(ds: string, meta: SourceMeta, setAside?: SetAside): number {
    let kept = 0;
    for (const letter of setAside?.letters ?? []) {
      const held = this.db.get(['d', ds, letter.id]) !== undefined;
      if (held || meta.dead < setAside!.max) {
        if (!held) meta.dead++;
        void this.db.put(['d', ds, letter.id], encodeJson(letter));
        kept++;
      } else {
        meta.dropped++;
      }
    }
    return kept;
  }

  private putBatch(
    meta: SourceMeta,
    batch: ClaimedBatch,
    seq: number,
    part: string,
    owner: string,
  ) {
    const ds = batch.dataSource;
    void this.db.put(['b', ds, seq, part, batch.id], encodeJson(batch));
    void this.db.put(['a', ds, batch.id], JSON.stringify([seq, part]));
    void this.db.put(['o', ds, batch.id], owner);
    meta.batches++;
  }

  /** In-flight batches of a data source, in order; each decoded only when not cached. */
  private *batches(ds: string): Generator<{ id: string; batch: () => ClaimedBatch }> {
    for (const key of this.keys(['b', ds])) {
      const id = key[4] as string;
      yield { id, batch: () => decodeJson<ClaimedBatch>(this.db.get(key)!) };
    }
  }

  private cached(id: string, batch: () => ClaimedBatch) {
    let entry = this.cells.get(id);
    if (!entry) {
      if (this.cells.size >= MAX_CACHED_BATCHES) this.cells.clear();
      const decoded = batch();
      this.cells.set(id, (entry = { batch: decoded, cells: batchCells(decoded) }));
    }
    return entry;
  }

  private lettersOf(ds: string, ids?: readonly string[]): DeadLetter[] {
    if (ids) {
      // An id named twice is still one letter: buffered again, or counted, once.
      return [...new Set(ids)].flatMap((id) => {
        const text = this.db.get(['d', ds, id]);
        return text === undefined ? [] : [decodeJson<DeadLetter>(text)];
      });
    }
    return [...this.range(['d', ds])].map(({ value }) => decodeJson<DeadLetter>(value));
  }

  /** Why `token` may not act for the data source now, or undefined if it may. */
  private fence(ds: string, token: string): Fenced | undefined {
    const held = this.leaseOf(ds);
    if (held?.token === token && held.expiresAt > Date.now()) return undefined;
    return new Fenced('another flusher holds the lease now');
  }

  private leaseOf(ds: string): LeaseRecord | undefined {
    const text = this.db.get(['l', ds]);
    return text === undefined ? undefined : (JSON.parse(text) as LeaseRecord);
  }

  private putLease(ds: string, token: string, ttl: number) {
    const record: LeaseRecord = { token, expiresAt: Date.now() + ttl };
    void this.db.put(['l', ds], JSON.stringify(record));
  }

  /** A data source's meta; within a write group, the group's copy, written once at its end. */
  private meta(ds: string): SourceMeta {
    const cached = this.metas?.get(ds);
    if (cached) return cached;
    const text = this.db.get(['m', ds]);
    const meta: SourceMeta = text !== undefined ? (JSON.parse(text) as SourceMeta) : newMeta();
    this.metas?.set(ds, meta);
    return meta;
  }

  private putMeta(ds: string, meta: SourceMeta) {
    if (this.metas) this.metas.set(ds, meta);
    else void this.db.put(['m', ds], JSON.stringify(meta));
  }

  private touch(meta: SourceMeta, table: string) {
    if (!meta.tables.includes(table)) meta.tables.push(table);
    (meta.since ??= {})[table] ??= Date.now();
  }

  /** The table has nothing pending any more. */
  private untouch(meta: SourceMeta, table: string) {
    meta.tables = meta.tables.filter((name) => name !== table);
    if (meta.since) delete meta.since[table];
  }

  private rowAt(key: Key): RowState | undefined {
    const text = this.db.get(key);
    return text === undefined ? undefined : decodeJson<RowState>(text);
  }

  /** Entries whose key starts with `prefix`, in key order. */
  private *range(prefix: unknown[]): Generator<{ key: Key; value: string }> {
    for (const entry of this.db.getRange({ start: prefix as Key })) {
      if (!startsWith(entry.key, prefix)) return;
      yield entry;
    }
  }

  /** Keys that start with `prefix`, in key order. */
  private *keys(prefix: unknown[]): Generator<Key> {
    for (const key of this.db.getKeys({ start: prefix as Key })) {
      if (!startsWith(key, prefix)) return;
      yield key;
    }
  }
}

function newMeta(): SourceMeta {
  return {
    epoch: 0,
    seq: 0,
    counters: 0,
    updates: 0,
    inserts: 0,
    batches: 0,
    dead: 0,
    dropped: 0,
    tables: [],
  };
}

function startsWith(key: Key, prefix: unknown[]): boolean {
  if (!Array.isArray(key)) return false;
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false;
  return true;
}
