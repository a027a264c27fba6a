/**
 * A counter or update whose row was not in the database at flush time.
 * @publicApi
 */
export interface MissingRow {
  /** TypeORM data source name. */
  dataSource: string;
  /** Entity name. */
  entity: string;
  /** Table path. */
  table: string;
  /** Primary column values, by property name. */
  id: Record<string, unknown>;
  /** Whether the lost write was a counter delta or a column update. */
  kind: 'counter' | 'update';
  /** Column → delta (counter) or value (update) that could not be applied. */
  values: Record<string, unknown>;
}

/**
 * What one `BufferService.flush()` did.
 * @publicApi
 */
export interface FlushReport {
  /** Batches applied (each one database transaction). */
  batches: number;
  /** Batches found already in the ledger (applied before a crash) and only acknowledged. */
  skippedBatches: number;
  /** Rows inserted. */
  inserted: number;
  /** Rows updated. */
  updated: number;
  /** Rows whose counters were incremented. */
  incremented: number;
  /** SQL statements executed to apply data (ledger bookkeeping excluded). */
  statements: number;
  /** Counters and updates whose row did not exist; they were not applied. */
  missing: MissingRow[];
  /** Writes the database refused for a data error (or whose row was missing), set aside as dead letters. */
  deadLettered: number;
  /** Wall-clock duration in milliseconds. */
  durationMs: number;
}

/**
 * Outcome of the latest flush, as kept in `BufferStats`.
 * @publicApi
 */
export interface LastFlush {
  /** When it ended. */
  at: Date;
  ok: boolean;
  durationMs: number;
  /** The error message when `ok` is false. */
  error?: string;
}

export function emptyReport(): FlushReport {
  return {
    batches: 0,
    skippedBatches: 0,
    inserted: 0,
    updated: 0,
    incremented: 0,
    statements: 0,
    missing: [],
    deadLettered: 0,
    durationMs: 0,
  };
}

/** Adds `part` into `total`. */
export function mergeReport(total: FlushReport, part: FlushReport): FlushReport {
  total.batches += part.batches;
  total.skippedBatches += part.skippedBatches;
  total.inserted += part.inserted;
  total.updated += part.updated;
  total.incremented += part.incremented;
  total.statements += part.statements;
  total.missing.push(...part.missing);
  total.deadLettered += part.deadLettered;
  return total;
}
