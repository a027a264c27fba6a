import type { DataSource } from 'typeorm';
import type { EntityCatalog } from '../metadata/entity-catalog.js';
import type { BufferedEntity } from '../metadata/buffered-entity.js';
import { RowMatchMismatchError } from '../errors.js';
import { canonicalDecimal, decimalScale, dialectOf, isDecimalType } from '../metadata/key-form.js';
import type { KeyedStatement, RunStatement, SqlDialect, Statement } from '../sql/sql-dialect.js';
import type { ClaimedBatch, RowKey } from '../storage/buffer-batch.interface.js';
import type { BatchEntry, KeyedEntry } from './batch-entries.js';
import type { WriteBufferTelemetry } from '../telemetry/write-buffer.telemetry.js';
import type { LeaseKeeper } from './lease-keeper.js';
import type { Ledger } from './ledger.js';
import { combineUpdates, mergeKeysNamingOneRow } from './key-collisions.js';
import { ranInSavepoint, runStatement } from './run-statement.js';

/** What applying a batch did. */
export interface ApplyResult {
  /** The ledger showed the batch applied before: nothing ran, `unmatched` is what it missed then. */
  skipped: boolean;
  inserted: number;
  updated: number;
  incremented: number;
  statements: number;
  /** Entries whose row did not exist. */
  unmatched: KeyedEntry[];
}

/** What a batch the ledger shows applied before did: nothing now, and it missed `unmatched`. */
export function alreadyApplied(unmatched: KeyedEntry[]): ApplyResult {
  return { skipped: true, inserted: 0, updated: 0, incremented: 0, statements: 0, unmatched };
}

/**
 * The apply step: runs a batch's statements and records its id in the
 * ledger, in one transaction on a connection of its own, committing only while the flush lease
 * is held.
 */
export class BatchApplier {
  constructor(
    private readonly dataSource: DataSource,
    private readonly dialect: SqlDialect,
    private readonly catalog: EntityCatalog,
    private readonly ledger: Ledger,
    private readonly telemetry: WriteBufferTelemetry,
  ) {}

  /**
   * Applies a batch in one transaction, unless the ledger shows it was
   * applied already (then it is `skipped`, with the entries it missed
   * then). Inserts go first, then updates, then counters, so arrival order
   * on one row holds. Commits only while `keeper` holds the lease.
   */
  apply(batch: ClaimedBatch, entries: BatchEntry[], keeper: LeaseKeeper): Promise<ApplyResult> {
    const attributes = {
      'write_buffer.data_source': batch.dataSource,
      'write_buffer.batch_id': batch.id,
      'write_buffer.tables': batch.tables.map((part) => part.table),
    };
    return this.telemetry.tracer.inSpan('write-buffer.batch', attributes, async (span) => {
      const result = await this.applyInTransaction(batch, entries, keeper, false)
        .catch((error: unknown) => {
          // Two keys may name one row (a collation folds what the keys keep
          // apart): once more, with the rows of such keys merged.
          if (!(error instanceof RowMatchMismatchError) || !this.dialect.rowsNamed) throw error;
          return this.applyInTransaction(batch, entries, keeper, true);
        })
        .catch((error: unknown) => {
          span.setAttributes({ 'write_buffer.outcome': 'failed' });
          throw error;
        });
      span.setAttributes({
        'write_buffer.outcome': result.skipped ? 'skipped' : 'applied',
        'write_buffer.rows.inserted': result.inserted,
        'write_buffer.rows.updated': result.updated,
        'write_buffer.rows.incremented': result.incremented,
        'write_buffer.rows.missing': result.unmatched.length,
        'write_buffer.statements': result.statements,
      });
      return result;
    });
  }

