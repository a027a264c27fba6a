import type { DataSource, EntityTarget, ObjectLiteral } from 'typeorm';
import { UnknownEntityError } from '../errors.js';
import { tableId, tableIdOf } from '../storage/table-id.js';
import { BufferedEntity } from './buffered-entity.js';

/**
 * Resolves what users pass as `entity` (a class, an `EntitySchema`, or a
 * target name) to a {@link BufferedEntity}, once per entity.
 */
export class EntityCatalog {
  private readonly byTarget = new Map<unknown, BufferedEntity>();
  private readonly byTable = new Map<string, BufferedEntity>();

  constructor(private readonly dataSources: ReadonlyMap<string, DataSource>) {}

  get(entity: EntityTarget<ObjectLiteral>): BufferedEntity {
    const known = this.byTarget.get(entity);
    if (known) return known;
    for (const [name, dataSource] of this.dataSources) {
      if (entity === undefined || entity === null || !dataSource.hasMetadata(entity)) continue;
      const metadata = dataSource.getMetadata(entity);
      const buffered =
        this.table(name, metadata.tablePath) ?? new BufferedEntity(dataSource, name, metadata);
      this.remember(buffered);
      this.byTarget.set(entity, buffered);
      return buffered;
    }
    throw UnknownEntityError.of(entity, [...this.dataSources.keys()]);
  }

  /** The entity a claimed batch names by (data source, table path). */
  table(dataSource: string, table: string): BufferedEntity | undefined {
    const key = tableId(dataSource, table);
    const known = this.byTable.get(key);
    if (known) return known;
    const source = this.dataSources.get(dataSource);
    const metadata = source?.entityMetadatas.find((m) => m.tablePath === table);
    if (!source || !metadata) return undefined;
    const buffered = new BufferedEntity(source, dataSource, metadata);
    this.remember(buffered);
    return buffered;
  }

  private remember(entity: BufferedEntity) {
    this.byTable.set(tableIdOf(entity.target), entity);
  }
}
