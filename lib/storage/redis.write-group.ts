import type { ColumnMerge, ColumnMerges, RowKey, StoredRow } from './buffer-batch.interface.js';
import { cellField, insertItem, mergedCell } from './redis.entry-codec.js';
import type { TableKeys } from './redis.key-layout.js';
import { mergeWins } from './row-state.js';
import { encodeJson } from './stored-value.codec.js';

/**
 * The writes to one table made in one event-loop turn, coalesced per cell
 * (deltas summed, the last set kept) and sent as one write-script call:
 * group commit. Every write of the group awaits {@link done}, which
 * settles once Redis has replied for the group.
 */
export class RedisWriteGroup {
  /** Coalesced cells by hash field: the value set (encoded), then the deltas after it. */
  private readonly cells = new Map<string, { set?: string; delta: number }>();
  /** Merged (max/min) cells by hash field: the winning value (encoded) and its merge. */
  private readonly merged = new Map<string, { set: string; merge: ColumnMerge }>();
  /** Insert items, in order. */
  private readonly rows: string[] = [];
  /** Cells plus rows held. */
  size = 0;
  /** What every write of the group awaits. */
  readonly done: Promise<void>;
  private settle!: { resolve: () => void; reject: (error: unknown) => void };

  constructor(readonly keys: TableKeys) {
    this.done = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
  }

  /** Adds `delta` to the cell's pending delta. */
  increment(key: RowKey, column: string, delta: number): void {
    const field = cellField(key, column);
    const cell = this.cells.get(field);
    if (cell) cell.delta += delta;
    else {
      this.cells.set(field, { delta });
      this.size++;
    }
  }

  /** Sets the row's columns, dropping the deltas of this group counted before. */
  update(key: RowKey, values: StoredRow, merges?: ColumnMerges): void {
    for (const column of Object.keys(values)) {
      const field = cellField(key, column);
      const merge = merges?.[column];
      if (merge) {
        this.mergeCell(field, values[column], merge);
        continue;
      }
      const cell = this.cells.get(field);
      // The set overrides the deltas counted before it in this group.
      if (cell) Object.assign(cell, { set: encodeJson(values[column]), delta: 0 });
      else {
        this.cells.set(field, { set: encodeJson(values[column]), delta: 0 });
        this.size++;
      }
    }
  }

  /** Keeps the value of a merged cell that wins over the one of this group (see `mergeWins`). */
  private mergeCell(field: string, value: StoredRow[string], merge: ColumnMerge): void {
    const held = this.merged.get(field);
    if (!held) {
      this.merged.set(field, { set: encodeJson(value), merge });
      this.size++;
    } else if (mergeWins(merge, held.merge.rank)) {
      Object.assign(held, { set: encodeJson(value), merge });
    }
  }

  /** Appends insert rows, each with its row key when it names its whole primary key. */
  insert(rows: StoredRow[], keys?: Array<RowKey | null>): void {
    rows.forEach((row, i) => this.rows.push(insertItem(row, keys?.[i])));
    this.size += rows.length;
  }

  /**
   * Keys and arguments of the write script (see WRITE_SCRIPT): sets,
   * integer deltas (HINCRBY), other deltas (HINCRBYFLOAT) and merged sets,
   * then the insert items.
   */
  scriptArguments(): string[] {
    const sets: string[] = [];
    const integers: string[] = [];
    const others: string[] = [];
    for (const [field, cell] of this.cells) {
      if (cell.set !== undefined) sets.push(field, cell.set);
      if (cell.delta !== 0) {
        (Number.isInteger(cell.delta) ? integers : others).push(field, String(cell.delta));
      }
    }
    const merged: string[] = [];
    for (const [field, { set, merge }] of this.merged) {
      merged.push(...mergedCell(field, set, merge));
    }
    const k = this.keys;
    return [
      k.cnt,
      k.upd,
      k.ins,
      k.source.tables,
      k.ink,
      k.name,
      JSON.stringify(sets),
      JSON.stringify(integers),
      JSON.stringify(others),
      JSON.stringify(merged),
      ...this.rows,
    ];
  }

  /** Settles every write of the group with the outcome of its script call. */
  settleWith(reply: Promise<unknown>): void {
    reply.then(() => this.settle.resolve(), this.settle.reject);
  }
}
