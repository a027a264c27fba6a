import { randomUUID } from 'node:crypto';
import { countColumns } from './count-columns.js';
import { LeaseLostError } from '../errors.js';
import { newBatchId } from './batch-id.js';
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
import { byArrival, type DeadLetter } from '../flush/dead-letter.interface.js';
import type { InsertRewrite, JournalContents, LmdbJournal } from './lmdb-journal.js';
import { addDelta, countersOf, setColumns, type RowState } from './row-state.js';
import { entriesOf, insertLayer, insertedOf, pushLayer, rowsOf } from './cell-layers.js';

class TableState {
  rows = new Map<RowKey, RowState>();
  inserts: StoredRow[] = [];
  /** Row key of each insert that names its whole primary key. */
  insertKeys: Array<RowKey | null> = [];
  /** The first pending insert of each such key, for `read`. */
  inserted = new Map<RowKey, StoredRow>();
  /** Journal sequence number of `inserts[0]`. */
  headSeq = 0;
  /** When the oldest pending write of the table arrived (ms since the epoch); unset while it has none. */
  since?: number;

  push(row: StoredRow, key: RowKey | null) {
    this.inserts.push(row);
    this.insertKeys.push(key);
    // The database keeps the first insert of a key (later ones fail on it).
    if (key !== null && !this.inserted.has(key)) this.inserted.set(key, row);
  }
}

interface InFlightBatch {
  batch: ClaimedBatch;
  /** Journal key of the batch: claim sequence number, then its place among the parts of a split. */
  seq: number;
  part: string;
  rows: Map<string, Map<RowKey, RowState>>;
  /** Its keyed inserts by table, for `read`. */
  inserted: Map<string, Map<RowKey, StoredRow>>;
  /** Entries it holds, as counted by `pendingEntries`. */
  entries: number;
  /** When its oldest write arrived (ms since the epoch). */
  since: number;
}

/**
 * Buffers in this process's memory. With a journal, every write is also
 * in LMDB before its promise resolves, and the state is rebuilt from it on
 * start; without one, a crash loses what is pending.
 * @publicApi
 */
export class MemoryStorage implements BufferStorage {
  private readonly pending = new Map<string, Map<string, TableState>>();
  private readonly claimed = new Map<string, InFlightBatch[]>();
  private readonly leases = new Map<string, string>();
  private readonly dead = new Map<string, DeadLetter>();
  private epoch = 0;
  private batchSeq = 0;
  private deadLettersDropped = 0;
  private counts = { counters: 0, updates: 0, inserts: 0 };
  private inFlightEntries = 0;

  /** Rows changed this turn, written to the journal once each at the end of it. */
  private readonly dirtyRows = new Map<RowState, [BufferTarget, RowKey]>();
  private journalCommit?: Promise<void>;

  constructor(private readonly journal?: LmdbJournal) {
    if (journal) this.restore(journal.load());
  }

  async increment(target: BufferTarget, key: RowKey, column: string, delta: number) {
    const row = this.addDelta(target, key, column, delta);
    if (this.journal) await this.journalRow(target, key, row);
  }

  async update(target: BufferTarget, key: RowKey, values: StoredRow, merges?: ColumnMerges) {
    const row = this.setColumns(target, key, values, false, merges);
    if (this.journal) await this.journalRow(target, key, row);
  }

  private addDelta(target: BufferTarget, key: RowKey, column: string, delta: number): RowState {
    const row = this.row(target, key);
    this.counts.counters += addDelta(row, column, delta);
    return row;
  }

  /** Sets columns of a pending row (see {@link setColumns}). */
  private setColumns(
    target: BufferTarget,
    key: RowKey,
    values: StoredRow,
    keepDeltas = false,
    merges?: ColumnMerges,
  ): RowState {
    const row = this.row(target, key);
    const change = setColumns(row, values, keepDeltas, merges);
    this.counts.updates += change.updates;
    this.counts.counters += change.counters;
    return row;
  }

  async insert(target: BufferTarget, rows: StoredRow[], keys?: Array<RowKey | null>) {
    const table = this.table(target);
    const firstSeq = table.headSeq + table.inserts.length;
    rows.forEach((row, i) => table.push(row, keys?.[i] ?? null));
    this.counts.inserts += rows.length;
    if (this.journal) await this.journal.putInserts(target, firstSeq, rows, keys);
  }

  async read(target: BufferTarget, key: RowKey, column: string): Promise<CellSnapshot> {
    const { epoch, layers } = await this.readMany(target, [key], [column]);
    return { epoch, layers: layers[0][0] };
  }

