import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import type { BufferedEntity } from '../metadata/buffered-entity.js';
import { columnKind } from '../metadata/column-kind.js';
import { canonicalDecimal, decimalScale, isDecimalType } from '../metadata/key-form.js';
import type { RowKey } from '../storage/buffer-batch.interface.js';
import {
  SqlDialect,
  type CellBinder,
  type KeyedStatement,
  type RowSource,
  type RunStatement,
  type Statement,
  type StatementResult,
} from './sql-dialect.js';

/** The most placeholders one prepared statement may hold on MySQL and MariaDB. */
const MAX_PARAMETERS = 65_535;
/**
 * Most rows per statement. mysql2 sends the statement as text with the
 * values inlined, which must fit in `max_allowed_packet` (4 MiB on MySQL
 * 5.7, 16 MiB on MariaDB, 64 MiB on MySQL 8): 5,000 rows of a few short
 * columns stay far below. A chunk that still does not fit is refused as
 * a data error and split by the flush's bisection.
 */
const MAX_ROWS = 5_000;

/**
 * MySQL 8 and MariaDB (TypeORM types `mysql` and `mariadb`, driver
 * `mysql2`): rows are bound as a derived table of `SELECT … UNION ALL
 * SELECT …`, counters and keyed updates run as one multi-table
 * `UPDATE (…) v STRAIGHT_JOIN t ON … SET …` per table and chunk, inserts as
 * multi-row `INSERT … VALUES`.
 *
 * The flush's transaction runs at READ COMMITTED: InnoDB's default
 * REPEATABLE READ would take gap locks on the keys an UPDATE finds no row
 * for, blocking the app's inserts next to them until the flush commits.
 * Every statement of the flush names rows by primary key, so it needs no
 * snapshot across statements.
 */
export class MysqlDialect extends SqlDialect {
  protected readonly epochType = 'bigint';
  override readonly isolation = 'READ COMMITTED' as const;

  protected maxRows(width: number): number {
    return Math.max(1, Math.min(MAX_ROWS, Math.floor(MAX_PARAMETERS / width)));
  }

  protected placeholder(): string {
    return '?';
  }

  /** `INSERT IGNORE`: a batch id recorded before adds no row (and waits for a flush recording it now). */
  override ledgerClaim(table: string, batchId: string, at: number): Statement {
    return {
      sql:
        `INSERT IGNORE INTO ${this.escape(table)} (${this.escape('batch_id')}, ${this.escape('applied_at')}) ` +
        `VALUES (?, ?)`,
      params: [batchId, at],
    };
  }

  override claimed(result: StatementResult): boolean {
    return result.affected === 1;
  }

  /**
   * The keyed UPDATE reports found rows by count, not by position, so its
   * rows carry no ordinal (`numbered` is ignored); `missingRows` asks for one.
   */
  protected rowSource(
    columns: ColumnMetadata[],
    values: unknown[][],
    params: unknown[],
  ): RowSource {
    return this.derivedTable(columns, values, params, false);
  }

  private derivedTable(
    columns: ColumnMetadata[],
    values: unknown[][],
    params: unknown[],
    numbered: boolean,
    offset = 0,
  ): RowSource {
    const names = columns.map((_, i) => this.escape(`wb_c${i}`));
    const ordinal = numbered ? this.escape('wb_n') : undefined;
    const rows = values[0].length;
    const binders = columns.map((column) => this.cellBinder(column));
    const tuples: string[][] = [];
    for (let r = 0; r < rows; r++) {
      const cells: string[] = [];
      for (let c = 0; c < columns.length; c++) {
        cells.push(binders[c](values[c][r], params));
      }
      if (ordinal) cells.push(String(offset + r + 1));
      tuples.push(cells);
    }
    const named = ordinal ? [...names, ordinal] : names;
    let sql: string;
    if (this.valuesRows()) {
      // A row of NULLs that is never returned names the columns; MariaDB
      // types each column from every row, and parses a VALUES list about
      // twice as fast as as many SELECTs.
      const header = named.map((name) => `NULL AS ${name}`).join(', ');
      sql = `SELECT ${header} FROM DUAL WHERE FALSE UNION ALL VALUES ${tuples.map((cells) => `(${cells.join(', ')})`).join(', ')}`;
    } else {
      // Only the first row names the columns.
      const first = tuples[0].map((cell, c) => `${cell} AS ${named[c]}`);
      sql = [first, ...tuples.slice(1)]
        .map((cells) => `SELECT ${cells.join(', ')}`)
        .join(' UNION ALL ');
    }
    return { sql: `(${sql}) AS ${this.escape('v')}`, names, ordinal };
  }

  private valuesRowsCache?: boolean;

