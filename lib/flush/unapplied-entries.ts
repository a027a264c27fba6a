import { createHash } from 'node:crypto';
import type { BufferedEntity } from '../metadata/buffered-entity.js';
import type { BatchEntry, KeyedEntry } from './batch-entries.js';
import type { DeadLetter } from './dead-letter.interface.js';
import type { MissingRow } from './flush-report.interface.js';

/** What of an entity a dead letter or a missing-row report needs. */
type EntityNames = Pick<BufferedEntity, 'name' | 'keyObject'> &
  Partial<Pick<BufferedEntity, 'merges'>>;

/**
 * The dead letter of the entry at `position` in batch `batchId`: the same
 * failure found again after a crash gets the same id, and two identical
 * inserts get two letters.
 *
 * @param entity the entry's entity, when its table still is one.
 */
export function deadLetterOf(
  dataSource: string,
  entity: EntityNames | undefined,
  batchId: string,
  entry: BatchEntry,
  position: number,
  error: string,
): DeadLetter {
  const base = {
    dataSource,
    table: entry.table,
    entity: entity?.name ?? entry.table,
    error,
    at: new Date(),
  };
  const payload =
    entry.kind === 'insert' ? entry.row : entry.kind === 'update' ? entry.values : entry.deltas;
  // An insert has a key when it names its whole primary key.
  const rowKey = entry.key ?? undefined;
  const id = createHash('sha1')
    .update(JSON.stringify([batchId, position, entry.table, entry.kind, rowKey ?? null, payload]))
    .digest('hex')
    .slice(0, 24);
  const key = rowKey && entity ? entity.keyObject(rowKey) : undefined;
  const seq = `${batchId}#${String(position).padStart(6, '0')}`;
  const merges = entry.kind === 'update' ? entity?.merges?.(payload) : undefined;
  return {
    id,
    ...base,
    seq,
    kind: entry.kind,
    payload,
    ...(merges && { merges }),
    ...(rowKey && { rowKey, key }),
  };
}

/** How a counter or update whose row was not there appears in a FlushReport. */
export function missingRowOf(
  dataSource: string,
  entity: EntityNames,
  entry: KeyedEntry,
): MissingRow {
  return {
    dataSource,
    entity: entity.name,
    table: entry.table,
    id: entity.keyObject(entry.key),
    kind: entry.kind,
    values: entry.kind === 'update' ? entry.values : entry.deltas,
  };
}
