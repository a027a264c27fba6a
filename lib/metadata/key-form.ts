import type { DataSource } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import type { ColumnKind } from './column-kind.js';
import { keyCollation } from './key-collations.js';

/** Returned by a canonicaliser for a spelling the column cannot hold. */
export const INVALID: unique symbol = Symbol('invalid');

/** One primary column's value as it is stored in a row key. */
export type KeyPart = string | number | boolean;

/**
 * How the values of one primary column are spelled in a row key. Two
 * spellings the database treats as the same value (`'42'` and `42` for an
 * integer, upper and lower case for a PostgreSQL `uuid`) have one
 * canonical form, so they name one buffered row; spellings the database
 * tells apart (`' a'` and `'a'` for a varchar) keep theirs.
 */
export interface KeyForm {
  /** The column's type, with an article, for messages: `an integer`. */
  readonly type: string;
  /** The spellings accepted, for messages. */
  readonly expected: string;
  canonical(value: unknown): KeyPart | typeof INVALID;
}

/** Inclusive bounds of an integer column. */
export interface IntegerRange {
  min: bigint;
  max: bigint;
}

const INT64: IntegerRange = { min: -(2n ** 63n), max: 2n ** 63n - 1n };
const INT32: IntegerRange = { min: -(2n ** 31n), max: 2n ** 31n - 1n };
const INT16: IntegerRange = { min: -(2n ** 15n), max: 2n ** 15n - 1n };

/** Decimal digits with an optional sign: what every database reads as that integer. */
const INTEGER_TEXT = /^[+-]?\d+$/;
const DECIMAL_TEXT = /^([+-]?)(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i;
const UUID_TEXT = /^(?:[0-9a-f]{4}-?){7}[0-9a-f]{4}$/i;
const UUID_STANDARD = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/**
 * The basic Greek (`Α`–`Ω`) and Cyrillic (`Ѐ`–`Я`) capital letters, each
 * of whose lower case is one letter, and the final sigma `ς` (`σ` as a
 * caseless collation compares it).
 */
const GREEK_CYRILLIC_CASED = /[\u0391-\u03a9\u0400-\u042f\u03c2]/g;
const DATE_TEXT = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIME_TEXT = /^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$/;
const TIMESTAMP_TEXT =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/** The driver family a data source speaks, for type rules that differ. */
export function dialectOf(dataSource: DataSource): 'postgres' | 'sqlite' | 'mysql' | 'other' {
  const type = dataSource.options.type;
  if (type === 'postgres') return 'postgres';
  if (type === 'mysql' || type === 'mariadb') return 'mysql';
  if (type === 'better-sqlite3' || type === 'sqljs' || type === 'capacitor') return 'sqlite';
  return 'other';
}

/** Bytes of MySQL's integer types. */
const MYSQL_INTEGER_BYTES: Record<string, number> = {
  tinyint: 1,
  smallint: 2,
  mediumint: 3,
  int: 4,
  integer: 4,
  bigint: 8,
};

/**
 * The range an integer column holds: PostgreSQL has 2-, 4- and 8-byte
 * integers, MySQL 1- to 8-byte ones, signed or unsigned, SQLite only 8.
 */
export function integerRange(dataSource: DataSource, column: ColumnMetadata): IntegerRange {
  const dialect = dialectOf(dataSource);
  const type = dataSource.driver.normalizeType(column).toLowerCase();
  if (dialect === 'mysql') {
    const bits = BigInt(8 * (MYSQL_INTEGER_BYTES[type.replace(/ unsigned$/, '')] ?? 8));
    return column.unsigned || type.endsWith(' unsigned')
      ? { min: 0n, max: 2n ** bits - 1n }
      : { min: -(2n ** (bits - 1n)), max: 2n ** (bits - 1n) - 1n };
  }
  if (dialect !== 'postgres') return INT64;
  if (type === 'smallint' || type === 'smallserial') return INT16;
  if (type === 'integer' || type === 'serial') return INT32;
  return INT64;
}

/**
 * An integer from a safe-integer number (`-0` is `0`), a `bigint`, or a
 * string of decimal digits with an optional sign (leading zeros allowed:
 * databases read `'042'` as 42). Canonical: a number when it is a safe
 * integer, else its decimal string (exact beyond 2^53). Not accepted:
 * fractions, exponents, blanks, and unsafe numbers (already rounded).
 */
export function canonicalInteger(value: unknown, range: IntegerRange): number | string | undefined {
  let big: bigint;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) return undefined;
    big = BigInt(value);
  } else if (typeof value === 'bigint') {
    big = value;
  } else if (typeof value === 'string' && INTEGER_TEXT.test(value)) {
    big = BigInt(value);
  } else {
    return undefined;
  }
  if (big < range.min || big > range.max) return undefined;
  const number = Number(big);
  return Number.isSafeInteger(number) ? number : big.toString();
}

