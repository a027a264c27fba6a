import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { InvalidValueError } from '../lib/index.js';
import { databaseKinds, type DatabaseKind } from './support/databases.js';
import type { TypedRow } from './support/entities.js';
import { redisAvailable, type StorageKind } from './support/storages.js';
import { createTypedApp, type TypedApp } from './support/typed-app.js';

const storages: StorageKind[] = (await redisAvailable()) ? ['memory', 'redis'] : ['memory'];
const matrix = (await databaseKinds()).flatMap((db) =>
  storages.map((storage) => [db, storage] as [DatabaseKind, StorageKind]),
);

/** Two sets of values for every column, each as it reads back through TypeORM. */
function values(kind: DatabaseKind, variant: 0 | 1): { written: TypedRow; read: TypedRow } {
  const postgres = kind === 'postgres';
  const mariadb = kind === 'mariadb';
  // Both read bigint and decimal columns back as strings.
  const exact = postgres || mariadb;
  const first = variant === 0;
  const at = new Date(first ? '2024-03-05T10:11:12.345Z' : '1999-12-31T23:59:59.999Z');
  const written: TypedRow = {
    id: 0,
    small: first ? 32767 : -32768,
    // Beyond 2^53 (exact on PostgreSQL; SQLite stores it exactly, see below).
    big: exact ? (first ? '9007199254740993' : '-9223372036854775808') : first ? 42 : -7,
    num: exact ? (first ? '12345678.1234' : '-0.0001') : first ? 12345678.1234 : -0.0001,
    dbl: first ? 1.2345678901234567 : -0.1,
    rl: first ? 0.5 : -1.25,
    flag: first,
    day: first ? '2024-02-29' : '1999-12-31',
    clock: first ? '23:59:58' : '00:00:01',
    at,
    label: first ? ' padded  ' : 'é'.repeat(20),
    body: first ? 'line 1\nline 2 "quoted" \\ back\'slash' : '🙂 émoji',
    doc: first ? { a: [1, { b: null }], s: 'x' } : {},
    tags: first ? ['a', 'b c'] : ['one'],
    mood: first ? 'sad' : 'meh',
    json: first ? { nested: { list: [1, 2, 3] }, t: true } : [1, 'two'],
    bytes: first ? Buffer.from([0, 1, 2, 255, 0x5c, 0x22, 0x27]) : Buffer.from('hello'),
    ...(mariadb
      ? {
          uid: first
            ? '123E4567-E89B-12D3-A456-426614174000'
            : 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
          at3: new Date(first ? '2024-03-05T10:11:12.345Z' : '2000-01-01T00:00:00.001Z'),
          status: first ? 'it\'s "quoted"' : 'off',
          price: first ? '12345678901234567890.0123456789' : '-0.0000000001',
          bin: Buffer.from(
            (first ? '3f2504e04f8941d39a0c0305e82c3301' : '00000000000000000000000000000000')
              .match(/../g)!
              .map((hex) => parseInt(hex, 16)),
          ),
        }
      : {}),
    ...(postgres
      ? {
          uid: first
            ? '123E4567-E89B-12D3-A456-426614174000'
            : 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
          atz: new Date(first ? '2024-03-05T10:11:12.345Z' : '2000-01-01T00:00:00.001Z'),
          at3: new Date(first ? '2024-03-05T10:11:12.345Z' : '2000-01-01T00:00:00.001Z'),
          status: first ? 'it\'s "quoted"' : 'off',
          level: first ? 'high' : 'low',
          ints: first ? [1, -2, 2147483647] : [],
          texts: first ? ['a,b', 'c"d', 'e\\f', 'NULL', '', '{x}', ' '] : ['only'],
          grid: first
            ? [
                [1, 2],
                [3, 4],
              ]
            : [[5]],
          stamps: first ? [at, new Date('2020-02-02T02:02:02.002Z')] : [],
          statuses: first ? ['on', 'it\'s "quoted"'] : ['off'],
          jsonb: first ? { k: 'v', n: 1.5, deep: [{ x: null }] } : 'just a string',
          code: first ? 'abcde' : 'vwxyz',
          price: first ? '12345678901234567890.0123456789' : '-0.0000000001',
          bits: first ? '101' : '010',
          span: first ? '1 day 02:03:04' : '-00:00:01',
          ip: first ? '192.168.0.1' : '::1',
          spot: first ? { x: 1.5, y: -2 } : { x: 0, y: 0 },
          clockTz: first ? '10:11:12+02' : '23:00:00-05:30',
          markup: first ? '<a href="x">t &amp; u</a>' : '<b/>',
        }
      : {}),
  };
  const read: TypedRow = {
    ...written,
    // PostgreSQL compares uuids case-insensitively and returns them in lower case.
    // node-postgres reads an interval as an object of its parts.
    ...(mariadb ? { uid: written.uid!.toLowerCase() } : {}),
    ...(postgres
      ? {
          uid: written.uid!.toLowerCase(),
          span: expect.objectContaining(
            first ? { days: 1, hours: 2, minutes: 3, seconds: 4 } : { seconds: -1 },
          ),
        }
      : {}),
  };
  return { written, read };
}

