/**
 * JSON text of anything holding prepared values (a value, rows, batches,
 * dead letters), with `Date` and `Buffer` tagged so they come back as
 * themselves, whatever realm (VM context) made or reads them. Used by the
 * storages that keep text: the Redis storage and the LMDB journal.
 */
export function encodeJson(value: unknown): string {
  // The replacer costs a call per key: only values that need tags pay it.
  return holdsTagged(value) ? JSON.stringify(value, tagging) : JSON.stringify(value);
}

function tagging(this: Record<string, unknown>, key: string, json: unknown): unknown {
  const raw = this[key];
  if (isDate(raw)) return { $date: (raw as Date).getTime() };
  if (Buffer.isBuffer(raw)) return { $bytes: raw.toString('base64') };
  return json;
}

function holdsTagged(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (isDate(value) || Buffer.isBuffer(value)) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (holdsTagged(value[i])) return true;
    return false;
  }
  for (const key in value) if (holdsTagged((value as Record<string, unknown>)[key])) return true;
  return false;
}

/** Also true for a `Date` of another realm (VM context). */
function isDate(value: unknown): boolean {
  return Object.prototype.toString.call(value) === '[object Date]';
}

export function decodeJson<T>(text: string): T {
  // A reviver costs a call per value: text without a tag's key (every tag
  // is an object whose key starts with `$`, which JSON never escapes) is
  // parsed without one.
  if (!text.includes('"$')) return JSON.parse(text) as T;
  return JSON.parse(text, (_key, value: unknown) => {
    if (value !== null && typeof value === 'object') {
      const tagged = value as { $date?: number; $bytes?: string };
      if (tagged.$date !== undefined) return new Date(tagged.$date);
      if (tagged.$bytes !== undefined) return Buffer.from(tagged.$bytes, 'base64');
    }
    return value;
  }) as T;
}