/**
 * The plain decimal text of a number (`-1.50e1` → `'-15'`), rounded half
 * away from zero to `scale` fraction digits when given (as PostgreSQL
 * rounds `numeric(p, s)`), without leading or trailing zeros.
 */
export function canonicalDecimal(
  value: unknown,
  scale?: number,
  precision?: number,
): string | undefined {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return undefined;
    text = String(value);
  } else if (typeof value === 'bigint') {
    text = value.toString();
  } else if (typeof value === 'string') {
    text = value;
  } else {
    return undefined;
  }
  const match = DECIMAL_TEXT.exec(text);
  if (!match || (match[2] === '' && !match[3])) return undefined;
  const [, sign, whole, fraction = '', exponent = '0'] = match;
  let exp = Number(exponent) - fraction.length;
  if (Math.abs(exp) > 1000) return undefined;
  let digits = BigInt(whole + fraction || '0');
  if (scale !== undefined && exp < -scale) {
    const divisor = 10n ** BigInt(-scale - exp);
    const remainder = digits % divisor;
    digits = digits / divisor + (remainder * 2n >= divisor ? 1n : 0n);
    exp = -scale;
  }
  while (exp < 0 && digits !== 0n && digits % 10n === 0n) {
    digits /= 10n;
    exp++;
  }
  if (digits === 0n) return '0';
  let body: string;
  if (exp >= 0) {
    body = digits.toString() + '0'.repeat(exp);
  } else {
    const raw = digits.toString().padStart(-exp + 1, '0');
    body = `${raw.slice(0, exp)}.${raw.slice(exp)}`;
  }
  if (precision != null) {
    const integerDigits = body.split('.')[0].replace(/^0+/, '').length;
    if (integerDigits > precision - (scale ?? 0)) return undefined;
  }
  return sign === '-' ? `-${body}` : body;
}

/**
 * A uuid in any spelling PostgreSQL accepts (any case, optional braces,
 * hyphens optional after any group of four digits), as its canonical
 * lower-case 8-4-4-4-12 form.
 */
export function canonicalUuid(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const braced = value.startsWith('{') && value.endsWith('}');
  const body = braced ? value.slice(1, -1) : value;
  if (!UUID_TEXT.test(body)) return undefined;
  const hex = body.replaceAll('-', '').toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Whether `value` is a uuid in the standard hyphenated form (either case). */
export function isStandardUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_STANDARD.test(value);
}

/** Whether a column holds uuids, as TypeORM declares them on every driver. */
export function isUuidColumn(column: ColumnMetadata): boolean {
  return column.type === 'uuid' || column.generationStrategy === 'uuid';
}

/** An instant: whole milliseconds since the epoch plus nanoseconds within the millisecond. */
export interface Instant {
  ms: number;
  ns: number;
}

/**
 * A `Date`, or an ISO 8601 string (`T` or a space between date and time,
 * optional seconds and fraction, `Z` or a `±hh[:mm]` offset). A string
 * without an offset is local time, as TypeORM reads it.
 */
