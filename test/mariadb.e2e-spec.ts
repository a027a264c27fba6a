import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import type { DataSourceOptions } from 'typeorm';
import mysql from 'mysql2/promise';
import { foldAccents, foldsAccents } from '../lib/metadata/key-form.js';
import {
  createTestDatabase,
  MARIADB_URL,
  mariadbAvailable,
  type TestDatabase,
} from './support/databases.js';
import { Membership, Post } from './support/entities.js';
import { holdAt } from './support/query-gate.js';
import { createTestApp, type TestApp } from './support/test-app.js';

/*
 * What only MySQL/MariaDB need proving: an UPDATE's affected rows count
 * changed rows unless the connection asks for found rows, and InnoDB's
 * default isolation takes gap locks. The shared suites run on MariaDB too.
 */
/** Every precomposed letter of the Latin blocks `foldAccents` changes, with what it becomes. */
function foldedLetters(): Array<[string, string]> {
  const letters: Array<[string, string]> = [];
  for (const [from, to] of [
    [0xc0, 0x24f],
    [0x1e00, 0x1eff],
  ]) {
    for (let code = from; code <= to; code++) {
      const letter = String.fromCodePoint(code);
      if (foldAccents(letter) !== letter) letters.push([letter, foldAccents(letter)]);
    }
  }
  return letters;
}

const describeMariadb = (await mariadbAvailable()) ? describe : describe.skip;

