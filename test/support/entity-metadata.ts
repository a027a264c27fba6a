import { DataSource, type EntitySchema, type EntityTarget, type ObjectLiteral } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';

type Entities = Array<EntitySchema | (new () => object)>;

/**
 * TypeORM metadata of `entities` on a data source of one driver, for unit
 * specs of what the library derives from metadata. SQLite is a real
 * in-memory database with the entities' tables; PostgreSQL and MariaDB are data sources that never connect
 * (TypeORM builds metadata from the driver alone), so no server is needed.
 * `close()` releases the SQLite database.
 */
export async function metadataSource(
  kind: 'sqlite' | 'postgres' | 'mariadb',
  entities: Entities,
): Promise<{ dataSource: DataSource; close(): Promise<void> }> {
  if (kind === 'sqlite') {
    const dataSource = await new DataSource({
      type: 'better-sqlite3',
      database: ':memory:',
      entities,
      synchronize: true,
    }).initialize();
    return { dataSource, close: () => dataSource.destroy() };
  }
  const dataSource = new DataSource(
    kind === 'mariadb' ? { type: kind, database: 'metadata', entities } : { type: kind, entities },
  );
  // What `initialize()` does after connecting; it needs no connection.
  await (dataSource as unknown as { buildMetadatas(): Promise<void> }).buildMetadatas();
  return { dataSource, close: async () => undefined };
}

/** One column's metadata, by property name. */
export function columnOf(
  dataSource: DataSource,
  entity: EntityTarget<ObjectLiteral>,
  property: string,
): ColumnMetadata {
  const column = dataSource.getMetadata(entity).findColumnWithPropertyPath(property);
  if (!column) throw new Error(`No column ${property}`);
  return column;
}
