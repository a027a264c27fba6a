import type { DataSource } from 'typeorm';
import type { IsolationLevel } from 'typeorm/driver/types/IsolationLevel.js';
import { FlushError } from '../errors.js';
import { countColumns } from '../storage/count-columns.js';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import type { BufferedEntity } from '../metadata/buffered-entity.js';
import type { RowKey, StoredRow, StoredValue } from '../storage/buffer-batch.interface.js';

/** One SQL statement with its bound parameters. */
export interface Statement {
  sql: string;
  params: unknown[];
}

/** An UPDATE of rows named by their keys, bound in the order of `keys`. */
export interface KeyedStatement extends Statement {
  entity: BufferedEntity;
  keys: RowKey[];
}

/** What running a statement gave back. */
export interface StatementResult {
  records: Record<string, unknown>[];
  /** Rows the statement changed, when the driver reports it. */
  affected?: number;
}

export type RunStatement = (statement: Statement) => Promise<StatementResult>;

/** A derived table of bound rows, with the names of its columns. */
export interface RowSource {
  sql: string;
  names: string[];
  /** Column holding each row's 1-based position, when asked for. */
  ordinal?: string;
}

/** Appends a value to `params` and returns its placeholder (see `SqlDialect.cellBinder`). */
export type CellBinder = (value: unknown, params: unknown[]) => string;

/** `readCells` statements kept at most per entity. */
const MAX_KEPT_READ_STATEMENTS = 256;

/** The longest key source whose statements are kept (an array bound whole is far shorter). */
const MAX_KEPT_SOURCE_LENGTH = 500;

/**
 * Builds the batched statements of a flush. Each statement covers many
 * rows of one table (bound as a derived table `v`), so a flush costs
 * O(tables + rows / chunk) statements. Identifiers come from TypeORM
 * metadata and are escaped by the driver; values are always bound.
 */
export abstract class SqlDialect {
  constructor(protected readonly dataSource: DataSource) {}

  /** Most rows one statement binds, for rows of `width` columns. */
  protected abstract maxRows(width: number): number;
  /** Placeholder of the parameter at `index` (0-based) in `params`. */
  protected abstract placeholder(index: number): string;
  /**
   * A derived table `v` of rows given column by column (`values[c][r]`),
   * typed after `columns`; appends to `params`. With `numbered`, it also
   * has a column of each row's position.
   */
  protected abstract rowSource(
    columns: ColumnMetadata[],
    values: unknown[][],
    params: unknown[],
    numbered?: boolean,
  ): RowSource;
  /** The text of a keyed UPDATE statement (see `keyedUpdates`). */
  protected abstract keyedUpdateSql(update: string, source: RowSource, rows: number): string;
  /**
   * Runs a keyed UPDATE; resolves the keys it found no row for. It runs
   * inside the flush's transaction, after the ledger insert.
   */
  abstract unmatchedKeys(statement: KeyedStatement, run: RunStatement): Promise<RowKey[]>;

  /**
   * `unmatchedKeys` for databases whose UPDATE reports the rows it matched:
   * only when that is short of the keys does `missing` (a statement
   * answering the 1-based positions `n` of keys with no row) run. With
   * `consistent`, the two answers must agree, or the flush fails as
   * transient (a row was created or deleted in between).
   */
  protected async unmatchedByCount(
    statement: KeyedStatement,
    run: RunStatement,
    missing: () => Statement,
    consistent?: (affected: number | undefined, missing: number) => boolean,
  ): Promise<RowKey[]> {
    const { affected } = await run(statement);
    if (affected === statement.keys.length) return [];
    const { records } = await run(missing());
    if (consistent && !consistent(affected, records.length)) {
      throw FlushError.rowsChangedDuringFlush(statement.entity.name);
    }
    return records.map((record) => statement.keys[Number(record.n) - 1]);
  }
  /**
   * Statements answering, for each of `keys` that names a row, its 1-based
   * position `n` in `keys` and that row's primary key as stored (`k0`,
   * `k1`, …): where a collation makes two spellings one row, their keys
   * answer the same stored key. Only on databases whose keyed UPDATE can
   * match one row for two keys (MySQL/MariaDB).
   */
  rowsNamed?(entity: BufferedEntity, keys: RowKey[]): Statement[];
  /**
   * Whether the database refuses an upsert whose proposed row breaks a
   * column's type or a constraint, rather than storing an adjusted value,
   * in the flush's session: only then may a flush try the single upsert
   * first and fall back to the plain UPDATE when it is refused.
   */
  upsertsRefuseBadRows(_run: RunStatement): Promise<boolean> {
    return Promise.resolve(true);
  }
  /**
   * Whether an upsert may do to an existing row of `entity`'s table what
   * the plain UPDATE would not, so a flush runs the UPDATE first there: a
   * row trigger BEFORE INSERT fires for an existing row too, and what it
   * makes of the proposed row is what the upsert adds (a trigger that
   * clamps or drops a row with a negative count takes an existing row's
   * decrement with it). Unknown here: assumed.
   */
  upsertMayDiffer(_entity: BufferedEntity, _run: RunStatement): Promise<boolean> {
    return Promise.resolve(true);
  }
  /** SQL type of the ledger's `applied_at` (milliseconds since the epoch). */
  protected abstract readonly epochType: string;
  /** Isolation level of the flush's transaction; the database's default when unset. */
  readonly isolation?: IsolationLevel;

