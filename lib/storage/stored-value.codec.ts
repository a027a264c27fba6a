/**
 * JSON text of anything holding prepared values (a value, rows, batches,
 * dead letters), with `Date` and `Buffer` tagged so they come back as
 * themselves, whatever realm (VM context) made or reads them. Used by the
 * storages that keep text: the Redis storage and the LMDB journal.
 */
export function encodeJson(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key, json: unknown) {
    const raw = this[key];
    if (Object.prototype.toString.call(raw) === '[object Date]') {
      return { $date: (raw as Date).getTime() };
    }
    if (Buffer.isBuffer(raw)) return { $bytes: raw.toString('base64') };
    return json;
  });
}

export function decodeJson<T>(text: string): T {
  return JSON.parse(text, (_key, value: unknown) => {
    if (value !== null && typeof value === 'object') {
      const tagged = value as { $date?: number; $bytes?: string };
      if (tagged.$date !== undefined) return new Date(tagged.$date);
      if (tagged.$bytes !== undefined) return Buffer.from(tagged.$bytes, 'base64');
    }
    return value;
  }) as T;
}