export function parseInstant(value: unknown): Instant | undefined {
  if (isDate(value)) {
    const ms = value.getTime();
    return Number.isNaN(ms) ? undefined : { ms, ns: 0 };
  }
  if (typeof value !== 'string') return undefined;
  const match = TIMESTAMP_TEXT.exec(value.trim());
  if (!match) return undefined;
  const [y, mo, d, h = 0, mi = 0, s = 0] = match.slice(1, 7).map((part) => Number(part ?? 0));
  const fraction = (match[7] ?? '').padEnd(9, '0');
  const zone = match[8];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return undefined;
  const date = new Date(0);
  if (zone) {
    date.setUTCFullYear(y, mo - 1, d);
    date.setUTCHours(h, mi, s, 0);
    if (date.getUTCDate() !== d) return undefined;
    const offset = zone.toUpperCase() === 'Z' ? 0 : zoneMinutes(zone);
    if (offset === undefined) return undefined;
    date.setTime(date.getTime() - offset * 60_000);
  } else {
    date.setFullYear(y, mo - 1, d);
    date.setHours(h, mi, s, 0);
    if (date.getDate() !== d) return undefined;
  }
  return {
    ms: date.getTime() + Number(fraction.slice(0, 3)),
    ns: Number(fraction.slice(3)),
  };
}

function zoneMinutes(zone: string): number | undefined {
  const digits = zone.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = Number(digits.slice(2) || 0);
  if (hours > 15 || minutes > 59) return undefined;
  return (zone[0] === '-' ? -1 : 1) * (hours * 60 + minutes);
}

/**
 * An instant rounded to `digits` fraction digits of a second (half up), or
 * truncated to milliseconds (`truncate`: what `new Date(string)` does).
 */
function roundInstant(instant: Instant, digits: number, truncate: boolean): Instant {
  if (truncate) return { ms: instant.ms, ns: 0 };
  if (digits >= 9) return instant;
  const unit = 10n ** BigInt(9 - Math.max(0, digits));
  const total = BigInt(instant.ms) * 1_000_000n + BigInt(instant.ns);
  const rounded = floorDiv(total + unit / 2n, unit) * unit;
  const ms = floorDiv(rounded, 1_000_000n);
  return { ms: Number(ms), ns: Number(rounded - ms * 1_000_000n) };
}

/** An instant cut to `digits` fraction digits of a second (toward the past). */
function truncateInstant(instant: Instant, digits: number): Instant {
  const unit = 10n ** BigInt(9 - digits);
  const kept = floorDiv(BigInt(instant.ms) * 1_000_000n + BigInt(instant.ns), unit) * unit;
  const ms = floorDiv(kept, 1_000_000n);
  return { ms: Number(ms), ns: Number(kept - ms * 1_000_000n) };
}

function floorDiv(a: bigint, b: bigint): bigint {
  return (a - (((a % b) + b) % b)) / b;
}

function pad(value: number, width = 2): string {
  return String(value).padStart(width, '0');
}

/** `YYYY-MM-DD?HH:MM:SS.ffffff` of an instant, in UTC or local time. */
function formatInstant(instant: Instant, utc: boolean, separator: string, digits: number): string {
  const date = new Date(instant.ms);
  const [y, mo, d, h, mi, s, ms] = utc
    ? [
        date.getUTCFullYear(),
        date.getUTCMonth() + 1,
        date.getUTCDate(),
        date.getUTCHours(),
        date.getUTCMinutes(),
        date.getUTCSeconds(),
        date.getUTCMilliseconds(),
      ]
    : [
        date.getFullYear(),
        date.getMonth() + 1,
        date.getDate(),
        date.getHours(),
        date.getMinutes(),
        date.getSeconds(),
        date.getMilliseconds(),
      ];
  const fraction = (pad(ms, 3) + pad(instant.ns, 6)).slice(0, digits);
  return `${pad(y, 4)}-${pad(mo)}-${pad(d)}${separator}${pad(h)}:${pad(mi)}:${pad(s)}.${fraction}`;
}

function isDate(value: unknown): value is Date {
  return Object.prototype.toString.call(value) === '[object Date]';
}

function validYear(instant: Instant): boolean {
  const year = new Date(instant.ms).getUTCFullYear();
  return year >= 1 && year <= 9999;
}