  /** Whether running `ledgerClaim` recorded the batch id (it was not recorded before). */
  claimed(result: StatementResult): boolean {
    return result.records.length > 0;
  }

  ledgerSchema(table: string): string {
    return (
      `CREATE TABLE IF NOT EXISTS ${this.escape(table)} (` +
      `${this.escape('batch_id')} varchar(200) NOT NULL PRIMARY KEY, ` +
      `${this.escape('applied_at')} ${this.epochType} NOT NULL, ` +
      `${this.escape('missed')} text NULL)`
    );
  }

  /** Adds the `missed` column to a ledger created before it existed. */
  ledgerAddMissed(table: string): string {
    return `ALTER TABLE ${this.escape(table)} ADD COLUMN ${this.escape('missed')} text NULL`;
  }

  /** Records a batch id; returns a row only if it was not recorded before. */
  ledgerClaim(table: string, batchId: string, at: number): Statement {
    return {
      sql:
        `INSERT INTO ${this.escape(table)} (${this.escape('batch_id')}, ${this.escape('applied_at')}) ` +
        `VALUES (${this.placeholder(0)}, ${this.placeholder(1)}) ON CONFLICT (${this.escape('batch_id')}) DO NOTHING ` +
        `RETURNING ${this.escape('batch_id')}`,
      params: [batchId, at],
    };
  }

  /** Sets a recorded batch's `missed` column. */
  ledgerSetMissed(table: string, batchId: string, missed: string): Statement {
    return {
      sql: `UPDATE ${this.escape(table)} SET ${this.escape('missed')} = ${this.placeholder(0)} WHERE ${this.escape('batch_id')} = ${this.placeholder(1)}`,
      params: [missed, batchId],
    };
  }

  /** The `applied_at` and `missed` columns of one recorded id. */
  ledgerRead(table: string, batchId: string): Statement {
    return {
      sql:
        `SELECT ${this.escape('applied_at')} AS ${this.escape('applied_at')}, ${this.escape('missed')} AS ${this.escape('missed')} ` +
        `FROM ${this.escape(table)} WHERE ${this.escape('batch_id')} = ${this.placeholder(0)}`,
      params: [batchId],
    };
  }

  /** Deletes batch ids recorded before `before` (never the format row, `keep`). */
  ledgerPrune(table: string, before: number, keep: string): Statement {
    return {
      sql:
        `DELETE FROM ${this.escape(table)} WHERE ${this.escape('applied_at')} < ${this.placeholder(0)} ` +
        `AND ${this.escape('batch_id')} <> ${this.placeholder(1)}`,
      params: [before, keep],
    };
  }

  /** Multi-row INSERTs, in order; consecutive rows naming the same columns share a statement. */
  inserts(entity: BufferedEntity, rows: StoredRow[]): Statement[] {
    const statements: Statement[] = [];
    const table = this.table(entity);
    for (const run of runsOfSameColumns(rows)) {
      const columns = run.names.map((name) => entity.column(name).metadata);
      if (columns.length === 0) {
        for (let i = 0; i < run.rows.length; i++) {
          statements.push({ sql: this.defaultRowInsert(table), params: [] });
        }
        continue;
      }
      const list = columns.map((c) => this.escape(c.databaseName)).join(', ');
      for (const chunk of chunks(run.rows, this.maxRows(columns.length))) {
        const params: unknown[] = [];
        const values = run.names.map((name) => chunk.map((row) => row[name]));
        statements.push({ sql: this.insertSql(table, list, columns, values, params), params });
      }
    }
    return statements;
  }