  async readMany(target: BufferTarget, keys: RowKey[], columns: string[]): Promise<CellsSnapshot> {
    const batches = this.claimed.get(target.dataSource) ?? [];
    const table = this.pending.get(target.dataSource)?.get(target.table);
    const cell = (key: RowKey, column: string) => {
      const layers: CellLayer[] = [];
      for (const { batch, rows, inserted } of batches) {
        const insert = inserted.get(target.table)?.get(key);
        if (insert) layers.push(insertLayer(insert, column, batch.id));
        const row = rows.get(target.table)?.get(key);
        if (row) pushLayer(layers, row, column, batch.id);
      }
      const insert = table?.inserted.get(key);
      if (insert) layers.push(insertLayer(insert, column));
      const row = table?.rows.get(key);
      if (row) pushLayer(layers, row, column);
      return layers;
    };
    return {
      epoch: this.epoch,
      layers: keys.map((key) => columns.map((column) => cell(key, column))),
      batches: batches.map(({ batch }) => batch.id),
    };
  }

  async claim(dataSource: string, options: ClaimOptions): Promise<ClaimedBatch | null> {
    this.fence(dataSource, options.lease);
    // No wait for the turn's journal write: a row taken while it waits for
    // it leaves the queue (below), so that write cannot bring its claimed
    // state back as pending; the claim's transaction records it instead,
    // and the row's writers resolve once that transaction is durable.
    const tables = this.pending.get(dataSource);
    if (!tables) return null;
    let budget = options.maxRows;
    let entries = 0;
    const claimedTables: BatchTable[] = [];
    const claimedRows = new Map<string, Map<RowKey, RowState>>();
    const journalRows: Array<[string, RowKey]> = [];
    const journalInserts: Array<[string, number, number]> = [];
    let since = Infinity;
    for (const [name, state] of tables) {
      // A table with a limit of its own spends that, not the batch's budget.
      const own = options.tableMaxRows?.[name];
      if (own === undefined && budget <= 0) continue;
      if (options.tables && !options.tables.includes(name)) continue;
      let room = own ?? budget;
      if (state.since !== undefined) since = Math.min(since, state.since);
      const part: BatchTable = { table: name, inserts: [], updates: [], counters: [] };
      part.inserts = state.inserts.splice(0, room);
      const insertKeys = state.insertKeys.splice(0, part.inserts.length);
      // Keyed whenever one names its key: a later insert of a key whose first a
      // partial claim took is no longer in `inserted`, yet the batch must index it.
      if (insertKeys.some((key) => key !== null)) {
        insertKeys.forEach((key, i) => {
          if (key !== null && state.inserted.get(key) === part.inserts[i])
            state.inserted.delete(key);
        });
        part.insertKeys = insertKeys;
      }
      room -= part.inserts.length;
      this.counts.inserts -= part.inserts.length;
      entries += part.inserts.length;
      if (part.inserts.length) journalInserts.push([name, state.headSeq, part.inserts.length]);
      state.headSeq += part.inserts.length;
      // Rows wait until the table's inserts are all claimed, so an increment
      // never reaches the database before the insert of its row.
      if (state.inserts.length === 0 && state.rows.size > 0) {
        // The whole map changes hands when the budget covers it; else rows move one by one.
        const source = state.rows;
        const take = (row: RowState, key: RowKey) => {
          if (row.set) part.updates.push([key, row.set]);
          if (row.deltas) {
            const columns = countColumns(row.deltas);
            if (columns) part.counters.push([key, row.deltas]);
            this.counts.counters -= columns;
            entries += columns;
          }
          if (this.journal) journalRows.push([name, key]);
          this.dirtyRows.delete(row);
        };
        let rows: Map<RowKey, RowState>;
        if (source.size <= room) {
          source.forEach(take);
          room -= source.size;
          rows = source;
          state.rows = new Map();
        } else {
          rows = new Map();
          for (const [key, row] of source) {
            if (room-- <= 0) break;
            take(row, key);
            rows.set(key, row);
            source.delete(key);
          }
        }
        this.counts.updates -= part.updates.length;
        entries += part.updates.length;
        claimedRows.set(name, rows);
      }
      // A table claimed in part keeps its time: the age stays an upper bound.
      if (state.inserts.length === 0 && state.rows.size === 0) state.since = undefined;
      // An emptied table is kept while journaled, so insert sequence numbers keep growing.
      if (!this.journal && state.inserts.length === 0 && state.rows.size === 0) tables.delete(name);
      if (part.inserts.length || part.updates.length || part.counters.length) {
        claimedTables.push(part);
      }
      if (own === undefined) budget = room;
    }
    if (tables.size === 0) this.pending.delete(dataSource);
    if (claimedTables.length === 0) return null;
    const batch: ClaimedBatch = { id: newBatchId(), dataSource, tables: claimedTables };
    const seq = ++this.batchSeq;
    this.epoch++;
    let list = this.claimed.get(dataSource);
    if (!list) this.claimed.set(dataSource, (list = []));
    list.push({
      batch,
      seq,
      part: '',
      rows: claimedRows,
      inserted: insertedOf(batch),
      entries,
      since: Number.isFinite(since) ? since : Date.now(),
    });
    this.inFlightEntries += entries;
    if (this.journal) await this.journal.claim(seq, batch, journalRows, journalInserts);
    return batch;
  }