/**
 * The key form of a primary column, from its type on the data source's
 * database: integers and decimals by value, PostgreSQL uuids in lower
 * case, dates as `YYYY-MM-DD`, instants as one text per database (UTC
 * `…T…Z` for timestamptz, local wall-clock time for timestamp, TypeORM's
 * UTC `YYYY-MM-DD HH:MM:SS.SSS` on SQLite), strings as spelled.
 */
export function keyForm(dataSource: DataSource, column: ColumnMetadata, kind: ColumnKind): KeyForm {
  const dialect = dialectOf(dataSource);
  const type = dataSource.driver.normalizeType(column).toLowerCase();
  const postgres = dialect === 'postgres';
  const sqlite = dialect === 'sqlite';

  if (isUuidColumn(column) || type === 'uuid') {
    if (postgres || dialect === 'mysql') {
      return {
        type: 'a uuid',
        expected:
          'a uuid string such as "123e4567-e89b-12d3-a456-426614174000" (any letter case; the database compares uuids case-insensitively)',
        canonical: (value) => canonicalUuid(value) ?? INVALID,
      };
    }
    return {
      type: 'a uuid',
      expected:
        'a uuid string such as "123e4567-e89b-12d3-a456-426614174000" (the database stores uuids as text and compares them case-sensitively, so the letter case is kept)',
      canonical: (value) => (isStandardUuid(value) ? value : INVALID),
    };
  }

  switch (kind) {
    case 'integer': {
      const range = integerRange(dataSource, column);
      return {
        type: 'an integer',
        expected:
          `an integer from ${range.min} to ${range.max}: a safe integer number, a bigint, ` +
          `or a string of decimal digits with an optional sign ("42", "-7"; not "4.2e1", " 42" or "42.0"); ` +
          `pass integers beyond 2^53 as strings or bigints`,
        canonical: (value) => canonicalInteger(value, range) ?? INVALID,
      };
    }
    case 'number': {
      if ((postgres || dialect === 'mysql') && /^(numeric|decimal)/.test(type)) {
        const scale = column.scale ?? undefined;
        const precision = column.precision ?? undefined;
        return {
          type: 'a decimal',
          expected:
            `a finite number or a decimal string ("12.50", "-3", "1e3")` +
            (precision != null ? ` with at most ${precision - (scale ?? 0)} integer digits` : ''),
          canonical: (value) => canonicalDecimal(value, scale, precision) ?? INVALID,
        };
      }
      const single = postgres && /^(real|float4)$/.test(type);
      return {
        type: 'a number',
        expected: 'a finite number or a decimal string ("1.5")',
        canonical: (value) => {
          const text = typeof value === 'string' ? canonicalDecimal(value) : undefined;
          const number = text !== undefined ? Number(text) : value;
          if (typeof number !== 'number' || !Number.isFinite(number)) return INVALID;
          // `-0` equals `0`; a `real` holds single precision.
          return (single ? Math.fround(number) : number) + 0;
        },
      };
    }
    case 'boolean':
      return {
        type: 'a boolean',
        expected: 'true or false',
        canonical: (value) =>
          typeof value !== 'boolean' ? INVALID : sqlite ? (value ? 1 : 0) : value,
      };
    case 'date':
      return dateKeyForm(dataSource, column, type, dialect);
    case 'string':
      return stringKeyForm(column, type, dialect, keyCollation(dataSource, column));
    default:
      return {
        type: `a ${type || 'value'}`,
        expected: 'a primary key of a type the buffer can key rows by',
        canonical: () => INVALID,
      };
  }
}

