import type { DataSource } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';

/** What a server reported: its current database and each string column's collation, by `schema.table.column`. */
const learnt = new WeakMap<DataSource, { current?: string; collations: Map<string, string> }>();

/**
 * Asks a MySQL/MariaDB server which collation each string column of the
 * data source's schemas has (an entity's primary columns among them), so keys are folded as the server
 * compares them (a column declared without a collation takes its table's,
 * which takes its database's). Does nothing on other databases; a table
 * that does not exist yet is left to the collation its metadata declares.
 */
export async function learnKeyCollations(dataSource: DataSource): Promise<void> {
  const { type } = dataSource.options;
  if (type !== 'mysql' && type !== 'mariadb') return;
  const [{ current }] = (await dataSource.query('SELECT DATABASE() AS current')) as Array<{
    current: string | null;
  }>;
  const schemas = [
    ...new Set(dataSource.entityMetadatas.map((m) => m.database ?? current).filter(Boolean)),
  ] as string[];
  const collations = new Map<string, string>();
  if (schemas.length) {
    const rows = (await dataSource.query(
      'SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t, COLUMN_NAME AS c, COLLATION_NAME AS collation ' +
        'FROM information_schema.COLUMNS ' +
        // Every string column: an entity's primary column need not be its table's (a unique one).
        `WHERE COLLATION_NAME IS NOT NULL AND TABLE_SCHEMA IN (${schemas.map(() => '?').join(', ')})`,
      schemas,
    )) as Array<{ s: string; t: string; c: string; collation: string }>;
    for (const row of rows) collations.set(`${row.s}.${row.t}.${row.c}`, row.collation);
  }
  learnt.set(dataSource, { current: current ?? undefined, collations });
}

/**
 * The collation `column` compares with: the one the server reported (see
 * {@link learnKeyCollations}; the table as it is wins over an entity a
 * migration has since left behind), else the one its metadata declares,
 * else undefined (unknown).
 */
export function keyCollation(dataSource: DataSource, column: ColumnMetadata): string | undefined {
  const { database, tableName } = column.entityMetadata;
  const server = learnt.get(dataSource);
  const reported = server?.collations.get(
    `${database ?? server.current}.${tableName}.${column.databaseName}`,
  );
  return reported ?? column.collation;
}
