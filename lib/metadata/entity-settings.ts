import type { DataSource, EntityMetadata } from 'typeorm';
import { UnknownEntityError, WriteBufferConfigError } from '../errors.js';
import { tableId } from '../storage/table-id.js';
import { columnKind, isNumericKind, numericDefault } from './column-kind.js';
import { resolveMerge } from './column-merge.js';
import type {
  ColumnMergeRule,
  WriteBufferEntityOptions,
} from '../write-buffer-options.interface.js';
import { count, oneOf, WRITE_BUFFER_DEFAULTS } from '../write-buffer-options.resolver.js';

/**
 * The settings one entity's writes follow: the module's options, with what
 * `WriteBufferModule.forFeature()` gave for the entity on top.
 */
export interface EntitySettings {
  /** `'insert'`: counters and updates are upserts that create missing rows. */
  readonly onMissingRow: 'dead-letter' | 'drop' | 'insert';
  /** Most entries of the entity's table one batch claims. */
  readonly maxBatchRows: number;
  /** Columns whose updates merge with max/min instead of last write wins. */
  readonly merge: Readonly<Record<string, ColumnMergeRule>>;
}

/** The settings of an entity in a module with default options. */
export const DEFAULT_ENTITY_SETTINGS: EntitySettings = {
  onMissingRow: 'dead-letter',
  maxBatchRows: WRITE_BUFFER_DEFAULTS.flush.maxBatchRows,
  merge: {},
};

/** The entity settings `WriteBufferModule.forFeature()` registers (one per call). */
export class WriteBufferFeature {
  constructor(readonly entities: readonly WriteBufferEntityOptions[]) {}
}

/**
 * Options `forFeature` takes per entity, each with the check of its value
 * (which throws naming the option) and where it goes in the settings.
 */
const ENTITY_OPTIONS: Record<
  Exclude<keyof WriteBufferEntityOptions, 'entity'>,
  (option: string, value: unknown, metadata: EntityMetadata) => Partial<EntitySettings>
> = {
  onMissingRow: (option, value) => ({
    onMissingRow: oneOf(option, value, ['dead-letter', 'drop', 'insert']),
  }),
  maxBatchRows: (option, value) => ({ maxBatchRows: count(option, value, 1, 'entries') }),
  merge: (option, value, metadata) => ({ merge: resolveMerge(option, value, metadata) }),
};

/**
 * Checks every entity given to `forFeature()` against the data sources and
 * resolves its settings, keyed by {@link tableId}. An entity no data source
 * has, an option it does not take, a value that cannot work, or two
 * registrations of one entity that disagree fail with a
 * `WriteBufferConfigError` (or `UnknownEntityError`) naming it.
 */
export function resolveEntitySettings(
  features: readonly WriteBufferFeature[],
  dataSources: ReadonlyMap<string, DataSource>,
  defaults: EntitySettings,
): Map<string, EntitySettings> {
  const settings = new Map<string, EntitySettings>();
  const given = new Map<string, string>();
  for (const feature of features) {
    if (!Array.isArray(feature.entities)) {
      throw WriteBufferConfigError.option(
        'WriteBufferModule.forFeature()',
        feature.entities,
        'an array of { entity, ...settings }',
      );
    }
    for (const entry of feature.entities) {
      if (entry === null || typeof entry !== 'object' || !('entity' in entry)) {
        throw WriteBufferConfigError.option(
          'WriteBufferModule.forFeature()',
          entry,
          'an array of { entity, ...settings }',
        );
      }
      const { name, metadata } = locate(entry.entity, dataSources);
      const resolved: Record<string, unknown> = { ...defaults };
      for (const [option, value] of Object.entries(entry)) {
        if (option === 'entity' || value === undefined) continue;
        const check = ENTITY_OPTIONS[option as keyof typeof ENTITY_OPTIONS];
        if (!Object.hasOwn(ENTITY_OPTIONS, option)) {
          throw WriteBufferConfigError.entityOption(
            metadata.name,
            option,
            Object.keys(ENTITY_OPTIONS),
          );
        }
        Object.assign(resolved, check(`forFeature(${metadata.name}).${option}`, value, metadata));
      }
      if (resolved.onMissingRow === 'insert') assertInsertable(metadata);
      const id = tableId(name, metadata.tablePath);
      const text = JSON.stringify(resolved, (_, v: unknown) => (v instanceof Map ? [...v] : v));
      if (given.has(id) && given.get(id) !== text) {
        throw WriteBufferConfigError.entitySettingsConflict(metadata.name);
      }
      given.set(id, text);
      settings.set(id, resolved as unknown as EntitySettings);
    }
  }
  return settings;
}