function dateKeyForm(
  dataSource: DataSource,
  column: ColumnMetadata,
  type: string,
  dialect: 'postgres' | 'sqlite' | 'mysql' | 'other',
): KeyForm {
  /** A `Date` as the driver writes it (INVALID when it is not a time), or undefined for other values. */
  const prepared = (value: unknown) =>
    isDate(value)
      ? Number.isNaN(value.getTime())
        ? INVALID
        : (dataSource.driver.preparePersistentValue(value, column) as string)
      : undefined;
  if (type === 'date') {
    return {
      type: 'a date',
      expected: 'a valid Date, or a "YYYY-MM-DD" string',
      canonical: (value) => {
        const date = prepared(value);
        if (date !== undefined) return date;
        if (typeof value !== 'string') return INVALID;
        const match = DATE_TEXT.exec(value);
        if (!match) return INVALID;
        const [y, m, d] = match.slice(1).map(Number);
        const check = new Date(0);
        check.setUTCFullYear(y, m - 1, d);
        return y >= 1 && check.getUTCMonth() === m - 1 && check.getUTCDate() === d
          ? value
          : INVALID;
      },
    };
  }
  if (type.startsWith('time') && !type.startsWith('timestamp')) {
    if (type.includes('with time zone')) {
      return {
        type: 'a time with time zone',
        expected: 'a string',
        canonical: (value) => (typeof value === 'string' ? value : INVALID),
      };
    }
    return {
      type: 'a time',
      expected: 'a "HH:MM", "HH:MM:SS" or "HH:MM:SS.ffffff" string, or a Date (its local time)',
      canonical: (value) => {
        const date = prepared(value);
        if (date !== undefined) return date;
        if (typeof value !== 'string') return INVALID;
        const match = TIME_TEXT.exec(value);
        if (
          !match ||
          Number(match[1]) > 23 ||
          Number(match[2]) > 59 ||
          Number(match[3] ?? 0) > 59
        ) {
          return INVALID;
        }
        // SQLite compares the text: only PostgreSQL reads '10:00' as '10:00:00'.
        if (dialect !== 'postgres') return value;
        const fraction = (match[4] ?? '').replace(/0+$/, '');
        return `${match[1]}:${match[2]}:${match[3] ?? '00'}${fraction ? `.${fraction}` : ''}`;
      },
    };
  }
  // timestamp, timestamp with time zone, datetime
  const expected =
    'a valid Date, or an ISO 8601 date-time string ("2024-03-05T10:00:00Z", "2024-03-05 12:00:00+02:00", ' +
    '"2024-03-05T10:00:00.123456Z"; without an offset it is local time)';
  if (dialect === 'postgres') {
    const withZone = type.includes('with time zone');
    const digits = column.precision ?? 6;
    return {
      type: 'a timestamp',
      expected,
      canonical: (value) => {
        const instant = parseInstant(value);
        if (!instant || !validYear(instant)) return INVALID;
        const rounded = roundInstant(instant, digits, false);
        // timestamptz: the instant, in UTC. timestamp: the local wall-clock
        // time, which is what node-postgres sends for a Date.
        return withZone
          ? `${formatInstant(rounded, true, 'T', 6)}Z`
          : formatInstant(rounded, false, 'T', 6);
      },
    };
  }
  if (dialect === 'mysql') {
    // mysql2 sends a Date as local wall-clock time; MySQL rounds to the column's fraction digits
    // (default none), MariaDB truncates to them (unless its sql_mode has TIME_ROUND_FRACTIONAL).
    const digits = Math.min(column.precision ?? 0, 6);
    const truncates = dataSource.options.type === 'mariadb';
    return {
      type: 'a timestamp',
      expected,
      canonical: (value) => {
        const instant = parseInstant(value);
        if (!instant || !validYear(instant)) return INVALID;
        const kept = truncates
          ? truncateInstant(instant, digits)
          : roundInstant(instant, digits, false);
        return formatInstant(kept, false, ' ', digits);
      },
    };
  }
  // SQLite stores TypeORM's UTC text `YYYY-MM-DD HH:MM:SS.SSS` and compares text.
  return {
    type: 'a timestamp',
    expected,
    canonical: (value) => {
      const instant = parseInstant(value);
      if (!instant || !validYear(instant)) return INVALID;
      return formatInstant(roundInstant(instant, 3, true), true, ' ', 3);
    },
  };
}