  /** UPDATEs setting columns; rows setting the same columns share a statement. */
  updates(entity: BufferedEntity, rows: Array<[RowKey, StoredRow]>): KeyedStatement[] {
    type Group = { names: string[]; rows: Array<[RowKey, StoredRow]> };
    const groups = new Map<string, Group>();
    let last: Group | undefined;
    for (const row of rows) {
      // Rows usually set the same columns as the row before: no sort, no lookup.
      if (!last || !namesExactly(row[1], last.names)) {
        const names = Object.keys(row[1]).sort();
        const id = names.join('\u0000');
        last = groups.get(id);
        if (!last) groups.set(id, (last = { names, rows: [] }));
      }
      last.rows.push(row);
    }
    const statements: KeyedStatement[] = [];
    const assign = this.mergedAssign(entity);
    for (const group of groups.values()) {
      statements.push(...this.keyedUpdates(entity, group.names, group.rows, assign));
    }
    return statements;
  }

  /** UPDATEs adding deltas (a `NULL` cell counts as 0), one per table and chunk. */
  counters(
    entity: BufferedEntity,
    rows: Array<[RowKey, Record<string, number>]>,
  ): KeyedStatement[] {
    const columns = new Set<string>();
    for (let i = 0; i < rows.length; i++) for (const name in rows[i][1]) columns.add(name);
    const names = [...columns].sort();
    // A row without a delta for one of the columns binds NULL there, which
    // leaves the column as it is (a NULL stays NULL).
    return this.keyedUpdates(
      entity,
      names,
      rows,
      (column, value) => {
        const held = `${this.escape('t')}.${column}`;
        return `COALESCE(COALESCE(${held}, 0) + ${value}, ${held})`;
      },
      null,
    );
  }

  /**
   * Upserts adding deltas, one per table and chunk, for an entity with
   * `onMissingRow: 'insert'`: a row that does not exist is created with its
   * column defaults, each counter at its default plus the delta; an existing
   * row adds the delta (`NULL` counts as 0), as `counters` would. A nullable
   * column a row has no delta in must stay as it is (a `NULL` stays `NULL`),
   * and is left to the database's default in a row it creates, so rows
   * share a statement when they count the same nullable columns.
   */
  upsertCounters(
    entity: BufferedEntity,
    rows: Array<[RowKey, Record<string, number>]>,
  ): KeyedStatement[] {
    const columns = new Set<string>();
    for (let i = 0; i < rows.length; i++) for (const name in rows[i][1]) columns.add(name);
    const names = [...columns].sort();
    const nullable = names.filter((name) => entity.column(name).metadata.isNullable);
    if (nullable.length === 0) return this.upserts(entity, names, rows, true, names);
    const groups = new Map<string, Array<[RowKey, StoredRow]>>();
    for (const row of rows) {
      const id = nullable.map((name) => (name in row[1] ? 1 : 0)).join('');
      let group = groups.get(id);
      if (!group) groups.set(id, (group = []));
      group.push(row);
    }
    return [...groups].flatMap(([id, group]) => {
      const set = names.filter(
        (name) => !nullable.includes(name) || id[nullable.indexOf(name)] === '1',
      );
      // A created row leaves out what its group counts of no row: the database's default (NULL).
      return this.upserts(entity, set, group, true, set);
    });
  }

  /**
   * Upserts setting columns, for an entity with `onMissingRow: 'insert'`:
   * a row that does not exist is created with the set values and the
   * defaults of its other columns. Rows setting the same columns share a
   * statement.
   */
  upsertUpdates(entity: BufferedEntity, rows: Array<[RowKey, StoredRow]>): KeyedStatement[] {
    const groups = new Map<string, { names: string[]; rows: Array<[RowKey, StoredRow]> }>();
    for (const row of rows) {
      const names = Object.keys(row[1]).sort();
      const id = names.join('\u0000');
      let group = groups.get(id);
      if (!group) groups.set(id, (group = { names, rows: [] }));
      group.rows.push(row);
    }
    return [...groups.values()].flatMap((group) =>
      this.upserts(entity, group.names, group.rows, false, group.names),
    );
  }