  private async applyInTransaction(
    batch: ClaimedBatch,
    entries: BatchEntry[],
    keeper: LeaseKeeper,
    mergeKeys: boolean,
  ): Promise<ApplyResult> {
    const appliedRows: Array<[table: string, kind: string, rows: number]> = [];
    const runner = this.dataSource.createQueryRunner();
    const result: ApplyResult = {
      skipped: false,
      inserted: 0,
      updated: 0,
      incremented: 0,
      statements: 0,
      unmatched: [],
    };
    await runner.connect();
    try {
      await runner.startTransaction(this.dialect.isolation);
      const missedBefore = await this.ledger.record(runner, batch.id, entries);
      if (missedBefore) {
        await runner.rollbackTransaction();
        return alreadyApplied(missedBefore);
      }
      const parts = batch.tables.map((part) => ({ part, entity: this.entity(batch, part.table) }));
      for (const { part, entity } of parts) {
        for (const statement of this.dialect.inserts(entity, part.inserts)) {
          await runStatement(runner, statement);
          result.statements++;
        }
        result.inserted += part.inserts.length;
        appliedRows.push([part.table, 'insert', part.inserts.length]);
      }
      // Updates before counters, so set-then-increment adds on top of the set.
      const run = (statement: Statement) => runStatement(runner, statement);
      let refuses: Promise<boolean> | undefined;
      const upsertsRefuseBadRows = () => (refuses ??= this.dialect.upsertsRefuseBadRows(run));
      const triggered = new Map<BufferedEntity, Promise<boolean>>();
      /** Whether the single upsert of `entity`'s rows does what the UPDATE would to existing ones. */
      const upsertMatchesUpdate = async (entity: BufferedEntity) => {
        let fires = triggered.get(entity);
        if (!fires) triggered.set(entity, (fires = this.dialect.upsertMayDiffer(entity, run)));
        return !(await fires) && (await upsertsRefuseBadRows());
      };
      for (const kind of ['update', 'counter'] as const) {
        for (const { part, entity } of parts) {
          const { unmatched, mergedInto } =
            kind === 'update'
              ? await this.applyKeyed(entity, part.updates, mergeKeys, run, result, {
                  combine: combineUpdates(entity),
                  write: (rows) => this.dialect.updates(entity, rows),
                  upsert: (rows) => this.dialect.upsertUpdates(entity, rows),
                  upsertFirst: () => upsertMatchesUpdate(entity),
                })
              : await this.applyKeyed(entity, part.counters, mergeKeys, run, result, {
                  combine: addDeltas,
                  write: (rows) => this.dialect.counters(entity, rows),
                  upsert: (rows) => this.dialect.upsertCounters(entity, rows),
                  upsertFirst: async () =>
                    addsExactly(entity, part.counters) && (await upsertMatchesUpdate(entity)),
                });
          // A key merged into another missed its row if that one did.
          for (const [key, into] of mergedInto) if (unmatched.has(into)) unmatched.add(key);
          const applied =
            (kind === 'update' ? part.updates : part.counters).length - unmatched.size;
          if (kind === 'update') result.updated += applied;
          else result.incremented += applied;
          appliedRows.push([part.table, kind, applied]);
          if (unmatched.size === 0) continue;
          entries.forEach((entry, position) => {
            if (entry.table === part.table && entry.kind === kind && unmatched.has(entry.key)) {
              result.unmatched.push({ ...entry, position });
            }
          });
        }
      }
      if (result.unmatched.length) {
        await this.ledger.recordMissed(runner, batch.id, result.unmatched);
      }
      // Fencing: a flusher that lost its lease leaves the batch to the new holder.
      await keeper.assertHeld(batch.id);
      await runner.commitTransaction();
      const { metrics } = this.telemetry;
      for (const [table, kind, rows] of appliedRows) {
        metrics.applied(batch.dataSource, table, kind, rows);
      }
      metrics.statementsRun(batch.dataSource, result.statements);
      return result;
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    } finally {
      await runner.release();
    }
  }

  /**
   * Applies one table's updates or counters (rows a collation makes one
   * merged first, when `mergeKeys`) and resolves the keys that found no
   * row. For an entity whose flush creates missing rows, each chunk is one
   * upsert, tried in a savepoint; a chunk the database refuses (the row an
   * upsert proposes for an existing row breaks a CHECK, an unsigned column)
   * is rolled back to it and applied by `updateThenUpsert`, whose errors go
   * where every flush error goes (retry, bisection).
   */
  private async applyKeyed<T>(
    entity: BufferedEntity,
    given: Array<[RowKey, T]>,
    mergeKeys: boolean,
    run: RunStatement,
    result: { statements: number },
    sql: KeyedSql<T>,
  ): Promise<{ unmatched: Set<RowKey>; mergedInto: Map<RowKey, RowKey> }> {
    const { rows, mergedInto } = mergeKeys
      ? await mergeKeysNamingOneRow(this.dialect, entity, given, sql.combine, run)
      : { rows: given, mergedInto: new Map<RowKey, RowKey>() };
    if (
      entity.settings.onMissingRow !== 'insert' ||
      rows.length === 0 ||
      !(await sql.upsertFirst())
    ) {
      return { unmatched: await this.updateThenUpsert(entity, rows, run, result, sql), mergedInto };
    }
    let byKey: Map<RowKey, T> | undefined;
    for (const statement of sql.upsert(rows)) {
      result.statements++;
      if (await ranInSavepoint(run, statement)) continue;
      byKey ??= new Map(rows);
      const chunk = statement.keys.map((key): [RowKey, T] => [key, byKey!.get(key)!]);
      await this.updateThenUpsert(entity, chunk, run, result, sql);
    }
    return { unmatched: new Set(), mergedInto };
  }