  async inFlight(dataSource: string, lease?: FlushLease): Promise<ClaimedBatch[]> {
    if (lease) this.fence(dataSource, lease);
    return (this.claimed.get(dataSource) ?? []).map((entry) => entry.batch);
  }

  async ack(batch: ClaimedBatch, lease: FlushLease, setAside?: SetAside): Promise<number> {
    return this.replace(batch, lease, [], setAside);
  }

  async split(
    batch: ClaimedBatch,
    lease: FlushLease,
    parts: ClaimedBatch[],
    setAside?: SetAside,
  ): Promise<number> {
    return this.replace(batch, lease, parts, setAside);
  }

  /** `ack` and `split`: the batch leaves, its parts (if any) and dead letters come in, all at once. */
  private async replace(
    batch: ClaimedBatch,
    lease: FlushLease,
    parts: ClaimedBatch[],
    setAside?: SetAside,
  ): Promise<number> {
    this.fence(batch.dataSource, lease);
    const list = this.claimed.get(batch.dataSource) ?? [];
    const index = list.findIndex((entry) => entry.batch.id === batch.id);
    if (index < 0) return 0;
    const entry = list[index];
    const replacements = parts.map((part, i): InFlightBatch => ({
      batch: part,
      seq: entry.seq,
      part: `${entry.part}${entry.part ? '/' : ''}${i}`,
      rows: rowsOf(part),
      inserted: insertedOf(part),
      entries: entriesOf(part),
      since: entry.since,
    }));
    list.splice(index, 1, ...replacements);
    for (const added of replacements) this.inFlightEntries += added.entries;
    this.inFlightEntries -= entry.entries;
    if (list.length === 0) this.claimed.delete(batch.dataSource);
    if (parts.length) this.epoch++;
    const kept = this.keepDeadLetters(setAside);
    await this.journal?.replace(
      batch.dataSource,
      [entry.seq, entry.part],
      replacements.map(({ seq, part, batch }) => ({ seq, part, batch })),
      kept,
    );
    return kept.length;
  }

  /** The letters that fit under `setAside.max` (a letter already held is replaced). */
  private keepDeadLetters(setAside?: SetAside): DeadLetter[] {
    const kept: DeadLetter[] = [];
    if (!setAside?.letters.length) return kept;
    let held = this.lettersOf(setAside.letters[0].dataSource).length;
    for (const letter of setAside.letters) {
      if (this.dead.has(letter.id) || held < setAside.max) {
        if (!this.dead.has(letter.id)) held++;
        this.dead.set(letter.id, letter);
        kept.push(letter);
      } else {
        this.deadLettersDropped++;
      }
    }
    return kept;
  }

  /** Rejects when `lease` is not the data source's current lease. */
  private fence(dataSource: string, lease: FlushLease) {
    if (this.leases.get(dataSource) !== lease.token) {
      throw LeaseLostError.fenced(dataSource);
    }
  }

  async lease(dataSource: string): Promise<FlushLease | null> {
    if (this.leases.has(dataSource)) return null;
    const token = randomUUID();
    this.leases.set(dataSource, token);
    return {
      token,
      renew: async () => this.leases.get(dataSource) === token,
      release: async () => {
        if (this.leases.get(dataSource) === token) this.leases.delete(dataSource);
      },
    };
  }

  async deadLetters(dataSource: string): Promise<DeadLetter[]> {
    return this.lettersOf(dataSource).sort(byArrival);
  }