describe.each(matrix)('column types on %s with %s storage', (kind, storage) => {
  let t: TypedApp;
  beforeAll(async () => {
    t = await createTypedApp(kind, storage);
  });
  afterAll(() => t?.close());

  const repository = () => t.dataSource.getRepository<TypedRow>('TypedRow');
  const text = kind === 'mariadb' ? 'CHAR' : 'TEXT';

  it('inserts a row of every column type, and updates every column of an existing row, exactly', async () => {
    const a = values(kind, 0);
    const b = values(kind, 1);
    await t.buffer.insert('TypedRow', { ...a.written, id: 1 });
    await repository().save({ ...b.written, id: 2 });
    const patch: Partial<TypedRow> = { ...a.written };
    delete patch.id;
    await t.buffer.update('TypedRow', 2, patch);
    const report = await t.buffer.flush();
    expect(report).toMatchObject({ inserted: 1, updated: 1, missing: [], deadLettered: 0 });

    expect(await repository().findOneByOrFail({ id: 1 })).toEqual({ ...a.read, id: 1 });
    expect(await repository().findOneByOrFail({ id: 2 })).toEqual({ ...a.read, id: 2 });
  });

  it('sets every column back to other values and to null', async () => {
    const b = values(kind, 1);
    const patch: Partial<TypedRow> = { ...b.written };
    delete patch.id;
    await t.buffer.update('TypedRow', 1, patch);
    const nulls = Object.fromEntries(Object.keys(patch).map((name) => [name, null]));
    await t.buffer.update('TypedRow', 2, nulls);
    const report = await t.buffer.flush();
    expect(report).toMatchObject({ updated: 2, missing: [], deadLettered: 0 });

    expect(await repository().findOneByOrFail({ id: 1 })).toEqual({ ...b.read, id: 1 });
    expect(await repository().findOneByOrFail({ id: 2 })).toEqual({ ...nulls, id: 2 });
  });

  const columns = Object.keys(values(kind, 0).written).filter((name) => name !== 'id');
  it.each(columns)('inserts and updates the %s column alone and reads it back', async (name) => {
    const { written, read } = values(kind, 0);
    const other = values(kind, 1);
    const column = name as keyof TypedRow;
    const id = 100 + 2 * columns.indexOf(name);
    await repository().insert({ id, [column]: other.written[column] } as never);
    await t.buffer.insert('TypedRow', { id: id + 1, [column]: written[column] });
    await t.buffer.update('TypedRow', id, { [column]: written[column] });
    const report = await t.buffer.flush();
    expect(report).toMatchObject({ inserted: 1, updated: 1, missing: [], deadLettered: 0 });
    expect((await repository().findOneByOrFail({ id }))[column]).toEqual(read[column]);
    expect((await repository().findOneByOrFail({ id: id + 1 }))[column]).toEqual(read[column]);
  });

  // The storages tag a Date or Buffer as `{"$date": …}` / `{"$bytes": …}`: a JSON value of that shape stays itself.
  it("keeps JSON values whose keys look like the storage's tags (Extended JSON) as they are", async () => {
    const doc = { at: { $date: 1700000000000 }, data: { $bytes: 'QQ==' }, $$x: [{ $set: 1 }] };
    const json = { $date: 5 };
    await repository().insert({ id: 5 });
    await t.buffer.insert('TypedRow', { id: 4, doc, json });
    await t.buffer.update('TypedRow', 5, { doc: json, json: doc });
    expect(await t.buffer.flush()).toMatchObject({ missing: [], deadLettered: 0 });
    expect(await repository().findOneByOrFail({ id: 4 })).toMatchObject({ doc, json });
    expect(await repository().findOneByOrFail({ id: 5 })).toMatchObject({ doc: json, json: doc });
  });

  it('keeps bigint values beyond 2^53 exact', async () => {
    await t.buffer.update('TypedRow', 1, { big: '9007199254740993' });
    await t.buffer.insert('TypedRow', { id: 3, big: 2n ** 62n + 1n } as never);
    expect(await t.buffer.flush()).toMatchObject({ missing: [], deadLettered: 0 });
    const rows: Array<{ id: number; big: string }> = await t.dataSource.query(
      `SELECT id, CAST(big AS ${text}) AS big FROM typed_row WHERE id IN (1, 3) ORDER BY id`,
    );
    expect(rows.map((row) => row.big)).toEqual(['9007199254740993', String(2n ** 62n + 1n)]);
  });

  it('adds deltas to every numeric column type', async () => {
    await t.buffer.update('TypedRow', 1, {
      small: 10,
      big: '9007199254740993',
      num: kind !== 'sqlite' ? '1.5' : 1.5,
      dbl: 0.5,
      rl: 0.25,
    });
    for (const column of ['small', 'big', 'num', 'dbl', 'rl'] as const) {
      await t.buffer.increment(
        'TypedRow',
        1,
        column,
        column === 'small' || column === 'big' ? 2 : 0.25,
      );
    }
    expect(await t.buffer.get('TypedRow', 1, 'small')).toBe(12);
    expect(await t.buffer.get('TypedRow', 1, 'num')).toBe(1.75);
    expect(await t.buffer.flush()).toMatchObject({ missing: [], deadLettered: 0 });
    const row = await repository().findOneByOrFail({ id: 1 });
    expect(row).toMatchObject({
      small: 12,
      num: kind !== 'sqlite' ? '1.7500' : 1.75,
      dbl: 0.75,
      rl: 0.5,
    });
    const [big] = await t.dataSource.query(
      `SELECT CAST(big AS ${text}) AS big FROM typed_row WHERE id = 1`,
    );
    expect(big.big).toBe('9007199254740995');
    expect(await t.buffer.get('TypedRow', 1, 'small')).toBe(12);
  });

  const bad: Array<
    [string, Partial<Record<keyof TypedRow, unknown>>, RegExp, (DatabaseKind | DatabaseKind[])?]
  > = [
    [
      'an unknown enum value',
      { mood: 'angry' },
      /TypedRow\.mood expects one of "happy", "sad", "meh"/,
    ],
    [
      'a smallint out of range',
      { small: 32768 },
      /TypedRow\.small expects an integer from -32768 to 32767/,
      ['postgres', 'mariadb'],
    ],
    [
      'an unsafe integer number',
      { big: 2 ** 53 + 2 },
      /pass integers beyond 2\^53 as strings or bigints/,
    ],
    ['a fraction for an integer', { small: 1.5 }, /TypedRow\.small expects an integer/],
    ['a simple-array element with a comma', { tags: ['a,b'] }, /without commas/],
    ['a number for a boolean', { flag: 1 }, /expects a boolean/],
    ['an invalid date', { at: new Date(NaN) }, /TypedRow\.at expects a valid Date/],
    ['an unparseable timestamp string', { at: 'yesterday' }, /TypedRow\.at expects a valid Date/],
    [
      'a decimal overflowing its precision',
      { num: '123456789.1' },
      /at most 8 digits before the decimal point/,
      ['postgres', 'mariadb'],
    ],
    ['a NUL character in text', { body: 'a\u0000b' }, /without NUL characters/, 'postgres'],
    [
      'an invalid uuid',
      { uid: 'not-a-uuid' },
      /TypedRow\.uid expects a uuid/,
      ['postgres', 'mariadb'],
    ],
    [
      'an unknown PostgreSQL enum value',
      { status: 'maybe' },
      /TypedRow\.status expects one of "on", "off"/,
      ['postgres', 'mariadb'],
    ],
    [
      'an enum array with an unknown value',
      { statuses: ['on', 'maybe'] },
      /expects one of/,
      'postgres',
    ],
    ['a ragged array', { grid: [[1, 2], [3]] }, /rectangular array/, 'postgres'],
    [
      'a fraction in an integer array',
      { ints: [1, 2.5] },
      /TypedRow\.ints expects an integer/,
      'postgres',
    ],
    ['a scalar for an array column', { ints: 1 }, /TypedRow\.ints expects an array/, 'postgres'],
  ];
  it.each(bad.filter(([, , , only]) => !only || [only].flat().includes(kind)))(
    'rejects %s with a clear error and buffers nothing',
    async (_name, patch, message) => {
      await expect(t.buffer.update('TypedRow', 1, patch)).rejects.toThrow(InvalidValueError);
      await expect(t.buffer.update('TypedRow', 1, patch)).rejects.toThrow(message);
      await expect(t.buffer.insert('TypedRow', { id: 9, ...patch })).rejects.toThrow(message);
      expect((await t.buffer.stats()).pending).toEqual({ counters: 0, updates: 0, inserts: 0 });
    },
  );

  if (kind === 'postgres') {
    it("casts enums to the type TypeORM created in the table's schema", async () => {
      await t.buffer.insert('SchemaTypedRow', { id: 1, status: 'on' });
      expect(await t.buffer.flush()).toMatchObject({ inserted: 1, deadLettered: 0 });
      await t.buffer.update('SchemaTypedRow', 1, { status: 'it\'s "quoted"' });
      expect(await t.buffer.flush()).toMatchObject({ updated: 1, missing: [], deadLettered: 0 });
      const [row] = await t.dataSource.query(
        'SELECT status::text AS status, pg_typeof(status)::text AS type FROM wb_types.typed_row WHERE id = 1',
      );
      expect(row).toEqual({ status: 'it\'s "quoted"', type: 'wb_types.typed_row_status_enum' });
    });
  }
});