  /**
   * Runs the UPDATEs of `rows` and resolves the keys that found no row.
   * For an entity whose flush creates missing rows, those are then created
   * by an upsert (in case one was created since), so the rows that existed
   * took the plain UPDATE: a CHECK or an unsigned column sees their own
   * value, not a created row's.
   */
  private async updateThenUpsert<T>(
    entity: BufferedEntity,
    rows: Array<[RowKey, T]>,
    run: RunStatement,
    result: { statements: number },
    sql: KeyedSql<T>,
  ): Promise<Set<RowKey>> {
    const unmatched = new Set<RowKey>();
    for (const statement of sql.write(rows)) {
      for (const key of await this.dialect.unmatchedKeys(statement, run)) unmatched.add(key);
      result.statements++;
    }
    if (unmatched.size === 0 || entity.settings.onMissingRow !== 'insert') return unmatched;
    for (const statement of sql.upsert(rows.filter(([key]) => unmatched.has(key)))) {
      await run(statement);
      result.statements++;
    }
    return new Set();
  }

  /** The entity of a table of the batch (the settler set aside the writes of tables that are gone). */
  private entity(batch: ClaimedBatch, table: string): BufferedEntity {
    return this.catalog.table(batch.dataSource, table)!;
  }
}

/** The statements `applyKeyed` runs for one table's updates or counters. */
interface KeyedSql<T> {
  combine: (into: T, from: T) => T;
  write: (rows: Array<[RowKey, T]>) => KeyedStatement[];
  upsert: (rows: Array<[RowKey, T]>) => KeyedStatement[];
  /** Whether the single upsert may go first: it is refused wherever it would differ from the UPDATE. */
  upsertFirst: () => Promise<boolean>;
}

/**
 * Whether an upsert adds the deltas of `rows` to existing rows exactly as
 * the UPDATE does: it adds `(default + delta) - default`, which floating
 * point may round unless the default is 0 or the column an integer, and a
 * column with a scale stores rounded: the upsert adds the delta rounded,
 * the UPDATE rounds the sum (1.00 - 0.015 is 0.99, 1.00 - 0.02 is 0.98).
 */
function addsExactly(entity: BufferedEntity, rows: Array<[RowKey, Record<string, number>]>) {
  const columns = new Set<string>();
  for (const [, deltas] of rows) for (const name in deltas) columns.add(name);
  const names = [...columns];
  if (names.some((name) => entity.defaultNumber(name) !== 0 && !isInteger(entity, name))) {
    return false;
  }
  const scales = new Map<string, number>();
  for (const name of names) {
    const scale = isInteger(entity, name) ? undefined : roundingScale(entity, name);
    if (scale !== undefined) scales.set(name, scale);
  }
  if (scales.size === 0) return true;
  const scaled = [...scales];
  return rows.every(([, deltas]) =>
    scaled.every(
      ([name, scale]) =>
        !(name in deltas) ||
        canonicalDecimal(deltas[name], scale) === canonicalDecimal(deltas[name]),
    ),
  );
}

/**
 * The fraction digits a column keeps: its scale, or for a decimal as
 * {@link decimalScale} has it; `undefined` when it keeps all.
 */
function roundingScale(entity: BufferedEntity, name: string): number | undefined {
  const column = entity.column(name).metadata;
  const { connection } = entity.metadata;
  const dialect = dialectOf(connection);
  const type = connection.driver.normalizeType(column).toLowerCase();
  if ((dialect === 'postgres' || dialect === 'mysql') && isDecimalType(type)) {
    return decimalScale(column, dialect);
  }
  return column.scale ?? undefined;
}

function isInteger(entity: BufferedEntity, name: string): boolean {
  return entity.column(name).kind === 'integer';
}

/** The deltas of two counter rows of one row, added per column. */
function addDeltas(
  into: Record<string, number>,
  from: Record<string, number>,
): Record<string, number> {
  const sum = { ...into };
  for (const column in from) sum[column] = (sum[column] ?? 0) + from[column];
  return sum;
}
