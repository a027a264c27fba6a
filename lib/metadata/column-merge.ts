import type { DataSource, EntityMetadata } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import { WriteBufferConfigError } from '../errors.js';
import type { StoredValue } from '../storage/buffer-batch.interface.js';
import type { ColumnMergeRule } from '../write-buffer-options.interface.js';
import { columnKind } from './column-kind.js';

/**
 * Why a column cannot merge its updates with max/min, or `undefined` when
 * it can: its values must compare exactly in JavaScript, in the storages'
 * scripts (as a double) and in SQL alike. Integers (values up to 2^53 are
 * checked on each update), floating-point numbers and instants
 * (`timestamp`, `timestamptz`, `datetime`) qualify; decimals (exact
 * strings), dates without a time, times, and columns a transformer
 * converts do not.
 */
export function mergeRefusal(dataSource: DataSource, column: ColumnMetadata): string | undefined {
  if (column.isPrimary) return 'it is a primary column';
  if (column.isArray) return 'it is an array column';
  if (column.transformer) return 'it has a transformer, so its stored values cannot be compared';
  if (column.isVersion || column.isGenerated || column.isCreateDate || column.isUpdateDate) {
    return 'TypeORM sets its values';
  }
  const kind = columnKind(dataSource, column);
  const type = dataSource.driver.normalizeType(column).toLowerCase();
  if (kind === 'integer') return undefined;
  if (kind === 'number') {
    return /decimal|numeric|money/.test(type)
      ? `its type '${type}' holds exact decimals, which cannot be compared as numbers exactly`
      : undefined;
  }
  if (kind === 'date') {
    if (!/timestamp|datetime/.test(type)) {
      return `its type '${type}' is not an instant (timestamp or datetime)`;
    }
    // MySQL and MariaDB keep whole seconds unless told otherwise; SQLite keeps milliseconds as text.
    const engine = dataSource.options.type;
    const precision = ['mysql', 'mariadb', 'aurora-mysql'].includes(engine)
      ? (column.precision ?? 0)
      : ['postgres', 'aurora-postgres', 'cockroachdb'].includes(engine)
        ? (column.precision ?? 6)
        : 3;
    return precision < 3
      ? `it keeps ${precision} fractional digits of a second, so the database would round the milliseconds get() reads: give it { precision: 3 }`
      : undefined;
  }
  return `its type '${type}' is not an integer, floating-point or timestamp type`;
}

/**
 * Checks `forFeature`'s `merge` option of an entity: an object naming
 * columns that can merge (see {@link mergeRefusal}), each with `'max'` or
 * `'min'`.
 */
export function resolveMerge(
  option: string,
  value: unknown,
  metadata: EntityMetadata,
): Record<string, ColumnMergeRule> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw WriteBufferConfigError.option(option, value, `an object such as { lastSeenAt: 'max' }`);
  }
  const dataSource = metadata.dataSource;
  const columns = metadata.columns.filter((c) => !c.isVirtual && !c.relationMetadata);
  const mergeable = columns
    .filter((c) => mergeRefusal(dataSource, c) === undefined)
    .map((c) => c.propertyPath);
  const rules: Record<string, ColumnMergeRule> = {};
  for (const [name, rule] of Object.entries(value as Record<string, unknown>)) {
    const column = columns.find((c) => c.propertyPath === name);
    const refusal = column ? mergeRefusal(dataSource, column) : 'it is not a column of the entity';
    if (refusal) throw WriteBufferConfigError.mergeColumn(metadata.name, name, refusal, mergeable);
    if (rule !== 'max' && rule !== 'min') {
      throw WriteBufferConfigError.option(`${option}.${name}`, rule, `'max' or 'min'`);
    }
    rules[name] = rule;
  }
  return rules;
}

/**
 * The number a merged column's stored value compares by (`null` for
 * `NULL`, which counts as absent): the number itself, or an instant's
 * milliseconds since the epoch. The value is read back as TypeORM reads
 * the column (SQLite keeps datetimes as UTC text).
 */
export function mergeRank(
  dataSource: DataSource,
  column: ColumnMetadata,
  value: StoredValue | undefined,
): number | null {
  if (value === null || value === undefined) return null;
  const hydrated: unknown = dataSource.driver.prepareHydratedValue(value, column);
  return hydrated instanceof Date ? hydrated.getTime() : Number(hydrated);
}
