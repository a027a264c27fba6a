import { Inject, Injectable } from '@nestjs/common';
import type { EntityTarget, ObjectLiteral } from 'typeorm';
import { BufferedDataSources } from './buffered-data-sources.js';
import { InconsistentReadError, InvalidIdError, InvalidValueError } from './errors.js';
import type { BufferedEntity } from './metadata/buffered-entity.js';
import { isNumericKind, numericDefault } from './metadata/column-kind.js';
import type { CellLayer, CellsSnapshot, RowKey } from './storage/buffer-batch.interface.js';
import { BufferStorage } from './storage/buffer-storage.interface.js';
import { foldCell } from './storage/cell-layers.js';
import {
  WRITE_BUFFER_RESOLVED_OPTIONS,
  type ResolvedWriteBufferOptions,
} from './write-buffer-options.resolver.js';

/**
 * What `BufferService.get()` resolves for a column whose values are `V`: a
 * number, or for a timestamp column merged with max/min (`forFeature`'s
 * `merge`) a `Date`; `null` when a merged column holds no value.
 * @publicApi
 */
export type BufferedValue<V> = 0 extends 1 & V
  ? number
  : [NonNullable<V>] extends [Date]
    ? Date | null
    : null extends V
      ? number | null
      : number;

/** How often `get` re-reads when a claim raced with its database read. */
const MAX_READ_ATTEMPTS = 50;

/** Reads a counter's current value: the database's plus everything not yet applied. */
@Injectable()
export class BufferReader {
  private readonly ledgerTable: string;

  constructor(
    @Inject(WRITE_BUFFER_RESOLVED_OPTIONS) options: ResolvedWriteBufferOptions,
    @Inject(BufferStorage) private readonly storage: BufferStorage,
    private readonly sources: BufferedDataSources,
  ) {
    this.ledgerTable = options.ledger.table;
  }

  /** See `BufferService.get()`. */
  async get<T extends ObjectLiteral>(
    entity: EntityTarget<T>,
    id: unknown,
    column: keyof T & string,
  ): Promise<number> {
    const buffered = this.sources.catalog.get(entity);
    if (buffered.settings.merge[column]) {
      return this.merged(buffered, buffered.key(id), column) as Promise<number>;
    }
    buffered.counter(column);
    const key = buffered.key(id);
    const dialect = this.sources.dialect(buffered.target.dataSource);
    for (let attempt = 0; attempt < MAX_READ_ATTEMPTS; attempt++) {
      const before = await this.readCells(buffered, [key], [column]);
      const layers = before.layers[0][0];
      const batchIds = layers.flatMap((layer) => (layer.batchId ? [layer.batchId] : []));
      const statement = dialect.readCell(buffered, key, column, this.ledgerTable, batchIds);
      const records: Array<{ kind: number | string; value: string | null }> =
        await buffered.dataSource.query(statement.sql, statement.params);
      // A claim between the two reads may have moved pending deltas into a
      // batch that committed before the database read: read again.
      if ((await this.epochOf(buffered, key, column)) !== before.epoch) continue;
      const applied = new Set(records.filter((r) => Number(r.kind) === 1).map((r) => r.value));
      const cell = records.find((r) => Number(r.kind) === 0);
      return foldCell(
        cell?.value ?? null,
        cell !== undefined,
        layers,
        applied,
        buffered.cellDefaults(column),
      );
    }
    throw InconsistentReadError.of(buffered.name, column, MAX_READ_ATTEMPTS);
  }

  /** See `BufferService.getMany()`. */
  async getMany<T extends ObjectLiteral>(
    entity: EntityTarget<T>,
    ids: readonly unknown[],
    columns?: readonly string[],
  ): Promise<Array<Record<string, number>>> {
    const buffered = this.sources.catalog.get(entity);
    if (!Array.isArray(ids)) throw InvalidIdError.notAList(buffered.name, ids);
    const names = this.columnsOf(buffered, columns);
    // Each id's position among the distinct keys.
    const positions = new Map<RowKey, number>();
    const at = ids.map((id) => {
      const key = buffered.key(id);
      let position = positions.get(key);
      if (position === undefined) positions.set(key, (position = positions.size));
      return position;
    });
    if (positions.size === 0) return [];
    const values = await this.readRows(buffered, [...positions.keys()], names);
    return at.map((position) => {
      const row = values[position];
      const result: Record<string, number> = {};
      for (let c = 0; c < names.length; c++) result[names[c]] = row[c];
      return result;
    });
  }

