import type { BufferTarget } from './buffer-batch.interface.js';

/**
 * One string naming a (data source, table path) pair, for in-process maps
 * keyed by table: the JSON array `[dataSource, table]`, so no name can
 * run into the other whatever characters either holds. Never stored.
 */
export function tableId(dataSource: string, table: string): string {
  return JSON.stringify([dataSource, table]);
}

/** The {@link tableId} of a write's target. */
export function tableIdOf(target: BufferTarget): string {
  return tableId(target.dataSource, target.table);
}