  /**
   * Reads one cell together with which of `batchIds` the ledger holds, in
   * one statement, so both come from the same snapshot. Rows:
   * `{ kind: 0, value }` for the cell, `{ kind: 1, value: batchId }` per
   * applied batch.
   */
  readCell(
    entity: BufferedEntity,
    key: RowKey,
    column: string,
    ledger: string,
    batchIds: string[],
  ): Statement {
    const t = this.escape('t');
    const params: unknown[] = [];
    const bind = (value: unknown) => this.placeholder(params.push(value) - 1);
    const where = entity.primary
      .map(
        (c, i) =>
          `${t}.${this.escape(c.metadata.databaseName)} = ${bind(entity.keyValues(key)[i])}`,
      )
      .join(' AND ');
    let sql =
      `SELECT 0 AS ${this.escape('kind')}, ${this.asText(`${t}.${this.escape(entity.column(column).metadata.databaseName)}`)} AS ${this.escape('value')} ` +
      `FROM ${this.table(entity)} ${t} WHERE ${where}`;
    if (batchIds.length) {
      sql +=
        ` UNION ALL SELECT 1, ${this.ledgerIdText(this.escape('batch_id'))} FROM ${this.escape(ledger)} ` +
        `WHERE ${this.escape('batch_id')} IN (${batchIds.map(bind).join(', ')})`;
    }
    return { sql, params };
  }

  /**
   * `readCell` for many rows: the cells of `columns` of the rows `keys`,
   * together with which of `batchIds` the ledger holds, one statement per
   * chunk of keys (each answers the ledger in its own snapshot, so each
   * row is exact with the answer of its own statement). Rows:
   * `{ kind: 0, n, c0, c1, … }` per row found (`n` the 1-based position of
   * its key in the statement's `keys`, `c<i>` the text of `columns[i]`), `{ kind: 1,
   * n: 0, c0: batchId }` per applied batch.
   */
  readCells(
    entity: BufferedEntity,
    keys: RowKey[],
    columns: string[],
    ledger: string,
    batchIds: string[],
  ): KeyedStatement[] {
    // Room for the batch ids: they are bound in every chunk.
    const size = Math.max(1, this.maxRows(entity.primary.length + 1) - batchIds.length);
    const statements: KeyedStatement[] = [];
    for (const chunk of chunks(keys, size)) {
      const params: unknown[] = [];
      const source = this.keysToRead(entity, chunk, params);
      // A list read builds the same statement again and again: kept, by
      // what its text depends on, when the keys' text does not grow with
      // their number (arrays bound whole; not a `VALUES` list).
      const id = `${ledger}\u0001${columns.join('\u0000')}\u0001${batchIds.length}\u0001${source.sql}`;
      const keep = source.sql.length <= MAX_KEPT_SOURCE_LENGTH;
      let kept = this.readStatements.get(entity);
      let sql = keep ? kept?.get(id) : undefined;
      if (sql === undefined) {
        sql = this.readCellsSql(entity, columns, source, params.length, ledger, batchIds.length);
        if (keep) {
          if (!kept) this.readStatements.set(entity, (kept = new Map()));
          if (kept.size >= MAX_KEPT_READ_STATEMENTS) kept.clear();
          kept.set(id, sql);
        }
      }
      params.push(...batchIds);
      statements.push({ sql, params, entity, keys: chunk });
    }
    return statements;
  }

  private readonly readStatements = new WeakMap<BufferedEntity, Map<string, string>>();

  /** `readCells`' statement of keys bound as `source` (`bound` parameters), then `batches` batch ids. */
  private readCellsSql(
    entity: BufferedEntity,
    columns: string[],
    source: RowSource,
    bound: number,
    ledger: string,
    batches: number,
  ): string {
    const [t, v] = [this.escape('t'), this.escape('v')];
    const cells = columns.map(
      (column) => `${t}.${this.escape(entity.column(column).metadata.databaseName)}`,
    );
    const on = entity.primary
      .map((c, i) => `${t}.${this.escape(c.metadata.databaseName)} = ${v}.${source.names[i]}`)
      .join(' AND ');
    const ids = Array.from({ length: batches }, (_, i) => this.placeholder(bound + i));
    return this.cellsSql(
      `${v}.${source.ordinal}`,
      cells,
      `${source.sql} JOIN ${this.table(entity)} ${t} ON ${on}`,
      batches
        ? `${this.escape(ledger)} WHERE ${this.escape('batch_id')} IN (${ids.join(', ')})`
        : undefined,
    );
  }