  async requeueDeadLetters(dataSource: string, ids?: readonly string[]): Promise<number> {
    // Synchronous up to the journal write: no other call sees a letter both held and requeued.
    const letters = this.lettersOf(dataSource, ids).sort(byArrival);
    const rows = new Map<RowState, [BufferTarget, RowKey]>();
    const inserts: Array<{
      target: BufferTarget;
      seq: number;
      row: StoredRow;
      key: RowKey | null;
    }> = [];
    for (const letter of letters) {
      this.dead.delete(letter.id);
      const target = { dataSource, table: letter.table };
      if (letter.kind === 'insert') {
        const table = this.table(target);
        const key = letter.rowKey ?? null;
        inserts.push({
          target,
          seq: table.headSeq + table.inserts.length,
          row: letter.payload,
          key,
        });
        table.push(letter.payload, key);
        this.counts.inserts++;
        continue;
      }
      const key = letter.rowKey!;
      if (letter.kind === 'update') {
        this.setColumns(target, key, letter.payload, true, letter.merges);
      } else {
        for (const [column, delta] of Object.entries(letter.payload)) {
          this.addDelta(target, key, column, Number(delta));
        }
      }
      rows.set(this.row(target, key), [target, key]);
    }
    await this.journal?.requeue(
      [...rows].map(([row, [target, key]]) => ({ target, key, row })),
      inserts,
      letters.map((letter) => letter.id),
    );
    return letters.length;
  }

  async removeDeadLetters(dataSource: string, ids?: readonly string[]): Promise<number> {
    const letters = this.lettersOf(dataSource, ids);
    for (const letter of letters) this.dead.delete(letter.id);
    await this.journal?.removeDeadLetters(letters.map((letter) => letter.id));
    return letters.length;
  }

  private lettersOf(dataSource: string, ids?: readonly string[]): DeadLetter[] {
    const wanted = ids && new Set(ids);
    return [...this.dead.values()].filter(
      (letter) => letter.dataSource === dataSource && (!wanted || wanted.has(letter.id)),
    );
  }

  hasCounter(target: BufferTarget, key: RowKey, column: string): boolean {
    const row = this.pending.get(target.dataSource)?.get(target.table)?.rows.get(key);
    return row?.deltas?.[column] !== undefined;
  }

  pendingEntries(): number {
    return this.counts.counters + this.counts.updates + this.counts.inserts + this.inFlightEntries;
  }

  async pendingByTable(): Promise<PendingTableEntries[]> {
    const result: PendingTableEntries[] = [];
    for (const [dataSource, tables] of this.pending) {
      for (const [table, state] of tables) {
        let counters = 0;
        let updates = 0;
        for (const row of state.rows.values()) {
          if (row.set) updates++;
          if (row.deltas) counters += countColumns(row.deltas);
        }
        const counts = { counter: counters, update: updates, insert: state.inserts.length };
        for (const kind of ['counter', 'update', 'insert'] as const) {
          result.push({ dataSource, table, kind, count: counts[kind] });
        }
      }
    }
    return result;
  }

  async oldestPending(): Promise<Array<{ dataSource: string; at: number }>> {
    const oldest = new Map<string, number>();
    const note = (dataSource: string, at: number) =>
      oldest.set(dataSource, Math.min(at, oldest.get(dataSource) ?? Infinity));
    for (const [dataSource, list] of this.claimed) {
      for (const { since } of list) note(dataSource, since);
    }
    for (const [dataSource, tables] of this.pending) {
      for (const state of tables.values()) {
        if (state.since !== undefined && (state.inserts.length || state.rows.size)) {
          note(dataSource, state.since);
        }
      }
    }
    return [...oldest].map(([dataSource, at]) => ({ dataSource, at }));
  }

  async stats(): Promise<StorageStats> {
    let inFlightBatches = 0;
    for (const list of this.claimed.values()) inFlightBatches += list.length;
    const oldest = await this.oldestPending();
    return {
      ...(oldest.length && { oldestPendingAt: Math.min(...oldest.map(({ at }) => at)) }),
      pending: { ...this.counts },
      inFlightBatches,
      deadLetters: this.dead.size,
      deadLettersDropped: this.deadLettersDropped,
      journal: this.journal?.size(),
    };
  }

  async close() {
    await this.journal?.close();
  }