  /**
   * Whether the server takes a table value constructor (`VALUES (…), (…)`)
   * as a UNION's part: TypeORM type `mariadb` on MariaDB 10.3 or later
   * (MySQL 8 spells it `VALUES ROW(…)`; type `mysql` keeps the
   * `SELECT … UNION ALL SELECT …` form every version takes).
   */
  private valuesRows(): boolean {
    if (this.valuesRowsCache === undefined) {
      // TypeORM reads the server's version (digits only) when it connects.
      const version = (this.dataSource.driver as { version?: string }).version;
      if (!version) return false;
      const [major, minor] = version.split('.').map(Number);
      this.valuesRowsCache =
        this.dataSource.options.type === 'mariadb' && (major > 10 || (major === 10 && minor >= 3));
    }
    return this.valuesRowsCache;
  }

  protected override insertSql(
    table: string,
    list: string,
    columns: ColumnMetadata[],
    values: unknown[][],
    params: unknown[],
  ): string {
    const rows = values[0].length;
    for (let r = 0; r < rows; r++) for (const column of values) params.push(column[r]);
    const tuple = `(${'?, '.repeat(columns.length - 1)}?)`;
    return `INSERT INTO ${table} (${list}) VALUES ${tuple}${`, ${tuple}`.repeat(rows - 1)}`;
  }

  protected override upsertInto(table: string): string {
    return table;
  }

  /** `ON DUPLICATE KEY UPDATE`, where `VALUES(col)` is what the insert would have set. */
  protected override upsertConflict(_keys: string, set: string): string {
    return `ON DUPLICATE KEY UPDATE ${set}`;
  }

  protected override upsertCurrent(column: string): string {
    return column;
  }

  protected override upsertIncoming(column: string): string {
    return `VALUES(${column})`;
  }

  protected override defaultRowInsert(table: string): string {
    return `INSERT INTO ${table} () VALUES ()`;
  }

  /**
   * The batch drives the join (`STRAIGHT_JOIN`): each of its rows looks its
   * row up by primary key, so the UPDATE reads, and locks, only the rows it
   * changes. Left to the optimizer, a small table would be scanned, locking
   * rows the batch does not name until the flush commits.
   */
  protected override updateJoin(table: string, set: string, source: RowSource, on: string): string {
    return `UPDATE ${source.sql} STRAIGHT_JOIN ${table} AS ${this.escape('t')} ON ${on} SET ${set}`;
  }

  /**
   * Text of one charset and an explicit collation on both sides of
   * `readCell`'s UNION: the connection's collation (mysql2's default
   * `utf8mb4_unicode_ci`) and the ledger column's (the database default)
   * may differ, which MySQL refuses as an illegal mix.
   */
  protected override asText(expression: string): string {
    return `CAST(${expression} AS CHAR CHARACTER SET utf8mb4) COLLATE utf8mb4_bin`;
  }

  protected override ledgerIdText(column: string): string {
    return `CONVERT(${column} USING utf8mb4) COLLATE utf8mb4_bin`;
  }

  protected keyedUpdateSql(update: string): string {
    return update;
  }

  /**
   * mysql2 asks for found rows (`CLIENT_FOUND_ROWS`, on unless the app's
   * `flags` turn it off, when the flush gets a connection of its own), so
   * the UPDATE reports the rows it matched, also those it set to the value
   * they had. Only when that is short of the keys does a second statement
   * find which are missing; if another transaction created one of them in
   * between, the counts disagree and the flush fails as transient, to be
   * applied again.
   */
  unmatchedKeys(statement: KeyedStatement, run: RunStatement): Promise<RowKey[]> {
    return this.unmatchedByCount(
      statement,
      run,
      () => this.missingRows(statement.entity, statement.keys),
      (affected, missing) => affected !== undefined && missing === statement.keys.length - affected,
    );
  }

  /**
   * Only in strict mode (`STRICT_TRANS_TABLES` or `STRICT_ALL_TABLES` in the
   * session's `sql_mode`): otherwise the server stores an out-of-range value
   * clamped, with a warning (a negative delta proposed for an `UNSIGNED`
   * column becomes 0), and the upsert would add that to an existing row.
   */
  override async upsertsRefuseBadRows(run: RunStatement): Promise<boolean> {
    const mode = this.escape('wb_mode');
    const { records } = await run({ sql: `SELECT @@SESSION.sql_mode AS ${mode}`, params: [] });
    return /STRICT_(TRANS|ALL)_TABLES/.test(String(records[0]?.wb_mode));
  }

  /** The keys as a derived table with their positions (the base's `rowSource` numbers no rows here). */
  protected override numberedKeys(
    entity: BufferedEntity,
    keys: RowKey[],
    params: unknown[],
  ): RowSource {
    const columns = entity.primary.map((c) => c.metadata);
    return this.derivedTable(columns, entity.keyColumns(keys), params, true);
  }