  /**
   * `readCells`' statement: the cells (`cells`, expressions) of the rows of
   * `from`, each with its key's position (`ordinal`), and, when `ledger`
   * (a FROM … WHERE of the ledger), the ids of the applied batches. Rows:
   * `{ kind: 0, n, c0, c1, … }` per row found (`c<i>` the text of
   * `cells[i]`), `{ kind: 1, n: 0, c0: batchId }` per applied batch.
   */
  protected cellsSql(ordinal: string, cells: string[], from: string, ledger?: string): string {
    const names = cells.map((_, i) => this.escape(`c${i}`));
    const select = cells.map((cell, i) => `${this.asText(cell)} AS ${names[i]}`);
    let sql =
      `SELECT 0 AS ${this.escape('kind')}, ${ordinal} AS ${this.escape('n')}, ${select.join(', ')} ` +
      `FROM ${from}`;
    if (ledger) {
      const nulls = names.slice(1).map(() => ', NULL');
      sql += ` UNION ALL SELECT 1, 0, ${this.ledgerIdText(this.escape('batch_id'))}${nulls.join('')} FROM ${ledger}`;
    }
    return sql;
  }

  /**
   * The result of a `readCells` statement: per row found, `[n, c0, c1, …]`
   * (`n` the 1-based position of its key in the statement's `keys`), and
   * the ids of the applied batches.
   */
  cellsRead(
    records: Array<Record<string, unknown>>,
    columns: number,
  ): { rows: unknown[][]; applied: unknown[] } {
    const rows: unknown[][] = [];
    const applied: unknown[] = [];
    for (const record of records) {
      if (Number(record.kind) === 1) {
        applied.push(record.c0);
        continue;
      }
      const row: unknown[] = [Number(record.n)];
      for (let c = 0; c < columns; c++) row.push(record[`c${c}`]);
      rows.push(row);
    }
    return { rows, applied };
  }

  /**
   * The 1-based positions `n` of the `keys` no row has (for databases whose
   * UPDATE does not name the rows it matched; see `unmatchedByCount`).
   */
  protected missingRows(entity: BufferedEntity, keys: RowKey[]): Statement {
    const params: unknown[] = [];
    const source = this.numberedKeys(entity, keys, params);
    const [t, v] = [this.escape('t'), this.escape('v')];
    const where = entity.primary
      .map((c, i) => `${t}.${this.escape(c.metadata.databaseName)} = ${v}.${source.names[i]}`)
      .join(' AND ');
    return {
      sql:
        `SELECT ${v}.${source.ordinal} AS ${this.escape('n')} FROM ${source.sql} ` +
        `WHERE NOT EXISTS (SELECT 1 FROM ${this.table(entity)} AS ${t} WHERE ${where})`,
      params,
    };
  }

  /**
   * A derived table `v` of the primary values of `keys`, with a column
   * (`ordinal`) of each key's 1-based position; appends to `params`.
   */
  protected numberedKeys(entity: BufferedEntity, keys: RowKey[], params: unknown[]): RowSource {
    const primary = entity.primary.map((c) => c.metadata);
    return this.rowSource(primary, entity.keyColumns(keys), params, true);
  }

  /** The keys `readCells` looks up, as `numberedKeys`. */
  protected keysToRead(entity: BufferedEntity, keys: RowKey[], params: unknown[]): RowSource {
    return this.numberedKeys(entity, keys, params);
  }

  /** A multi-row INSERT of rows given column by column (`values[c][r]`); appends to `params`. */
  protected insertSql(
    table: string,
    list: string,
    columns: ColumnMetadata[],
    values: unknown[][],
    params: unknown[],
  ): string {
    return `INSERT INTO ${table} (${list}) SELECT * FROM ${this.rowSource(columns, values, params).sql}`;
  }

  /** An INSERT of one row with every column at its default. */
  protected defaultRowInsert(table: string): string {
    return `INSERT INTO ${table} DEFAULT VALUES`;
  }

  /**
   * The UPDATE of `table` (aliased `t`) joined with the rows of `source`
   * on `on`, setting `set`.
   */
  protected updateJoin(table: string, set: string, source: RowSource, on: string): string {
    return `UPDATE ${table} AS ${this.escape('t')} SET ${set} FROM ${source.sql} WHERE ${on}`;
  }

