import { Inject, Injectable } from '@nestjs/common';
import type { EntityTarget, ObjectLiteral } from 'typeorm';
import { BufferedDataSources } from './buffered-data-sources.js';
import { InconsistentReadError } from './errors.js';
import { BufferStorage } from './storage/buffer-storage.interface.js';
import {
  WRITE_BUFFER_RESOLVED_OPTIONS,
  type ResolvedWriteBufferOptions,
} from './write-buffer-options.resolver.js';

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
      // A flush creates the row of an upserted entity with the column's default.
      const absent =
        buffered.settings.onMissingRow === 'insert' ? buffered.defaultNumber(column) : 0;
      let value = cell === undefined ? absent : cell.value == null ? 0 : Number(cell.value);
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
        // The upsert of an upserted entity creates the row: a later insert finds it there.
        if (buffered.settings.onMissingRow === 'insert') exists = true;
      }
      return value;
    }
    throw InconsistentReadError.of(buffered.name, column, MAX_READ_ATTEMPTS);
  }
}
