import type { DataSource, QueryRunner } from 'typeorm';
import { FlushError, WriteBufferConfigError } from '../errors.js';
import type { SqlDialect } from '../sql/sql-dialect.js';
import type { BatchEntry, KeyedEntry } from './batch-entries.js';
import { runStatement } from './run-statement.js';

/** Version of the ledger table's layout, kept in the row {@link FORMAT_ROW}. */
export const LEDGER_FORMAT = 2;
/** Ledger row whose `applied_at` holds {@link LEDGER_FORMAT}; never a batch id. */
const FORMAT_ROW = '#format';
/** How often the ledger is pruned, at most. */
const PRUNE_EVERY_MS = 60 * 60 * 1000;

/**
 * The table that makes each batch apply at most once: a batch's id is
 * inserted in the transaction that applies it, together with the entries
 * whose row was missing, so a re-apply after a lost ack is skipped and
 * still reports them.
 */
export class Ledger {
  private lastPrune = 0;

  constructor(
    private readonly dataSourceName: string,
    private readonly dataSource: DataSource,
    private readonly dialect: SqlDialect,
    readonly table: string,
    private readonly retention: number,
  ) {}

  /** Creates the table if missing, brings an older layout up to date, refuses a newer one. */
  async prepare(): Promise<void> {
    const runner = this.dataSource.createQueryRunner();
    try {
      try {
        await runner.query(this.dialect.ledgerSchema(this.table));
      } catch (error) {
        // Another process may have created it at the same moment.
        if (!(await runner.hasTable(this.table))) throw error;
      }
      if (!(await runner.hasColumn(this.table, 'missed'))) {
        await runner.query(this.dialect.ledgerAddMissed(this.table)).catch(async (error) => {
          if (!(await runner.hasColumn(this.table, 'missed'))) throw error;
        });
      }
      await runner.query(this.dialect.ledgerClaim(this.table, FORMAT_ROW, LEDGER_FORMAT).sql, [
        FORMAT_ROW,
        LEDGER_FORMAT,
      ]);
      const read = this.dialect.ledgerRead(this.table, FORMAT_ROW);
      const [row] = (await runner.query(read.sql, read.params)) as Array<{ applied_at: unknown }>;
      if (Number(row?.applied_at) !== LEDGER_FORMAT) {
        throw WriteBufferConfigError.ledgerFormat(
          this.table,
          this.dataSourceName,
          String(row?.applied_at),
          LEDGER_FORMAT,
        );
      }
    } finally {
      await runner.release();
    }
  }

  /**
   * Records `batchId` in the runner's transaction. Resolves `null` when
   * it is new; when it was recorded before, the ones of its `entries` it
   * missed then.
   */
  async record(
    runner: QueryRunner,
    batchId: string,
    entries: BatchEntry[],
  ): Promise<KeyedEntry[] | null> {
    try {
      const claim = await runStatement(
        runner,
        this.dialect.ledgerClaim(this.table, batchId, Date.now()),
      );
      if (this.dialect.claimed(claim)) return null;
      const { records: found } = await runStatement(
        runner,
        this.dialect.ledgerRead(this.table, batchId),
      );
      return missedOf(found[0], entries);
    } catch (error) {
      // The ledger is ours, not the user's data: never a reason to dead-letter.
      throw FlushError.failed(this.dataSourceName, error);
    }
  }

  /**
   * Whether `batchId` is recorded (committed), read outside any
   * transaction: `null` when it is not, else the ones of its `entries` it
   * missed.
   */
  async lookup(batchId: string, entries: BatchEntry[]): Promise<KeyedEntry[] | null> {
    const read = this.dialect.ledgerRead(this.table, batchId);
    const [row] = (await this.dataSource.query(read.sql, read.params)) as Array<{
      missed: string | null;
    }>;
    return row ? missedOf(row, entries) : null;
  }

  /** Stores which entries of a batch recorded in this transaction found no row. */
  async recordMissed(runner: QueryRunner, batchId: string, missed: KeyedEntry[]): Promise<void> {
    await runStatement(
      runner,
      this.dialect.ledgerSetMissed(this.table, batchId, JSON.stringify(missed.map(entryName))),
    );
  }

  /** Deletes ids older than the retention, at most once an hour. */
  async prune(): Promise<void> {
    const now = Date.now();
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    const prune = this.dialect.ledgerPrune(this.table, now - this.retention, FORMAT_ROW);
    await this.dataSource.query(prune.sql, prune.params);
  }
}

/** The ones of `entries` a recorded batch missed, from its ledger row. */
function missedOf(row: { missed?: unknown } | undefined, entries: BatchEntry[]): KeyedEntry[] {
  const names = new Set(
    typeof row?.missed === 'string' ? (JSON.parse(row.missed) as string[]) : [],
  );
  const missed: KeyedEntry[] = [];
  if (names.size) {
    entries.forEach((entry, position) => {
      if (entry.kind !== 'insert' && names.has(entryName(entry))) {
        missed.push({ ...entry, position });
      }
    });
  }
  return missed;
}

/** Names a counter or update entry within its batch, as the ledger's `missed` column lists them. */
function entryName(entry: Exclude<BatchEntry, { kind: 'insert' }>): string {
  return JSON.stringify([entry.table, entry.kind, entry.key]);
}