  /** The table an upsert inserts into, aliased `t` where the SET names it so. */
  protected upsertInto(table: string): string {
    return `${table} AS ${this.escape('t')}`;
  }

  /**
   * How a value of `column` is bound in a `VALUES` list: a function that
   * appends it to `params` and returns its placeholder (a cast where the
   * driver's binding needs one). A dialect that defines it gets its
   * upserts' rows as a `VALUES` list, as a hand-written upsert binds them;
   * the others select them from `rowSource`.
   */
  protected cellBinder?(column: ColumnMetadata): CellBinder;

  /**
   * The rows an upsert inserts, given column by column (`values[c][r]`),
   * each cell plus the literal `addends[c]` unless that is 0; appends to
   * `params`.
   */
  private upsertRows(
    columns: ColumnMetadata[],
    values: unknown[][],
    params: unknown[],
    addends: number[],
  ): string {
    const plus = addends.map((addend) => (addend ? ` + (${addend})` : ''));
    if (!this.cellBinder) {
      const source = this.rowSource(columns, values, params);
      const select = source.names.map((name, c) => `${this.escape('v')}.${name}${plus[c]}`);
      return `SELECT ${select.join(', ')} FROM ${source.sql}`;
    }
    const binders = columns.map((column) => this.cellBinder!(column));
    // Ten thousand rows and more: one string built as it goes.
    let sql = 'VALUES ';
    for (let r = 0; r < values[0].length; r++) {
      sql += r ? ', (' : '(';
      for (let c = 0; c < columns.length; c++) {
        sql += (c ? ', ' : '') + binders[c](values[c][r], params) + plus[c];
      }
      sql += ')';
    }
    return sql;
  }

  /** What follows an upsert's rows: on a conflict of `keys`, `set`. */
  protected upsertConflict(keys: string, set: string): string {
    return `ON CONFLICT (${keys}) DO UPDATE SET ${set}`;
  }

  /** In an upsert's SET, the value a column of the existing row holds. */
  protected upsertCurrent(column: string): string {
    return `${this.escape('t')}.${column}`;
  }

  /** In an upsert's SET, the value the INSERT would have given a column. */
  protected upsertIncoming(column: string): string {
    return `excluded.${column}`;
  }

  /** `expression` as text. */
  protected asText(expression: string): string {
    return `CAST(${expression} AS TEXT)`;
  }

  /** The ledger's `batch_id` column as text of the same type as `asText`'s, to be unioned with it. */
  protected ledgerIdText(column: string): string {
    return column;
  }

  protected escape(name: string): string {
    return this.dataSource.driver.escape(name);
  }

  protected table(entity: BufferedEntity): string {
    const { schema, tableName } = entity.metadata;
    return (schema ? `${this.escape(schema)}.` : '') + this.escape(tableName);
  }

  /** The SQL type name TypeORM gives a column, for casts. */
  protected typeOf(column: ColumnMetadata): string {
    return this.dataSource.driver.normalizeType(column);
  }

  /**
   * Upserts of `names` for `rows`, one per chunk. Counters insert their
   * column's default plus the delta (0 where a row has none) and add, on a
   * conflict, what the insert would have added to the default; updates set
   * the value. On a conflict, only the columns `set` change.
   */
  private upserts(
    entity: BufferedEntity,
    names: string[],
    rows: Array<[RowKey, StoredRow]>,
    counters: boolean,
    set: string[],
  ): KeyedStatement[] {
    const keys = entity.primary.map((c) => c.metadata);
    const columns = names.map((name) => entity.column(name).metadata);
    // Finite numbers from the entity's metadata: safe to write as literals.
    const defaults = names.map((name) => (counters ? entity.defaultNumber(name) : 0));
    const escaped = [...keys, ...columns].map((c) => this.escape(c.databaseName));
    // A max/min column keeps the greater (lesser) of the row's value and the buffered one.
    const merged = this.mergedAssign(entity, (column) => this.upsertCurrent(column));
    const statements: KeyedStatement[] = [];
    for (const chunk of chunks(rows, this.maxRows(escaped.length))) {
      const params: unknown[] = [];
      const rowKeys = chunk.map((row) => row[0]);
      const values = this.upsertRows(
        [...keys, ...columns],
        [
          ...entity.keyColumns(rowKeys),
          ...names.map((name) =>
            chunk.map((row): StoredValue => (name in row[1] ? row[1][name] : 0)),
          ),
        ],
        params,
        [...keys.map(() => 0), ...defaults],
      );
      const assignments = names.flatMap((name, i) => {
        if (!set.includes(name)) return [];
        const column = escaped[keys.length + i];
        const incoming = this.upsertIncoming(column);
        if (!counters) return `${column} = ${merged(column, incoming)}`;
        const delta = defaults[i] ? `(${incoming} - (${defaults[i]}))` : incoming;
        return `${column} = COALESCE(${this.upsertCurrent(column)}, 0) + ${delta}`;
      });
      const conflict = this.upsertConflict(
        escaped.slice(0, keys.length).join(', '),
        assignments.join(', '),
      );
      statements.push({
        sql:
          `INSERT INTO ${this.upsertInto(this.table(entity))} (${escaped.join(', ')}) ` +
          `${values} ${conflict}`,
        params,
        entity,
        keys: rowKeys,
      });
    }
    return statements;
  }