  override rowsNamed(entity: BufferedEntity, keys: RowKey[]): Statement[] {
    const size = this.maxRows(entity.primary.length + 1);
    const statements: Statement[] = [];
    for (let offset = 0; offset < keys.length; offset += size) {
      const { source, on, params } = this.keysToMatch(
        entity,
        keys.slice(offset, offset + size),
        offset,
      );
      const [t, v] = [this.escape('t'), this.escape('v')];
      const stored = entity.primary
        .map((c, i) => `${t}.${this.escape(c.metadata.databaseName)} AS ${this.escape(`k${i}`)}`)
        .join(', ');
      statements.push({
        sql:
          `SELECT ${v}.${source.ordinal} AS ${this.escape('n')}, ${stored} FROM ${source.sql} ` +
          `STRAIGHT_JOIN ${this.table(entity)} AS ${t} ON ${on}`,
        params,
      });
    }
    return statements;
  }

  /** `keys` as a numbered derived table `v`, and the condition matching a row `t` of the entity to one. */
  private keysToMatch(entity: BufferedEntity, keys: RowKey[], offset = 0) {
    const columns = entity.primary.map((c) => c.metadata);
    const params: unknown[] = [];
    const source = this.derivedTable(columns, entity.keyColumns(keys), params, true, offset);
    const [t, v] = [this.escape('t'), this.escape('v')];
    const on = columns
      .map((c, i) => `${t}.${this.escape(c.databaseName)} = ${v}.${source.names[i]}`)
      .join(' AND ');
    return { source, on, params };
  }

  /**
   * A string for an integer or decimal column is cast, so the derived (or
   * inserted) column stays numeric and exact.
   */
  protected override cellBinder(column: ColumnMetadata): CellBinder {
    const cast = this.castOf(column);
    const castPlaceholder = `CAST(? AS ${cast})`;
    return (value, params) => {
      // mysql2 spells a number below 1e-6 or from 1e21 on with an exponent (`1e-7`), which
      // MySQL/MariaDB read as a DOUBLE: every row of the derived column would add as one.
      if (cast && typeof value === 'number' && /e/.test(String(value))) {
        const text = canonicalDecimal(value) ?? String(value);
        params.push(text);
        return `CAST(? AS DECIMAL(65, ${Math.min(text.split('.')[1]?.length ?? 0, 30)}))`;
      }
      params.push(value);
      return cast && typeof value === 'string' ? castPlaceholder : '?';
    };
  }

  private readonly casts = new WeakMap<ColumnMetadata, string | null>();

  /** What a string bound for `column` is cast to, or null to leave it as it is. */
  private castOf(column: ColumnMetadata): string | null {
    let cast = this.casts.get(column);
    if (cast === undefined) {
      cast = null;
      if (!column.transformer) {
        const kind = columnKind(this.dataSource, column);
        const type = this.typeOf(column).toLowerCase();
        if (kind === 'integer') cast = 'DECIMAL(65, 0)';
        else if (kind === 'number' && isDecimalType(type)) {
          cast = `DECIMAL(65, ${Math.min(decimalScale(column, 'mysql') ?? 0, 30)})`;
        }
      }
      this.casts.set(column, cast);
    }
    return cast;
  }

  /**
   * A trigger of the table BEFORE INSERT (MySQL and MariaDB triggers are row
   * triggers), or an engine without transactions (MyISAM): a refused upsert's
   * first rows stay after ROLLBACK TO SAVEPOINT, and under
   * `STRICT_TRANS_TABLES` a later row's bad value is stored adjusted (an
   * unsigned column's -3 as 0), not refused.
   */
  override async upsertMayDiffer(entity: BufferedEntity, run: RunStatement): Promise<boolean> {
    const schema = 'COALESCE(?, DATABASE())';
    const { records } = await run({
      sql:
        'SELECT 1 FROM information_schema.TABLES t JOIN information_schema.ENGINES e ' +
        `ON e.ENGINE = t.ENGINE WHERE t.TABLE_SCHEMA = ${schema} AND t.TABLE_NAME = ? ` +
        "AND e.TRANSACTIONS = 'YES' AND NOT EXISTS (SELECT 1 FROM information_schema.TRIGGERS " +
        `WHERE EVENT_OBJECT_SCHEMA = ${schema} AND EVENT_OBJECT_TABLE = ? ` +
        "AND ACTION_TIMING = 'BEFORE' AND EVENT_MANIPULATION = 'INSERT')",
      params: [
        entity.metadata.database ?? null,
        entity.metadata.tableName,
        entity.metadata.database ?? null,
        entity.metadata.tableName,
      ],
    });
    return records.length === 0;
  }
}