function stringKeyForm(
  column: ColumnMetadata,
  type: string,
  dialect: 'postgres' | 'sqlite' | 'mysql' | 'other',
  declared: string | undefined,
): KeyForm {
  const values = column.enum?.map(String);
  if (values && (column.type === 'enum' || column.type === 'simple-enum')) {
    return {
      type: 'an enum',
      expected: `one of ${values.map((v) => JSON.stringify(v)).join(', ')}`,
      canonical: (value) =>
        (typeof value === 'string' || typeof value === 'number') && values.includes(String(value))
          ? String(value)
          : INVALID,
    };
  }
  const collation = declared?.toUpperCase();
  // PostgreSQL's character(n) ignores trailing spaces in comparisons; so do
  // SQLite's RTRIM collation and, for ASCII letter case, its NOCASE; citext
  // ignores letter case.
  // MySQL/MariaDB: the default collations ignore ASCII letter case (`_ci`),
  // and all but MySQL 8's `_0900_` and the `NOPAD` ones trailing spaces.
  const mysql = dialect === 'mysql';
  const mysqlCaseless = mysql && ignoresCase(collation) && !/binary|blob/.test(type);
  const mysqlPadded = mysql && !/0900|NOPAD/.test(collation ?? '') && !/binary|blob/.test(type);
  // Accents too, under the collations checked on MariaDB to fold them as `foldAccents` does.
  const mysqlAccentless = mysql && foldsAccents(collation ?? '') && !/binary|blob/.test(type);
  const trimEnd =
    (dialect === 'postgres' && type === 'character') ||
    (dialect === 'sqlite' && collation === 'RTRIM') ||
    mysqlPadded;
  const foldCase = (dialect === 'sqlite' && collation === 'NOCASE') || mysqlCaseless;
  // Every caseless utf8mb3/utf8mb4 (and utf16, utf16le, utf32, ucs2) collation also ignores
  // the case of the basic Greek and Cyrillic letters (checked on MariaDB 10.11 by
  // test/review-6.e2e-spec.ts and test/review-7.e2e-spec.ts).
  const foldGreekCyrillic =
    mysqlCaseless && (collation === undefined || /^(UTF8|UTF16|UTF32|UCS2)/.test(collation));
  // PostgreSQL's citext compares lower(a) = lower(b).
  const lowerCase = dialect === 'postgres' && type === 'citext';
  const noNul = dialect === 'postgres';
  return {
    type: 'a string',
    expected:
      'a string' +
      (noNul ? ' without NUL characters (PostgreSQL text cannot hold them)' : '') +
      (lowerCase
        ? '; for citext, letters with case must be ASCII (other scripts fold differently in PostgreSQL)'
        : '') +
      ' (or a finite number, which is keyed by its decimal text)',
    canonical: (value) => {
      let text: string;
      if (typeof value === 'string') text = value;
      else if (typeof value === 'number' && Number.isFinite(value)) text = String(value);
      else return INVALID;
      if (noNul && text.includes('\u0000')) return INVALID;
      if (trimEnd) text = text.replace(/ +$/, '');
      if (foldCase) text = text.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
      // Letter by letter: a word's toLowerCase() would end it with 'ς' (final sigma).
      if (foldGreekCyrillic) {
        text = text.replace(GREEK_CYRILLIC_CASED, (letter) =>
          letter === '\u03c2' ? '\u03c3' : letter.toLowerCase(),
        );
      }
      if (mysqlAccentless) text = foldAccents(text);
      if (lowerCase) {
        // Only ASCII letters fold the same way in JavaScript and PostgreSQL.
        const other = text.replace(/[^\u0080-\uffff]+/g, '');
        if (other.toLowerCase() !== other.toUpperCase()) return INVALID;
        text = text.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
      }
      return text;
    },
  };
}

/**
 * Whether a MySQL/MariaDB collation ignores letter case: a caseless one's
 * name ends in `_ci` (`_ai_ci` and `_as_ci` too). `_cs` and `_bin` ones do
 * not, nor MySQL 8's `utf8mb4_ja_0900_as_cs_ks`; the Czech `utf8mb4_cs_0900_ai_ci`
 * does. None known (a table not created yet, declared without one): the
 * server's default, which ignores case.
 */
export function ignoresCase(collation: string | undefined): boolean {
  return !collation || /_CI$/i.test(collation);
}

