import type { BufferedEntity } from '../metadata/buffered-entity.js';
import type { BatchEntry } from './batch-entries.js';

/** An entry (or the part of one) the schema can no longer take, with its place in the batch and why. */
export interface StaleEntry {
  entry: BatchEntry;
  position: number;
  problem: string;
}

/**
 * Separates what the schema can no longer take (a deploy removed the
 * entity or the column): an insert naming a removed column goes whole,
 * a counter or update loses just the removed columns.
 *
 * @param dataSource the data source name, for messages.
 * @param entityOf the entity a table path maps to now, if any.
 */
export function checkSchema(
  dataSource: string,
  entries: BatchEntry[],
  entityOf: (table: string) => Pick<BufferedEntity, 'name' | 'hasColumn'> | undefined,
): { kept: BatchEntry[]; stale: StaleEntry[] } {
  const kept: BatchEntry[] = [];
  const stale: StaleEntry[] = [];
  // A batch names few tables in many entries: look each up once.
  const entities = new Map<string, ReturnType<typeof entityOf>>();
  entries.forEach((entry, position) => {
    let entity = entities.get(entry.table);
    if (!entities.has(entry.table)) entities.set(entry.table, (entity = entityOf(entry.table)));
    if (!entity) {
      const problem = `table '${entry.table}' is not an entity of data source '${dataSource}' any more`;
      stale.push({ entry, position, problem });
      return;
    }
    const values =
      entry.kind === 'insert' ? entry.row : entry.kind === 'update' ? entry.values : entry.deltas;
    let whole = true;
    for (const column in values) if (!entity.hasColumn(column)) whole = false;
    if (whole) {
      kept.push(entry);
      return;
    }
    const gone = Object.keys(values).filter((column) => !entity.hasColumn(column));
    const problem = `column${gone.length > 1 ? 's' : ''} ${gone.map((c) => `'${c}'`).join(', ')} ${gone.length > 1 ? 'are' : 'is'} not a column of entity ${entity.name} any more`;
    if (entry.kind === 'insert' || gone.length === Object.keys(values).length) {
      stale.push({ entry, position, problem });
      return;
    }
    const pick = <T>(from: Record<string, T>, keep: boolean) =>
      Object.fromEntries(Object.entries(from).filter(([c]) => gone.includes(c) !== keep));
    if (entry.kind === 'update') {
      kept.push({ ...entry, values: pick(entry.values, true) });
      stale.push({ entry: { ...entry, values: pick(entry.values, false) }, position, problem });
    } else {
      kept.push({ ...entry, deltas: pick(entry.deltas, true) });
      stale.push({ entry: { ...entry, deltas: pick(entry.deltas, false) }, position, problem });
    }
  });
  return { kept, stale };
}
