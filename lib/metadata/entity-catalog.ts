import type { DataSource, EntityMetadata, EntityTarget, ObjectLiteral } from 'typeorm';
import { UnknownEntityError } from '../errors.js';
import { tableId, tableIdOf } from '../storage/table-id.js';
import { BufferedEntity } from './buffered-entity.js';
import { DEFAULT_ENTITY_SETTINGS, type EntitySettings } from './entity-settings.js';

/**
 * Resolves what users pass as `entity` (a class, an `EntitySchema`, or a
 * target name) to a {@link BufferedEntity}, once per entity.
 */
export class EntityCatalog {
  private readonly byTarget = new Map<unknown, BufferedEntity>();
  private readonly byTable = new Map<string, BufferedEntity>();

  /**
   * @param settings each entity's settings by {@link tableId}; entities
   * not in it follow `defaults`.
   */
  constructor(
    private readonly dataSources: ReadonlyMap<string, DataSource>,
    private readonly settings: ReadonlyMap<string, EntitySettings> = new Map(),
    private readonly defaults: EntitySettings = DEFAULT_ENTITY_SETTINGS,
  ) {}

  get(entity: EntityTarget<ObjectLiteral>): BufferedEntity {
    const known = this.byTarget.get(entity);
    if (known) return known;
    for (const [name, dataSource] of this.dataSources) {
      if (entity === undefined || entity === null || !dataSource.hasMetadata(entity)) continue;
      const metadata = dataSource.getMetadata(entity);
      const buffered =
        this.table(name, metadata.tablePath) ?? this.create(dataSource, name, metadata);
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
    const buffered = this.create(source, dataSource, metadata);
    this.remember(buffered);
    return buffered;
  }

  /**
   * The tables of a data source whose entity has a `maxBatchRows` other
   * than the module's, by table path (for `ClaimOptions.tableMaxRows`);
   * `undefined` when none has.
   */
  batchLimits(dataSource: string): Record<string, number> | undefined {
    let limits: Record<string, number> | undefined;
    for (const metadata of this.dataSources.get(dataSource)?.entityMetadatas ?? []) {
      const max = this.settings.get(tableId(dataSource, metadata.tablePath))?.maxBatchRows;
      if (max !== undefined && max !== this.defaults.maxBatchRows) {
        (limits ??= {})[metadata.tablePath] = max;
      }
    }
    return limits;
  }

  private create(source: DataSource, name: string, metadata: EntityMetadata): BufferedEntity {
    const settings = this.settings.get(tableId(name, metadata.tablePath)) ?? this.defaults;
    return new BufferedEntity(source, name, metadata, settings);
  }

  private remember(entity: BufferedEntity) {
    this.byTable.set(tableIdOf(entity.target), entity);
  }
}