/**
 * Whether a MySQL/MariaDB collation compares a Latin letter with accents
 * (`'É'`, `'ë'`, `'ǘ'`) equal to its base letter in either case: the
 * `general`, `unicode`, `unicode_520` and `uca1400_ai` ones of utf8mb4 and
 * utf8mb3, with and without `nopad` (checked on MariaDB 10.11 by
 * `test/mariadb.e2e-spec.ts`). Language collations (`swedish`,
 * `german2`, `danish`, …) and latin1's keep some accented letters apart,
 * and MySQL 8's `0900_ai` is not checked here: keys under them are not
 * accent-folded (two spellings they make equal are merged by the flush).
 */
export function foldsAccents(collation: string): boolean {
  return /^UTF8(MB[34])?_(GENERAL(_NOPAD)?_CI|UNICODE(_520)?(_NOPAD)?_CI|UCA1400(_NOPAD)?_AI_CI)$/i.test(
    collation,
  );
}

/** Latin letters that may carry accents: Latin-1 Supplement, Extended-A and -B, Extended Additional. */
const LATIN_ACCENTED = /[\u00c0-\u024f\u1e00-\u1eff]/g;
/** An ASCII letter followed by combining diacritical marks only. */
const LETTER_WITH_MARKS = /^([A-Za-z])[\u0300-\u036f]+$/;

/**
 * Replaces each precomposed Latin letter that is an ASCII letter with
 * combining marks (its canonical decomposition) by that letter in lower
 * case. Letters that are not (`'ø'`, `'æ'`, `'ß'`) and combining marks
 * typed separately are kept.
 */
export function foldAccents(text: string): string {
  return text.replace(LATIN_ACCENTED, (letter) => {
    const match = LETTER_WITH_MARKS.exec(letter.normalize('NFD'));
    return match ? match[1].toLowerCase() : letter;
  });
}

/**
 * `a + b` as a decimal column stores it: added exactly from the numbers'
 * decimal text (`0.1 + 0.2` is `0.3`), rounded half away from zero to
 * `scale` fraction digits, as PostgreSQL and MySQL/MariaDB round a
 * `decimal(p, s)`.
 */
export function addDecimal(a: number, b: number, scale: number): number {
  const [x, y] = [a, b].map((n) => {
    const [whole, fraction = ''] = (canonicalDecimal(n) ?? '0').split('.');
    return { digits: BigInt(whole + fraction), places: fraction.length };
  });
  const places = Math.max(x.places, y.places);
  const sum =
    x.digits * 10n ** BigInt(places - x.places) + y.digits * 10n ** BigInt(places - y.places);
  return Number(canonicalDecimal(`${sum}e-${places}`, scale));
}

/**
 * `a + b` as a single-precision float column stores it, read back as the
 * driver reads it: PostgreSQL binds the delta as a `real` too and prints
 * the shortest text that reads back as the same float (`0.3`); MySQL and
 * MariaDB add a double to the float and print 6 significant digits.
 * The column's float is the one nearest `a` (what it printed).
 */
export function addSingle(a: number, b: number, dialect: 'postgres' | 'mysql'): number {
  const sum =
    dialect === 'postgres'
      ? Math.fround(Math.fround(a) + Math.fround(b))
      : Math.fround(Math.fround(a) + b);
  if (dialect === 'mysql') return Number(sum.toPrecision(6));
  for (let digits = 1; digits < 9; digits++) {
    const shortest = Number(sum.toPrecision(digits));
    if (Math.fround(shortest) === sum) return shortest;
  }
  return Number(sum.toPrecision(9));
}

/** Whether a column type (as the driver normalizes it, lower case) is a fixed-point decimal. */
export function isDecimalType(type: string): boolean {
  return /^(decimal|numeric|dec|fixed)/.test(type);
}

/**
 * The fraction digits a `decimal` column keeps as TypeORM creates it: its
 * scale when it has a precision (0 without a scale); without a precision
 * TypeORM leaves the scale out, so MySQL/MariaDB keep none (`decimal(10, 0)`)
 * and PostgreSQL every digit (`numeric`: `undefined`).
 */
export function decimalScale(
  column: { precision?: number | null; scale?: number },
  dialect: 'postgres' | 'mysql',
): number | undefined {
  if (column.precision == null) return dialect === 'mysql' ? 0 : undefined;
  return column.scale ?? 0;
}