  async discard(target: BufferTarget, key: RowKey): Promise<DiscardResult> {
    // Synchronous up to the journal write: no write or claim sees the row half dropped.
    const table = this.pending.get(target.dataSource)?.get(target.table);
    let discarded = 0;
    const row = table?.rows.get(key);
    if (table && row) {
      const counters = countersOf(row);
      this.counts.counters -= counters;
      this.counts.updates -= row.set ? 1 : 0;
      discarded += counters + (row.set ? 1 : 0);
      table.rows.delete(key);
      // Its writers of this turn resolve with the turn's commit, which no longer writes it.
      this.dirtyRows.delete(row);
    }
    const rewrite = table && this.dropInserts(table, key);
    if (rewrite) discarded += rewrite.removed;
    if (table && table.inserts.length === 0 && table.rows.size === 0) table.since = undefined;
    const inFlight = (this.claimed.get(target.dataSource) ?? []).filter(
      ({ rows, inserted }) =>
        rows.get(target.table)?.has(key) || inserted.get(target.table)?.has(key),
    ).length;
    // The writes it dropped resolve first: their turn's commit, or (no journal) their turn.
    if (!this.journal) await new Promise((resolve) => setImmediate(resolve));
    else if (row || rewrite) {
      await Promise.all([this.journalCommit, this.journal.discard(target, key, rewrite)]);
    } else await this.journalCommit;
    return { discarded, inFlight };
  }

  /**
   * Removes a table's pending inserts of `key`. The journal keys inserts
   * by position (`headSeq` + index), so the inserts after the first one
   * removed move up, and the journal writes them again in their new places.
   */
  private dropInserts(
    table: TableState,
    key: RowKey,
  ): (InsertRewrite & { removed: number }) | undefined {
    const first = table.insertKeys.indexOf(key);
    if (first < 0) return undefined;
    const end = table.headSeq + table.inserts.length;
    const rows: StoredRow[] = [];
    const keys: Array<RowKey | null> = [];
    for (let i = first; i < table.inserts.length; i++) {
      if (table.insertKeys[i] === key) continue;
      rows.push(table.inserts[i]);
      keys.push(table.insertKeys[i]);
    }
    const removed = table.inserts.length - first - rows.length;
    table.inserts.length = first;
    table.insertKeys.length = first;
    for (let i = 0; i < rows.length; i++) {
      table.inserts.push(rows[i]);
      table.insertKeys.push(keys[i]);
    }
    table.inserted.delete(key);
    this.counts.inserts -= removed;
    return { from: table.headSeq + first, end, rows, keys, removed };
  }

  /**
   * Group commit: a hot row changed many times in one event-loop turn is
   * written once, and every write of the turn waits for the same commit.
   */
  private journalRow(target: BufferTarget, key: RowKey, row: RowState): Promise<void> {
    if (!this.dirtyRows.has(row)) this.dirtyRows.set(row, [target, key]);
    this.journalCommit ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.journalCommit = undefined;
      return this.writeDirtyRows();
    });
    return this.journalCommit;
  }

  private writeDirtyRows(): Promise<void> {
    const rows = [...this.dirtyRows].map(([row, [target, key]]) => ({ target, key, row }));
    this.dirtyRows.clear();
    return this.journal!.putRows(rows);
  }

  /** Rebuilds pending state and in-flight batches from the journal. */
  private restore(contents: JournalContents) {
    for (const { dataSource, table, key, state } of contents.rows) {
      const row = this.row({ dataSource, table }, key);
      row.set = state.set;
      row.deltas = state.deltas;
      if (state.ranks) row.ranks = state.ranks;
      if (state.set) this.counts.updates++;
      this.counts.counters += Object.keys(state.deltas ?? {}).length;
    }
    for (const { dataSource, table, seq, row, key } of contents.inserts) {
      const state = this.table({ dataSource, table });
      if (state.inserts.length === 0) state.headSeq = seq;
      state.push(row, key);
      this.counts.inserts++;
    }
    for (const letter of contents.deadLetters) this.dead.set(letter.id, letter);
    // The journal gives batches back in key order: claim order, parts of a split in their order.
    for (const { seq, part, batch } of contents.batches) {
      let list = this.claimed.get(batch.dataSource);
      if (!list) this.claimed.set(batch.dataSource, (list = []));
      const entries = entriesOf(batch);
      // The journal does not keep arrival times: what it held counts from the restart.
      list.push({
        batch,
        seq,
        part,
        rows: rowsOf(batch),
        inserted: insertedOf(batch),
        entries,
        since: Date.now(),
      });
      this.inFlightEntries += entries;
      this.batchSeq = Math.max(this.batchSeq, seq);
    }
  }

  private table(target: BufferTarget): TableState {
    let tables = this.pending.get(target.dataSource);
    if (!tables) this.pending.set(target.dataSource, (tables = new Map()));
    let table = tables.get(target.table);
    if (!table) tables.set(target.table, (table = new TableState()));
    table.since ??= Date.now();
    return table;
  }

  private row(target: BufferTarget, key: RowKey): RowState {
    const rows = this.table(target).rows;
    let row = rows.get(key);
    if (!row) rows.set(key, (row = {}));
    return row;
  }
}
