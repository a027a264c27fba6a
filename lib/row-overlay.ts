import { Injectable } from '@nestjs/common';
import type { EntityTarget, ObjectLiteral } from 'typeorm';
import { BufferReader } from './buffer-reader.js';
import { BufferedDataSources } from './buffered-data-sources.js';
import { InvalidIdError, InvalidValueError } from './errors.js';
import type { BufferedEntity } from './metadata/buffered-entity.js';
import type { RowKey } from './storage/buffer-batch.interface.js';
import { foldCell } from './storage/cell-layers.js';

/** Nothing is in the database of a pending layer: none of them was ever applied. */
const NOTHING_APPLIED: ReadonlySet<string> = new Set();

/** Applies what is buffered onto rows the app loaded itself; see `BufferService.overlay()`. */
@Injectable()
export class RowOverlay {
  constructor(
    private readonly sources: BufferedDataSources,
    private readonly reader: BufferReader,
  ) {}

  /** See `BufferService.overlay()`. */
  async overlay<T extends ObjectLiteral>(
    entity: EntityTarget<T>,
    rows: T[],
    columns?: readonly string[],
  ): Promise<T[]> {
    const buffered = this.sources.catalog.get(entity);
    if (!Array.isArray(rows)) throw InvalidValueError.notRows(buffered.name, rows);
    const names = this.reader.columnsOf(buffered, columns);
    const keys = rows.map((row, i) => this.keyOf(buffered, entity, row, i));
    const distinct = [...new Set(keys)];
    if (distinct.length === 0) return rows;
    // Pending layers were never applied: they go on top of the loaded values
    // as they are. An in-flight batch may or may not be in those values (it
    // may have committed before or after the app's query): such rows are
    // read again, exactly, in one statement.
    // The rows exist: the empty layers marking another column's write as
    // creating the row would only turn a loaded NULL nothing touches into 0.
    const { layers } = await this.reader.readCells(buffered, distinct, names, false);
    const inFlight = distinct.filter((_, k) =>
      layers[k].some((cell) => cell.some((layer) => layer.batchId !== undefined)),
    );
    const exact = new Map<RowKey, number[]>();
    if (inFlight.length) {
      const values = await this.reader.readRows(buffered, inFlight, names);
      inFlight.forEach((key, i) => exact.set(key, values[i]));
    }
    const layersOf = new Map(distinct.map((key, k) => [key, layers[k]]));
    rows.forEach((row, i) => {
      const read = exact.get(keys[i]);
      const cells = layersOf.get(keys[i])!;
      names.forEach((name, c) => {
        // Property paths name embedded columns (`counts.views`): TypeORM resolves them.
        const { metadata } = buffered.column(name);
        const loaded = metadata.getEntityValue(row) as number | string | null | undefined;
        // A column the row was loaded without stays out of it; one with
        // nothing buffered keeps the value (and type) the database gave.
        if (loaded === undefined || cells[c].length === 0) return;
        metadata.setEntityValue(
          row,
          read?.[c] ??
            foldCell(loaded, true, cells[c], NOTHING_APPLIED, buffered.cellDefaults(name)),
        );
      });
    });
    return rows;
  }

  /** The key of a loaded row, refusing rows of another entity or without their key. */
  private keyOf(
    buffered: BufferedEntity,
    entity: EntityTarget<unknown>,
    row: unknown,
    index: number,
  ): RowKey {
    if (row === null || typeof row !== 'object' || Array.isArray(row)) {
      throw InvalidValueError.notRows(buffered.name, row);
    }
    const type = (row as object).constructor;
    if (
      typeof entity === 'function' &&
      typeof type === 'function' &&
      type !== Object &&
      !(row instanceof entity)
    ) {
      throw InvalidValueError.otherEntity(buffered.name, index, type.name);
    }
    const names = buffered.primary.map((c) => c.metadata.propertyPath);
    const values = buffered.primary.map((c) => c.metadata.getEntityValue(row as ObjectLiteral));
    if (values.some((value) => value === undefined || value === null)) {
      throw InvalidIdError.rowWithoutKey(buffered.name, index, names);
    }
    return buffered.key(
      names.length === 1 ? values[0] : Object.fromEntries(names.map((n, i) => [n, values[i]])),
    );
  }
}