describeMariadb('MariaDB', () => {
  let t: TestApp | undefined;
  let database: TestDatabase | undefined;
  afterEach(async () => {
    await t?.close();
    await database?.drop();
    t = database = undefined;
  });

  /** A test app on MariaDB whose data source also takes `extra` options. */
  async function app(extra: Partial<DataSourceOptions> = {}) {
    const created = await createTestDatabase('mariadb');
    database = {
      ...created,
      options: (options) => ({ ...created.options(options), ...extra }) as DataSourceOptions,
    };
    t = await createTestApp('mariadb', {}, { database });
    return t;
  }

  /** Buffers writes that change nothing in rows that exist, and one write to a row that does not. */
  async function unchangingWrites(t: TestApp) {
    await t.dataSource.getRepository(Post).insert([
      { id: 1, title: 'same', views: 5 },
      { id: 2, title: 'other', views: 7 },
    ]);
    await t.buffer.increment(Post, 1, 'views', 3);
    await t.buffer.increment(Post, 1, 'views', -3); // nets to 0
    await t.buffer.update(Post, 2, { title: 'other' }); // its current value
    await t.buffer.increment(Post, 3, 'views'); // no row 3
    return t.buffer.flush();
  }

  it.each([
    ['the app data source', {}],
    [
      "an app data source whose flags turn FOUND_ROWS off (the flush's own connection asks for it)",
      { flags: ['-FOUND_ROWS'] },
    ],
  ])(
    'does not report rows missing when a counter nets to 0 or an update sets the current value, on %s',
    async (_name, extra) => {
      const t = await app(extra as Partial<DataSourceOptions>);
      const report = await unchangingWrites(t);
      expect(report.missing.map((m) => m.id)).toEqual([{ id: 3 }]);
      expect(await t.buffer.deadLetters()).toHaveLength(1);
      expect(await t.dataSource.getRepository(Post).find({ order: { id: 'ASC' } })).toMatchObject([
        { id: 1, title: 'same', views: 5 },
        { id: 2, title: 'other', views: 7 },
      ]);
      expect(await t.buffer.get(Post, 1, 'views')).toBe(5);
    },
  );

  it('the app connection without FOUND_ROWS counts changed rows only (what the flush must not rely on)', async () => {
    const t = await app({ flags: ['-FOUND_ROWS'] });
    await t.dataSource.getRepository(Post).insert({ id: 1, title: 'same' });
    const result = await t.dataSource.getRepository(Post).update({ id: 1 }, { title: 'same' });
    expect(result.affected).toBe(0);
  });

  it('flushes at READ COMMITTED: the app inserts next to a missing row while the flush holds its transaction', async () => {
    const t = await app();
    const posts = t.dataSource.getRepository(Post);
    await posts.insert([
      { id: 1, views: 1 },
      { id: 10, views: 10 },
    ]);
    await t.buffer.increment(Post, 1, 'views', 2);
    await t.buffer.increment(Post, 5, 'views', 2); // no row 5: the UPDATE looks for it between 1 and 10
    // The flush pauses after its UPDATE, before it records what it missed and commits.
    const gate = holdAt('query', /SET `missed`/);
    const flushing = t.buffer.flush();
    await gate.reached;
    try {
      // Under REPEATABLE READ the UPDATE's gap lock would make these wait until the flush commits.
      const appWrites = Promise.all([
        posts.insert({ id: 5, views: 50 }),
        posts.insert({ id: 7, views: 70 }),
        posts.increment({ id: 10 }, 'views', 1),
      ]);
      const outcome = await Promise.race([
        appWrites.then(() => 'done'),
        new Promise((resolve) => setTimeout(() => resolve('blocked'), 3000)),
      ]);
      expect(outcome).toBe('done');
    } finally {
      gate.release();
    }
    const report = await flushing;
    expect(report.missing.map((m) => m.id)).toEqual([{ id: 5 }]);
    expect(await posts.find({ order: { id: 'ASC' } })).toMatchObject([
      { id: 1, views: 3 },
      { id: 5, views: 50 },
      { id: 7, views: 70 },
      { id: 10, views: 11 },
    ]);
  });

  it("keys a string as the column's default collation compares it: ASCII letter case and trailing spaces", async () => {
    const t = await app();
    await t.dataSource.getRepository(Membership).insert({ orgId: 'Acme', userId: 1, points: 10 });
    const spellings = ['Acme', 'acme', 'ACME', 'Acme  '];
    for (const orgId of spellings)
      await t.buffer.increment(Membership, { orgId, userId: 1 }, 'points');
    // One buffered row, as the database has one: a second would be added to it twice or not at all.
    expect((await t.buffer.stats()).pending.counters).toBe(1);
    for (const orgId of spellings) {
      expect(await t.buffer.get(Membership, { orgId, userId: 1 }, 'points')).toBe(14);
    }
    const report = await t.buffer.flush();
    expect(report).toMatchObject({ incremented: 1, missing: [], deadLettered: 0 });
    expect(await t.dataSource.getRepository(Membership).find()).toMatchObject([
      { orgId: 'Acme', userId: 1, points: 14 },
    ]);
  });

  it('the app and the flush writing the same rows at once lose nothing', async () => {
    const t = await app();
    const posts = t.dataSource.getRepository(Post);
    const ids = Array.from({ length: 20 }, (_, i) => i + 1);
    await posts.insert(ids.map((id) => ({ id })));
    let stop = false;
    let appAdded = 0;
    let deadlocks = 0;
    const appWriter = (async () => {
      // The app's own transactions increment the same rows in the opposite
      // order; InnoDB may pick either side as a deadlock victim, which retries.
      while (!stop) {
        try {
          await t.dataSource.transaction(async (manager) => {
            for (const id of [...ids].reverse()) await manager.increment(Post, { id }, 'views', 1);
          });
          appAdded++;
        } catch (error) {
          if ((error as { driverError?: { errno?: number } }).driverError?.errno !== 1213)
            throw error;
          deadlocks++;
        }
      }
    })();
    let buffered = 0;
    for (let round = 0; round < 10; round++) {
      for (const id of ids) await t.buffer.increment(Post, id, 'views', 2);
      buffered++;
      // A flush that lost a deadlock keeps its batch: the next one applies it.
      await t.buffer.flush().catch(() => deadlocks++);
    }
    stop = true;
    await appWriter;
    await t.buffer.flush();
    const rows = await posts.find({ order: { id: 'ASC' } });
    expect(rows.map((row) => row.views)).toEqual(ids.map(() => appAdded + 2 * buffered));
    expect(await t.buffer.deadLetters()).toEqual([]);
  });

  it('folds only what the server compares equal: every accented letter, under every collation that folds accents', async () => {
    const letters = foldedLetters();
    expect(letters.length).toBeGreaterThan(400);
    const connection = await mysql.createConnection({ uri: MARIADB_URL });
    try {
      const [rows] = await connection.query(
        'SELECT COLLATION_NAME AS name FROM information_schema.COLLATIONS',
      );
      const collations = (rows as Array<{ name: string }>).map((r) => r.name).filter(foldsAccents);
      expect(collations).toEqual(
        expect.arrayContaining(['utf8mb4_general_ci', 'utf8mb4_unicode_ci', 'utf8mb3_general_ci']),
      );
      for (const collation of collations) {
        const charset = collation.split('_')[0];
        const cell = (i: number) =>
          `CONVERT(? USING ${charset}) COLLATE ${collation} = CONVERT(? USING ${charset}) COLLATE ${collation} AS c${i}`;
        // Upper- and lower-case letters alike (`'É'` → `'e'`).
        const pairs = letters;
        const [[answer]] = (await connection.query(
          `SELECT ${pairs.map((_, i) => cell(i)).join(', ')}`,
          pairs.flat(),
        )) as unknown as [[Record<string, number>]];
        const apart = pairs.filter((_, i) => answer[`c${i}`] !== 1).map(([a, b]) => `${a}≠${b}`);
        expect({ collation, apart }).toEqual({ collation, apart: [] });
      }
      // Why language collations are left out: Swedish keeps 'ö' apart from 'o'.
      const [[swedish]] = (await connection.query(
        "SELECT 'ö' = 'o' COLLATE utf8mb4_swedish_ci AS same",
      )) as unknown as [[{ same: number }]];
      expect(swedish.same).toBe(0);
      expect(foldsAccents('utf8mb4_swedish_ci')).toBe(false);
    } finally {
      await connection.end();
    }
  });

  it('keys spellings that differ in accents, case and trailing spaces as one row under utf8mb4_general_ci', async () => {
    const t = await app();
    await t.dataSource.getRepository(Membership).insert({ orgId: 'elan', userId: 1, points: 10 });
    const spellings = ['elan', 'Élan', 'ÉLAN', 'élan  ', 'ëlån'];
    for (const orgId of spellings) {
      await t.buffer.increment(Membership, { orgId, userId: 1 }, 'points');
    }
    expect((await t.buffer.stats()).pending.counters).toBe(1);
    expect(await t.buffer.get(Membership, { orgId: 'Élan', userId: 1 }, 'points')).toBe(15);
    const report = await t.buffer.flush();
    expect(report.missing).toEqual([]);
    expect(await t.dataSource.getRepository(Membership).find()).toMatchObject([
      { orgId: 'elan', userId: 1, points: 15 },
    ]);
  });

  it.each([
    ['ß', 's'],
    ['😀', '😁'],
  ])(
    "applies every write once when two keys it does not fold name one row ('%s' and '%s' under utf8mb4_general_ci)",
    async (one, other) => {
      const t = await app();
      const members = t.dataSource.getRepository(Membership);
      await members.insert([
        { orgId: 'elan', userId: 1, points: 10 },
        { orgId: one, userId: 1, points: 100 },
      ]);
      await t.buffer.increment(Membership, { orgId: one, userId: 1 }, 'points', 2);
      await t.buffer.increment(Membership, { orgId: other, userId: 1 }, 'points', 3);
      await t.buffer.update(Membership, { orgId: other, userId: 1 }, { role: 'admin' });
      await t.buffer.increment(Membership, { orgId: 'elan', userId: 1 }, 'points');
      await t.buffer.increment(Membership, { orgId: 'nobody', userId: 1 }, 'points');
      expect((await t.buffer.stats()).pending.counters).toBe(4);

      const report = await t.buffer.flush();
      expect(report.missing.map((m) => m.id)).toEqual([{ orgId: 'nobody', userId: 1 }]);
      expect(await members.find({ order: { points: 'ASC' } })).toMatchObject([
        { orgId: 'elan', points: 11 },
        { orgId: one, points: 105, role: 'admin' },
      ]);
      const stats = await t.buffer.stats();
      expect(stats.pending).toMatchObject({ counters: 0, updates: 0 });
      expect(stats.inFlightBatches).toBe(0);
      expect(stats.deadLetters).toBe(1);
      // Flushed again, nothing is added a second time.
      await t.buffer.flush();
      expect(await members.findOneBy({ orgId: one, userId: 1 })).toMatchObject({ points: 105 });
    },
  );
});
