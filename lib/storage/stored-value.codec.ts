import type { StoredRow, StoredValue } from './buffer-batch.interface.js';

/**
 * Text encoding of prepared values for storages that keep strings (Redis):
 * JSON, with `Date` and `Buffer` tagged so they come back as themselves.
 */
export function encodeValue(value: StoredValue): string {
  return JSON.stringify(tag(value));
}

export function decodeValue(text: string): StoredValue {
  return untag(JSON.parse(text));
}

export function encodeRow(row: StoredRow): string {
  const tagged: Record<string, unknown> = {};
  for (const name of Object.keys(row)) tagged[name] = tag(row[name]);
  return JSON.stringify(tagged);
}

export function decodeRow(text: string): StoredRow {
  const tagged = JSON.parse(text) as Record<string, unknown>;
  const row: StoredRow = {};
  for (const name of Object.keys(tagged)) row[name] = untag(tagged[name]);
  return row;
}

function tag(value: StoredValue): unknown {
  if (isDate(value)) return { $date: value.getTime() };
  if (Buffer.isBuffer(value)) return { $bytes: value.toString('base64') };
  return value;
}

function untag(value: unknown): StoredValue {
  if (value !== null && typeof value === 'object') {
    const tagged = value as { $date?: number; $bytes?: string };
    if (tagged.$date !== undefined) return new Date(tagged.$date);
    if (tagged.$bytes !== undefined) return Buffer.from(tagged.$bytes, 'base64');
  }
  return value as StoredValue;
}

/**
 * JSON text of any structure holding prepared values (rows, batches, dead
 * letters), with `Date` and `Buffer` tagged so they come back as themselves.
 */
export function encodeJson(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key, json: unknown) {
    const raw = this[key];
    if (isDate(raw)) return { $date: raw.getTime() };
    if (Buffer.isBuffer(raw)) return { $bytes: raw.toString('base64') };
    return json;
  });
}

export function decodeJson<T>(text: string): T {
  return JSON.parse(text, (_key, value: unknown) =>
    value !== null && typeof value === 'object' ? untag(value) : value,
  ) as T;
}

/** `instanceof Date` fails for dates made in another realm (VM context). */
function isDate(value: unknown): value is Date {
  return Object.prototype.toString.call(value) === '[object Date]';
}