  /**
   * How `updates` sets a column (escaped): to the buffered value, or, for a
   * column the entity merges with max/min (`forFeature`'s `merge`), to the
   * greater (lesser) of it and the table's value, `NULL` counting as
   * absent, in the same statement.
   */
  protected mergedAssign(
    entity: BufferedEntity,
    current: (column: string) => string = (column) => `${this.escape('t')}.${column}`,
  ): (column: string, value: string) => string {
    const rules = new Map(
      Object.entries(entity.settings.merge).map(([name, rule]) => [
        this.escape(entity.column(name).metadata.databaseName),
        rule === 'max' ? '>' : '<',
      ]),
    );
    if (rules.size === 0) return (_column, value) => value;
    return (column, value) => {
      const beats = rules.get(column);
      if (!beats) return value;
      const held = current(column);
      return (
        `CASE WHEN ${value} IS NULL THEN ${held} ` +
        `WHEN ${held} IS NULL OR ${value} ${beats} ${held} THEN ${value} ELSE ${held} END`
      );
    };
  }

  private keyedUpdates(
    entity: BufferedEntity,
    names: string[],
    rows: Array<[RowKey, StoredRow]>,
    assign: (column: string, value: string) => string,
    absent?: StoredValue,
  ): KeyedStatement[] {
    const keys = entity.primary.map((c) => c.metadata);
    const columns = names.map((name) => entity.column(name).metadata);
    const t = this.escape('t');
    const statements: KeyedStatement[] = [];
    for (const chunk of chunks(rows, this.maxRows(keys.length + columns.length))) {
      const params: unknown[] = [];
      // Indexing, not destructuring: these run once per row.
      const rowKeys = chunk.map((row) => row[0]);
      const source = this.rowSource(
        [...keys, ...columns],
        [
          ...entity.keyColumns(rowKeys),
          ...names.map((name) =>
            chunk.map((row): StoredValue => (name in row[1] ? row[1][name] : absent!)),
          ),
        ],
        params,
        true,
      );
      const v = (i: number) => `${this.escape('v')}.${source.names[i]}`;
      const set = columns
        .map(
          (c, i) =>
            `${this.escape(c.databaseName)} = ${assign(this.escape(c.databaseName), v(keys.length + i))}`,
        )
        .join(', ');
      const where = keys
        .map((c, i) => `${t}.${this.escape(c.databaseName)} = ${v(i)}`)
        .join(' AND ');
      const update = this.updateJoin(this.table(entity), set, source, where);
      statements.push({
        sql: this.keyedUpdateSql(update, source, chunk.length),
        params,
        entity,
        keys: rowKeys,
      });
    }
    return statements;
  }
}

function runsOfSameColumns(rows: StoredRow[]): Array<{ names: string[]; rows: StoredRow[] }> {
  const runs: Array<{ names: string[]; rows: StoredRow[] }> = [];
  for (const row of rows) {
    const last = runs[runs.length - 1];
    if (last && namesExactly(row, last.names)) last.rows.push(row);
    else runs.push({ names: Object.keys(row).sort(), rows: [row] });
  }
  return runs;
}

/** Whether `row` has exactly the properties `names` (without sorting its keys). */
function namesExactly(row: StoredRow, names: string[]): boolean {
  return countColumns(row) === names.length && names.every((name) => Object.hasOwn(row, name));
}

function chunks<T>(items: T[], size: number): T[][] {
  const result: T[][] = [];
  for (let i = 0; i < items.length; i += size) result.push(items.slice(i, i + size));
  return result;
}
