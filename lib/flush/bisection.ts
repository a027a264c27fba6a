import type { ClaimedBatch } from '../storage/buffer-batch.interface.js';
import { batchOf, type BatchEntry } from './batch-entries.js';

/**
 * The units bisection never splits: each insert alone, and the update and
 * counters of one row together, so a set is never applied apart from the
 * increments that arrived after it (nor set aside without them).
 */
export function bisectionUnits(entries: BatchEntry[]): BatchEntry[][] {
  const units: BatchEntry[][] = [];
  const rows = new Map<string, BatchEntry[]>();
  for (const entry of entries) {
    if (entry.kind === 'insert') {
      units.push([entry]);
      continue;
    }
    const row = JSON.stringify([entry.table, entry.key]);
    const unit = rows.get(row);
    if (unit) unit.push(entry);
    else {
      const created = [entry];
      rows.set(row, created);
      units.push(created);
    }
  }
  return units;
}

/**
 * The two halves (ids `<id>/0` and `<id>/1`) of a batch the database
 * refused for a data error, cut between units; `null` when its `entries`
 * are one unit, which cannot be split further and is the offending write.
 */
export function bisect(batch: ClaimedBatch, entries: BatchEntry[]): ClaimedBatch[] | null {
  const units = bisectionUnits(entries);
  if (units.length === 1) return null;
  const half = Math.ceil(units.length / 2);
  return [
    batchOf(batch, `${batch.id}/0`, units.slice(0, half).flat()),
    batchOf(batch, `${batch.id}/1`, units.slice(half).flat()),
  ];
}
