import { Inject, Injectable } from '@nestjs/common';
import { DiscoveryService, ModuleRef } from '@nestjs/core';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { WriteBufferConfigError } from './errors.js';
import { EntityCatalog } from './metadata/entity-catalog.js';
import { resolveEntitySettings, WriteBufferFeature } from './metadata/entity-settings.js';
import { createDialect } from './sql/create-dialect.js';
import type { SqlDialect } from './sql/sql-dialect.js';
import {
  WRITE_BUFFER_RESOLVED_OPTIONS,
  type ResolvedWriteBufferOptions,
} from './write-buffer-options.resolver.js';

interface Resolved {
  dataSources: Map<string, DataSource>;
  dialects: Map<string, SqlDialect>;
  catalog: EntityCatalog;
}

/**
 * The TypeORM data sources named by the `dataSource` option, their SQL
 * dialects and the catalog of their entities (with the settings
 * `WriteBufferModule.forFeature()` registered anywhere in the app). Looked up on first use (from
 * `onModuleInit` on), because Nest creates the modules' providers in
 * parallel: TypeORM's data sources may not exist yet while ours are built.
 */
@Injectable()
export class BufferedDataSources {
  private resolved?: Resolved;

  constructor(
    @Inject(WRITE_BUFFER_RESOLVED_OPTIONS) private readonly options: ResolvedWriteBufferOptions,
    private readonly moduleRef: ModuleRef,
    private readonly discovery: DiscoveryService,
  ) {}

  /** Data sources by name; throws a `WriteBufferConfigError` for a name the app does not have. */
  get all(): ReadonlyMap<string, DataSource> {
    return (this.resolved ??= this.resolve()).dataSources;
  }

  /** The entities of every data source. */
  get catalog(): EntityCatalog {
    return (this.resolved ??= this.resolve()).catalog;
  }

  /** The SQL dialect of the data source `name`. */
  dialect(name: string): SqlDialect {
    return (this.resolved ??= this.resolve()).dialects.get(name)!;
  }

  private resolve(): Resolved {
    const dataSources = new Map<string, DataSource>();
    const dialects = new Map<string, SqlDialect>();
    for (const name of this.options.dataSources) {
      let dataSource: DataSource;
      try {
        dataSource = this.moduleRef.get<DataSource>(getDataSourceToken(name) as string, {
          strict: false,
        });
      } catch (error) {
        throw WriteBufferConfigError.dataSourceNotFound(name, error);
      }
      dataSources.set(name, dataSource);
      dialects.set(name, createDialect(name, dataSource));
    }
    const features = this.discovery
      .getProviders()
      .map((wrapper) => wrapper.instance as unknown)
      .filter((instance) => instance instanceof WriteBufferFeature);
    const defaults = {
      onMissingRow: this.options.onMissingRow,
      maxBatchRows: this.options.flush.maxBatchRows,
      merge: {},
    };
    const settings = resolveEntitySettings(features, dataSources, defaults);
    return { dataSources, dialects, catalog: new EntityCatalog(dataSources, settings, defaults) };
  }
}