  /**
   * The columns `getMany` and `overlay` read: those named (each a counter),
   * or every numeric column that is not a key.
   */
  columnsOf(buffered: BufferedEntity, columns?: readonly string[]): string[] {
    if (columns === undefined) columns = buffered.counterNames();
    else if (!Array.isArray(columns)) {
      throw InvalidValueError.noColumns(buffered.name, buffered.counterNames());
    }
    if (columns.length === 0) {
      throw InvalidValueError.noColumns(buffered.name, buffered.counterNames());
    }
    for (const column of columns) buffered.counter(column);
    return [...new Set(columns)];
  }

  /**
   * Exact values (`[row][column]`) of `columns` of the rows `keys` (distinct):
   * one storage read of their layers, the cells and the ledger's answer for
   * the batches involved in one statement (per chunk of keys), then a check
   * that no claim moved the storage's epoch in between (else read again).
   */
  async readRows(buffered: BufferedEntity, keys: RowKey[], columns: string[]): Promise<number[][]> {
    const dialect = this.sources.dialect(buffered.target.dataSource);
    for (let attempt = 0; attempt < MAX_READ_ATTEMPTS; attempt++) {
      const before = await this.readCells(buffered, keys, columns);
      const batchIds = new Set<string>();
      for (const row of before.layers) {
        for (const cell of row)
          for (const layer of cell) if (layer.batchId) batchIds.add(layer.batchId);
      }
      const statements = dialect.readCells(buffered, keys, columns, this.ledgerTable, [
        ...batchIds,
      ]);
      const defaults = columns.map((column) => buffered.cellDefaults(column));
      const values: number[][] = [];
      for (const statement of statements) {
        const { rows, applied } = dialect.cellsRead(
          await buffered.dataSource.query(statement.sql, statement.params),
          columns.length,
        );
        // Each statement answers the ledger in the snapshot its rows come from.
        const found = new Map<number, unknown[]>();
        for (const row of rows) found.set(row[0] as number, row);
        const batches = new Set(applied);
        for (let i = 0; i < statement.keys.length; i++) {
          const row = found.get(i + 1);
          const layers = before.layers[values.length];
          values.push(
            defaults.map((cellDefaults, c) =>
              foldCell(
                (row?.[c + 1] ?? null) as string | number | null,
                row !== undefined,
                layers[c],
                batches,
                cellDefaults,
              ),
            ),
          );
        }
      }
      // A claim after the storage read may have moved pending entries into
      // a batch that committed before the database read: read again.
      if ((await this.epochOf(buffered, keys[0], columns[0])) === before.epoch) return values;
    }
    throw InconsistentReadError.of(buffered.name, columns.join(', '), MAX_READ_ATTEMPTS);
  }

  /**
   * The layers of many cells. For an entity whose counters and updates
   * create missing rows (`onMissingRow: 'insert'`), a write to any column
   * of a row creates it: each cell also gets an empty layer for every
   * batch (or the pending state) that writes another column of its row and
   * not its own, so that `foldCell` knows the row exists from there on (an
   * insert of it after that fails, whichever column it is read for).
   * `rowWrites` false leaves them out: a row known to exist (loaded by the
   * app) needs none, and they would look like writes of the column.
   */
  async readCells(
    buffered: BufferedEntity,
    keys: RowKey[],
    columns: string[],
    rowWrites = true,
  ): Promise<CellsSnapshot> {
    if (buffered.settings.onMissingRow !== 'insert' || !rowWrites)
      return this.readStored(buffered, keys, columns);
    const others = buffered.writableNames().filter((name) => !columns.includes(name));
    const read = await this.readStored(buffered, keys, [...columns, ...others]);
    const order = batchOrder(read);
    const layers = read.layers.map((row) =>
      columns.map((_, c) => withRowWrites(row[c], row, order)),
    );
    return { ...read, layers };
  }

  /**
   * The layers of many cells as the storage holds them, in one call when
   * it has `readMany`; else cell by cell, with the epoch of the first read
   * (`readRows`' epoch check then also catches a claim between two of
   * these reads).
   */
  private async readStored(
    buffered: BufferedEntity,
    keys: RowKey[],
    columns: string[],
  ): Promise<CellsSnapshot> {
    const { target } = buffered;
    if (this.storage.readMany) return this.storage.readMany(target, keys, columns);
    let epoch: number | undefined;
    const layers = [];
    for (const key of keys) {
      const row = [];
      for (const column of columns) {
        const cell = await this.storage.read(target, key, column);
        epoch ??= cell.epoch;
        row.push(cell.layers);
      }
      layers.push(row);
    }
    return { epoch: epoch ?? -1, layers };
  }

