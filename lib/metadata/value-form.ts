import type { DataSource } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import type { ColumnKind } from './column-kind.js';
import {
  INVALID,
  canonicalDecimal,
  canonicalInteger,
  canonicalUuid,
  dialectOf,
  integerRange,
  isStandardUuid,
  isUuidColumn,
  keyForm,
  parseInstant,
} from './key-form.js';

/**
 * How the values written to one column are validated and prepared for the
 * database, so nothing is buffered that the flush could never write.
 */
export interface ValueForm {
  /** The value to prepare, or a call to `fail` naming what was expected. */
  check(value: unknown, fail: (expected: string) => never): unknown;
  /** The value as the database takes it (TypeORM's conversion, or an array's JSON text). */
  prepare(value: unknown): unknown;
}

type Check = (value: unknown, fail: (expected: string) => never) => unknown;

export function valueForm(
  dataSource: DataSource,
  column: ColumnMetadata,
  kind: ColumnKind,
): ValueForm {
  const element = elementCheck(dataSource, column, kind);
  if (column.isArray) {
    return {
      check: (value, fail) => {
        if (!Array.isArray(value)) fail('an array');
        return checkArray(value as unknown[], element, fail);
      },
      // Arrays are kept as JSON text; a dialect with array columns binds them.
      prepare: (value) => JSON.stringify(value),
    };
  }
  return {
    check: element,
    prepare: (value) => dataSource.driver.preparePersistentValue(value, column),
  };
}

/**
 * Checks the elements of an array column, at any depth: PostgreSQL arrays
 * are rectangular, and may hold NULL elements. Elements are converted to
 * the text the database reads for them where JSON would lose them (dates,
 * bytes, JSON documents).
 */
function checkArray(
  value: unknown[],
  element: Check,
  fail: (expected: string) => never,
): unknown[] {
  const shape = (item: unknown): string =>
    Array.isArray(item) ? `${item.length}[${item.length ? shape(item[0]) : ''}]` : '';
  const walk = (items: unknown[]): unknown[] => {
    const first = items.length ? shape(items[0]) : '';
    return items.map((item) => {
      if (shape(item) !== first) fail('a rectangular array (sub-arrays of matching dimensions)');
      if (Array.isArray(item)) return walk(item);
      return item === null ? null : element(item, fail);
    });
  };
  return walk(value);
}

function elementCheck(dataSource: DataSource, column: ColumnMetadata, kind: ColumnKind): Check {
  const dialect = dialectOf(dataSource);
  const postgres = dialect === 'postgres';
  const type = dataSource.driver.normalizeType(column).toLowerCase();
  const array = column.isArray;

  if (isUuidColumn(column) || type === 'uuid') {
    return (value, fail) => {
      const uuid =
        postgres || dialect === 'mysql'
          ? canonicalUuid(value)
          : isStandardUuid(value)
            ? value
            : undefined;
      return uuid ?? fail('a uuid string such as "123e4567-e89b-12d3-a456-426614174000"');
    };
  }
  const enumValues = column.enum?.map(String);
  if (enumValues && (column.type === 'enum' || column.type === 'simple-enum')) {
    return (value, fail) =>
      (typeof value === 'string' || typeof value === 'number') && enumValues.includes(String(value))
        ? value
        : fail(`one of ${enumValues.map((v) => JSON.stringify(v)).join(', ')}`);
  }

  switch (kind) {
    case 'integer': {
      const range = integerRange(dataSource, column);
      return (value, fail) =>
        canonicalInteger(value, range) ??
        fail(
          `an integer from ${range.min} to ${range.max} (a safe integer number, a bigint, or a string of decimal digits; ` +
            `pass integers beyond 2^53 as strings or bigints)`,
        );
    }
    case 'number': {
      if ((postgres || dialect === 'mysql') && /^(numeric|decimal)/.test(type)) {
        const scale = column.scale ?? undefined;
        const precision = column.precision ?? undefined;
        return (value, fail) =>
          canonicalDecimal(value, scale, precision) === undefined
            ? fail(
                'a finite number or a decimal string' +
                  (precision != null
                    ? ` with at most ${precision - (scale ?? 0)} digits before the decimal point`
                    : ''),
              )
            : value;
      }
      return (value, fail) =>
        (
          typeof value === 'number'
            ? Number.isFinite(value)
            : typeof value === 'string' && canonicalDecimal(value.trim()) !== undefined
        )
          ? value
          : fail('a finite number');
    }
    case 'boolean':
      return (value, fail) => (typeof value === 'boolean' ? value : fail('a boolean'));
    case 'date': {
      if (!array) {
        // A timestamp string must name an instant (TypeORM parses it into a Date).
        const instant = /timestamp|datetime/.test(type);
        return (value, fail) =>
          (
            isDate(value)
              ? Number.isNaN(value.getTime())
              : typeof value !== 'string' ||
                (instant && !parseInstant(value) && Number.isNaN(new Date(value).getTime()))
          )
            ? fail('a valid Date (or a date string)')
            : value;
      }
      // Elements of a date/time array are bound as text: the key form is
      // the text the database reads for them (local wall-clock time for
      // `timestamp`, as node-postgres sends a Date).
      const form = keyForm(dataSource, column, kind);
      return (value, fail) => {
        const text = form.canonical(value);
        return text === INVALID ? fail(`${form.type} (${form.expected})`) : text;
      };
    }
    case 'string':
      // Lengths are left to the database: an over-long value is refused at
      // flush time and set aside as a dead letter naming the row.
      return (value, fail) => {
        if (typeof value !== 'string') return fail('a string');
        if (postgres && value.includes('\u0000')) {
          return fail('a string without NUL characters (PostgreSQL text cannot hold them)');
        }
        return value;
      };
    case 'list':
      // TypeORM joins simple-array elements with commas and splits them back.
      return (value, fail) =>
        Array.isArray(value) &&
        value.every((item) => typeof item === 'string' && /^[^,]+$/.test(item))
          ? value
          : fail('an array of non-empty strings without commas (a simple-array column)');
    case 'binary':
      return (value, fail) => {
        if (!Buffer.isBuffer(value)) return fail('a Buffer');
        // Inside an array, bytes are bound as PostgreSQL's hex text.
        return array ? `\\x${value.toString('hex')}` : value;
      };
    case 'json':
      // Elements of json[]/jsonb[] are each a JSON document.
      return array ? (value) => JSON.stringify(value) : (value) => value;
    default:
      return (value) => value;
  }
}

function isDate(value: unknown): value is Date {
  return Object.prototype.toString.call(value) === '[object Date]';
}
