import { randomUUID } from 'node:crypto';
import type { BufferStorage } from './buffer-storage.interface.js';
import type {
  BatchTable,
  BufferTarget,
  CellLayer,
  CellSnapshot,
  ClaimedBatch,
  FlushLease,
  RowKey,
  StorageStats,
  StoredRow,
} from './buffer-batch.interface.js';

/** Pending or claimed state of one row: columns set, then deltas on top. */
interface RowState {
  set?: StoredRow;
  deltas?: Record<string, number>;
}

class TableState {
  readonly rows = new Map<RowKey, RowState>();
  inserts: StoredRow[] = [];
}

interface InFlightBatch {
  batch: ClaimedBatch;
  rows: Map<string, Map<RowKey, RowState>>;
}

/**
 * Buffers in this process's memory. Nothing survives a crash; the
 * journaled variant adds that.
 */
export class MemoryStorage implements BufferStorage {
  private readonly pending = new Map<string, Map<string, TableState>>();
  private readonly claimed = new Map<string, InFlightBatch[]>();
  private readonly leases = new Map<string, string>();
  private epoch = 0;
  private counts = { counters: 0, updates: 0, inserts: 0 };

  async increment(target: BufferTarget, key: RowKey, column: string, delta: number) {
    const row = this.row(target, key);
    const deltas = (row.deltas ??= {});
    if (deltas[column] === undefined) {
      deltas[column] = delta;
      this.counts.counters++;
    } else {
      deltas[column] += delta;
    }
  }

  async update(target: BufferTarget, key: RowKey, values: StoredRow) {
    const row = this.row(target, key);
    if (!row.set) {
      row.set = {};
      this.counts.updates++;
    }
    for (const column of Object.keys(values)) {
      row.set[column] = values[column];
      if (row.deltas && row.deltas[column] !== undefined) {
        // The set overrides what was counted before it.
        delete row.deltas[column];
        this.counts.counters--;
      }
    }
  }

  async insert(target: BufferTarget, rows: StoredRow[]) {
    const table = this.table(target);
    for (const row of rows) table.inserts.push(row);
    this.counts.inserts += rows.length;
  }

  async read(target: BufferTarget, key: RowKey, column: string): Promise<CellSnapshot> {
    const layers: CellLayer[] = [];
    for (const { batch, rows } of this.claimed.get(target.dataSource) ?? []) {
      const row = rows.get(target.table)?.get(key);
      if (row) pushLayer(layers, row, column, batch.id);
    }
    const row = this.pending.get(target.dataSource)?.get(target.table)?.rows.get(key);
    if (row) pushLayer(layers, row, column);
    return { epoch: this.epoch, layers };
  }

  async claim(
    dataSource: string,
    options: { maxRows: number; tables?: readonly string[] },
  ): Promise<ClaimedBatch | null> {
    const tables = this.pending.get(dataSource);
    if (!tables) return null;
    let budget = options.maxRows;
    const claimedTables: BatchTable[] = [];
    const claimedRows = new Map<string, Map<RowKey, RowState>>();
    for (const [name, state] of tables) {
      if (budget <= 0) break;
      if (options.tables && !options.tables.includes(name)) continue;
      const part: BatchTable = { table: name, inserts: [], updates: [], counters: [] };
      part.inserts = state.inserts.splice(0, budget);
      budget -= part.inserts.length;
      this.counts.inserts -= part.inserts.length;
      // Rows wait until the table's inserts are all claimed, so an increment
      // never reaches the database before the insert of its row.
      if (state.inserts.length === 0) {
        const rows = new Map<RowKey, RowState>();
        for (const [key, row] of state.rows) {
          if (budget <= 0) break;
          if (row.set) {
            part.updates.push([key, row.set]);
            this.counts.updates--;
          }
          if (row.deltas) {
            const columns = Object.keys(row.deltas).length;
            if (columns) part.counters.push([key, row.deltas]);
            this.counts.counters -= columns;
          }
          rows.set(key, row);
          state.rows.delete(key);
          budget--;
        }
        claimedRows.set(name, rows);
      }
      if (state.inserts.length === 0 && state.rows.size === 0) tables.delete(name);
      if (part.inserts.length || part.updates.length || part.counters.length) {
        claimedTables.push(part);
      }
    }
    if (tables.size === 0) this.pending.delete(dataSource);
    if (claimedTables.length === 0) return null;
    const batch: ClaimedBatch = { id: randomUUID(), dataSource, tables: claimedTables };
    this.epoch++;
    let list = this.claimed.get(dataSource);
    if (!list) this.claimed.set(dataSource, (list = []));
    list.push({ batch, rows: claimedRows });
    return batch;
  }

  async inFlight(dataSource: string): Promise<ClaimedBatch[]> {
    return (this.claimed.get(dataSource) ?? []).map((entry) => entry.batch);
  }

  async ack(batch: ClaimedBatch, lease: FlushLease) {
    if (this.leases.get(batch.dataSource) !== lease.token) {
      throw new Error(
        `The flush lease of data source '${batch.dataSource}' was lost; not acknowledging batch ${batch.id}.`,
      );
    }
    const list = this.claimed.get(batch.dataSource) ?? [];
    const index = list.findIndex((entry) => entry.batch.id === batch.id);
    if (index >= 0) list.splice(index, 1);
    if (list.length === 0) this.claimed.delete(batch.dataSource);
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

  async stats(): Promise<StorageStats> {
    let inFlightBatches = 0;
    for (const list of this.claimed.values()) inFlightBatches += list.length;
    return { pending: { ...this.counts }, inFlightBatches };
  }

  async close() {}

  private table(target: BufferTarget): TableState {
    let tables = this.pending.get(target.dataSource);
    if (!tables) this.pending.set(target.dataSource, (tables = new Map()));
    let table = tables.get(target.table);
    if (!table) tables.set(target.table, (table = new TableState()));
    return table;
  }

  private row(target: BufferTarget, key: RowKey): RowState {
    const rows = this.table(target).rows;
    let row = rows.get(key);
    if (!row) rows.set(key, (row = {}));
    return row;
  }
}

function pushLayer(layers: CellLayer[], row: RowState, column: string, batchId?: string) {
  const isSet = row.set !== undefined && column in row.set;
  const delta = row.deltas?.[column] ?? 0;
  if (!isSet && delta === 0) return;
  layers.push({ batchId, isSet, value: isSet ? row.set![column] : undefined, delta });
}