  /** The storage's claim epoch now. */
  private async epochOf(buffered: BufferedEntity, key: RowKey, column: string): Promise<number> {
    if (this.storage.readMany) return (await this.storage.readMany(buffered.target, [], [])).epoch;
    return (await this.storage.read(buffered.target, key, column)).epoch;
  }

  /**
   * A merged (max/min) column's value: the greatest (least) of the
   * database's and every unapplied layer's, `NULL` counting as absent.
   * Max and min are idempotent, so a layer already applied counts again
   * harmlessly: no ledger lookup or retry is needed.
   */
  private async merged(
    buffered: BufferedEntity,
    key: RowKey,
    column: string,
  ): Promise<number | Date | null> {
    const layers = (await this.readCells(buffered, [key], [column])).layers[0][0];
    const primary = buffered.primary.map((c) => c.metadata.propertyPath);
    const found: Record<string, unknown> | null = await buffered.dataSource
      .getRepository(buffered.metadata.target)
      .findOne({
        select: Object.fromEntries([...primary, column].map((name) => [name, true])),
        where: buffered.keyObject(key),
      } as never);
    const rule = buffered.settings.merge[column];
    let best: { rank: number; value: number | Date } | undefined;
    const offer = (value: number | Date, rank: number | null) => {
      if (rank === null) return;
      if (!best || (rule === 'max' ? rank > best.rank : rank < best.rank)) best = { rank, value };
    };
    const held = found?.[column] as number | Date | null | undefined;
    if (held !== null && held !== undefined) {
      offer(held, held instanceof Date ? held.getTime() : Number(held));
    }
    // Only the first buffered insert of a row not in the database takes
    // effect; an upsert (of any column of the row) creates the row too. A
    // row created without a value for the column starts at its default.
    let exists = found !== null;
    const { metadata, kind } = buffered.column(column);
    const fallback = isNumericKind(kind) ? numericDefault(metadata.default) : null;
    for (const layer of layers) {
      const creates = !exists && (layer.inserted || buffered.settings.onMissingRow === 'insert');
      if (layer.inserted && exists) continue;
      if (creates) exists = true;
      if (creates && layer.value === undefined && typeof fallback === 'number') {
        offer(fallback, fallback);
      }
      if (!layer.isSet || layer.value === undefined || layer.value === null) continue;
      const value = buffered.dataSource.driver.prepareHydratedValue(layer.value, metadata) as
        number | Date;
      offer(value, buffered.rank(column, layer.value));
    }
    if (!best) return null;
    if (best.value instanceof Date) return best.value;
    // A number as its rank (a bigint column's value is hydrated as text on PostgreSQL and
    // MariaDB), as the column keeps it (a single-precision float rounds it).
    const stored = buffered.cellDefaults(column).add;
    return stored ? stored(best.rank, 0) : best.rank;
  }
}

/** A cell layer's place in apply order: in-flight batches in order, then the pending state. */
type LayerOrder = (batchId: string | undefined) => number;

/**
 * The apply order of the batches a snapshot holds: as the storage gives
 * it, else (a storage without `batches`) by id, which sorts in claim order.
 */
function batchOrder(snapshot: CellsSnapshot): LayerOrder {
  let ids = snapshot.batches;
  if (!ids) {
    const seen = new Set<string>();
    for (const row of snapshot.layers)
      for (const cell of row) for (const layer of cell) if (layer.batchId) seen.add(layer.batchId);
    ids = [...seen].sort();
  }
  const index = new Map(ids.map((id, i) => [id, i]));
  return (batchId) => (batchId === undefined ? ids.length : (index.get(batchId) ?? ids.length));
}

/**
 * `cell`'s layers with an empty one (no set, delta 0) for each batch or
 * pending state that writes another of `row`'s cells and not this one, in
 * apply order (an insert of the row comes first in its batch).
 */
function withRowWrites(cell: CellLayer[], row: CellLayer[][], order: LayerOrder): CellLayer[] {
  const writes = new Set<string | undefined>();
  for (const layer of cell) if (!layer.inserted) writes.add(layer.batchId);
  const added: CellLayer[] = [];
  for (const other of row) {
    for (const layer of other) {
      if (layer.inserted || writes.has(layer.batchId)) continue;
      writes.add(layer.batchId);
      added.push({ batchId: layer.batchId, isSet: false, delta: 0 });
    }
  }
  if (added.length === 0) return cell;
  return [...cell, ...added].sort(
    (a, b) => order(a.batchId) - order(b.batchId) || Number(!!b.inserted) - Number(!!a.inserted),
  );
}
