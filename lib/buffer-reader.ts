import { Inject, Injectable } from '@nestjs/common';
import type { EntityTarget, ObjectLiteral } from 'typeorm';
import { BufferedDataSources } from './buffered-data-sources.js';
import { InconsistentReadError } from './errors.js';
import type { BufferedEntity } from './metadata/buffered-entity.js';
import type { RowKey } from './storage/buffer-batch.interface.js';
import { BufferStorage } from './storage/buffer-storage.interface.js';
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
      const before = await this.storage.read(buffered.target, key, column);
      const batchIds = before.layers.flatMap((layer) => (layer.batchId ? [layer.batchId] : []));
      const statement = dialect.readCell(buffered, key, column, this.ledgerTable, batchIds);
      const records: Array<{ kind: number | string; value: string | null }> =
        await buffered.dataSource.query(statement.sql, statement.params);
      const after = await this.storage.read(buffered.target, key, column);
      // A claim between the two reads may have moved pending deltas into a
      // batch that committed before the database read: read again.
      if (after.epoch !== before.epoch) continue;
      const applied = new Set(records.filter((r) => Number(r.kind) === 1).map((r) => r.value));
      const cell = records.find((r) => Number(r.kind) === 0);
      let value = cell?.value == null ? 0 : Number(cell.value);
      // Only the first insert of a row that is not in the database yet takes
      // effect: the database refuses the others (the row exists by then).
      let exists = cell !== undefined;
      for (const layer of before.layers) {
        if (layer.batchId && applied.has(layer.batchId)) continue;
        if (layer.inserted) {
          if (exists) continue;
          exists = true;
          value = layer.value === undefined ? buffered.defaultNumber(column) : Number(layer.value);
          continue;
        }
        if (layer.isSet) value = layer.value == null ? 0 : Number(layer.value);
        value += layer.delta;
      }
      return value;
    }
    throw InconsistentReadError.of(buffered.name, column, MAX_READ_ATTEMPTS);
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
    const { layers } = await this.storage.read(buffered.target, key, column);
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
    // Only the first buffered insert of a row not in the database takes effect.
    let exists = found !== null;
    const metadata = buffered.column(column).metadata;
    for (const layer of layers) {
      if (layer.inserted) {
        if (exists) continue;
        exists = true;
      }
      if (!layer.isSet || layer.value === undefined || layer.value === null) continue;
      const value = buffered.dataSource.driver.prepareHydratedValue(layer.value, metadata) as
        number | Date;
      offer(value, buffered.rank(column, layer.value));
    }
    return best?.value ?? null;
  }
}