/**
 * Refuses `onMissingRow: 'insert'` for an entity a flush could not create a
 * row of: one with a non-key column that is NOT NULL without a database
 * default (a version column, and on SQLite and MySQL/MariaDB a generated
 * uuid, are set by TypeORM, not by the database), or with a numeric column
 * whose default it cannot know (see `assertDefaultsKnown`).
 */
function assertInsertable(metadata: EntityMetadata): void {
  const driver = metadata.connection.options.type;
  const required = metadata.columns
    .filter(
      (c) =>
        !c.isPrimary &&
        !c.isVirtual &&
        !c.isNullable &&
        c.default === undefined &&
        c.asExpression === undefined &&
        !(c.isGenerated && (c.generationStrategy !== 'uuid' || driver === 'postgres')) &&
        !c.isCreateDate &&
        !c.isUpdateDate &&
        !c.isDeleteDate,
    )
    .map((c) => c.propertyPath);
  if (required.length) throw WriteBufferConfigError.notUpsertable(metadata.name, required);
  assertDefaultsKnown(metadata);
  const always = metadata.primaryColumns.filter((c) => c.generatedIdentity === 'ALWAYS');
  if (always.length) {
    throw WriteBufferConfigError.upsertRefused(
      metadata.name,
      `its key ${always.map((c) => `'${c.propertyPath}'`).join(', ')} is GENERATED ALWAYS AS IDENTITY, so the database refuses the key an upsert inserts`,
      "generatedIdentity 'BY DEFAULT'",
    );
  }
  if (driver === 'mysql' || driver === 'mariadb') {
    const keys = metadata.primaryColumns
      .map((c) => c.propertyPath)
      .sort()
      .join();
    const unique = [...metadata.indices.filter((i) => i.isUnique), ...metadata.uniques]
      .map((i) => i.columns.map((c) => c.propertyPath))
      .find((columns) => [...columns].sort().join() !== keys);
    if (unique) {
      throw WriteBufferConfigError.upsertRefused(
        metadata.name,
        `ON DUPLICATE KEY UPDATE would add to (or overwrite) the row its unique index on ${unique.map((c) => `'${c}'`).join(', ')} matches instead of creating the row`,
        'no unique index but the primary key',
      );
    }
  }
}

/**
 * `get()` counts a row a flush would create at its defaults, so every
 * numeric column's must be a number the column holds exactly: refuses an
 * SQL expression (a generated number, such as a serial's `nextval()`,
 * counts as one) and a default the database would round.
 */
function assertDefaultsKnown(metadata: EntityMetadata): void {
  const unknown: string[] = [];
  const rounded: string[] = [];
  for (const c of metadata.columns) {
    if (c.isPrimary || c.isVirtual || c.isArray || c.asExpression !== undefined) continue;
    const kind = columnKind(metadata.connection, c);
    if (!isNumericKind(kind)) continue;
    const value = numericDefault(c.default);
    if ((c.isGenerated && c.generationStrategy !== 'uuid') || value === undefined) {
      const declared: unknown = typeof c.default === 'function' ? c.default() : c.default;
      unknown.push(`'${c.propertyPath}' (${c.isGenerated ? 'generated' : String(declared)})`);
      continue;
    }
    const scale = kind === 'integer' ? 0 : c.scale;
    if (value !== null && scale !== undefined && Number(value.toFixed(scale)) !== value) {
      rounded.push(`'${c.propertyPath}' (${value})`);
    }
  }
  const one = (list: string[]) => list.length === 1;
  if (unknown.length) {
    throw WriteBufferConfigError.upsertRefused(
      metadata.name,
      `the default of its numeric column${one(unknown) ? '' : 's'} ${unknown.join(', ')} is an SQL expression, ` +
        'so get() cannot tell what a row a flush creates starts at',
      'a number as default (default: 0)',
    );
  }
  if (rounded.length) {
    throw WriteBufferConfigError.upsertRefused(
      metadata.name,
      `the default${one(rounded) ? ' of its numeric column' : 's of its numeric columns'} ${rounded.join(', ')} ` +
        `${one(rounded) ? 'is' : 'are'} finer than the column holds, so the database rounds what get() counts as written`,
      'a default the column holds exactly',
    );
  }
}

/** The data source (first in the module's order) and metadata of an entity. */
function locate(
  entity: unknown,
  dataSources: ReadonlyMap<string, DataSource>,
): { name: string; metadata: EntityMetadata } {
  for (const [name, dataSource] of dataSources) {
    if (entity === undefined || entity === null) break;
    if (dataSource.hasMetadata(entity as never)) {
      return { name, metadata: dataSource.getMetadata(entity as never) };
    }
  }
  throw UnknownEntityError.of(entity, [...dataSources.keys()]);
}
