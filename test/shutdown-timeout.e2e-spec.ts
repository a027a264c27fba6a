import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import type { LoggerService } from '@nestjs/common';

import pg from 'pg';
import { WriteBufferConfigError, type WriteBufferModuleOptions } from '../lib/index.js';
import { createTestDatabase, postgresAvailable } from './support/databases.js';
import { Post } from './support/entities.js';
import { UPDATE_STATEMENT } from './support/query-counter.js';
import { holdAt } from './support/query-gate.js';
import { scratchSpace } from './support/scratch.js';
import { createTestApp } from './support/test-app.js';

const { databases, journalPath } = scratchSpace('wb-shutdown-');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Keeps the error lines the app logs. */
class ErrorLog implements LoggerService {
  readonly errors: string[] = [];
  log() {}
  warn() {}
  debug() {}
  verbose() {}
  error(message: unknown) {
    this.errors.push(String(message));
  }
}

/** Milliseconds `close()` took, or -1 if it had not returned after `limit` ms. */
async function timeClose(close: () => Promise<void>, limit: number): Promise<number> {
  const started = Date.now();
  let timer!: NodeJS.Timeout;
  const late = new Promise<number>((resolve) => (timer = setTimeout(() => resolve(-1), limit)));
  const elapsed = await Promise.race([close().then(() => Date.now() - started), late]);
  clearTimeout(timer);
  return elapsed;
}

const TIMEOUT = 1000;

describe('flush.shutdownTimeout', () => {
  it.each([0, -1, 1.5, Number.NaN, '5000'])(
    'refuses shutdownTimeout %p at start with a WriteBufferConfigError naming the option',
    async (value) => {
      const database = await createTestDatabase('sqlite');
      databases.push(database);
      const opening = createTestApp(
        'sqlite',
        { flush: { shutdownTimeout: value as number } },
        { database },
      );
      await expect(opening).rejects.toThrow(WriteBufferConfigError);
      await expect(opening).rejects.toThrow(
        /^flush\.shutdownTimeout must be a whole number of milliseconds from 1 to 2147483647/,
      );
      // Let the data source the failed app was opening finish before the database goes.
      await sleep(50);
    },
  );

  it('on SQLite: a final flush stuck in the database is abandoned after the timeout; the journal keeps it for the next start, applied once', async () => {
    const path = journalPath();
    const database = await createTestDatabase('sqlite');
    databases.push(database);
    const log = new ErrorLog();
    const options: WriteBufferModuleOptions = {
      storage: { type: 'memory', journal: { path } },
      flush: { shutdownTimeout: TIMEOUT },
    };
    let t = await createTestApp('sqlite', options, { database, logger: log });
    await t.dataSource.getRepository(Post).insert({ id: 1 });
    for (let i = 0; i < 7; i++) await t.buffer.increment(Post, 1, 'views');

    const gate = holdAt('query', UPDATE_STATEMENT);
    const elapsed = await timeClose(() => t.close(), TIMEOUT + 5000);
    await gate.reached;
    gate.release(); // the abandoned flush goes on against a closed connection, and fails
    await sleep(100);
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT - 50);
    expect(elapsed).toBeLessThan(TIMEOUT + 3000);
    expect(log.errors.join('\n')).toMatch(
      /FINAL FLUSH FAILED at shutdown: it did not finish within 1000 ms \(flush\.shutdownTimeout\).*Still buffered: 1 counter\(s\), 0 updated row\(s\), 0 insert\(s\), 1 in-flight batch\(es\) among them\. They stay in the journal/,
    );

    t = await createTestApp('sqlite', options, { database });
    expect((await t.dataSource.getRepository(Post).findOneByOrFail({ id: 1 })).views).toBe(7);
    await t.buffer.flush();
    expect((await t.dataSource.getRepository(Post).findOneByOrFail({ id: 1 })).views).toBe(7);
    await t.close();
  }, 30_000);

  it('without a journal, the abandoned writes are logged as lost, with their counts', async () => {
    const database = await createTestDatabase('sqlite');
    databases.push(database);
    const log = new ErrorLog();
    const t = await createTestApp(
      'sqlite',
      { flush: { shutdownTimeout: TIMEOUT } },
      { database, logger: log },
    );
    await t.dataSource.getRepository(Post).insert([{ id: 1 }, { id: 2 }]);
    await t.buffer.increment(Post, 1, 'views');
    await t.buffer.increment(Post, 2, 'likes');
    const gate = holdAt('query', UPDATE_STATEMENT);
    const elapsed = await timeClose(() => t.close(), TIMEOUT + 5000);
    await gate.reached;
    gate.release();
    await sleep(100);
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT - 50);
    expect(elapsed).toBeLessThan(TIMEOUT + 3000);
    expect(log.errors.join('\n')).toMatch(
      /FINAL FLUSH FAILED at shutdown: it did not finish within 1000 ms.*Still buffered: 2 counter\(s\), 0 updated row\(s\), 0 insert\(s\), 1 in-flight batch\(es\) among them\. The memory storage has no journal: these writes are LOST/,
    );
  }, 30_000);

  it('on PostgreSQL: a final flush waiting on a table lock is abandoned after the timeout, its transaction never commits, and the next start applies the writes once', async () => {
    if (!(await postgresAvailable())) return;
    const path = journalPath();
    const database = await createTestDatabase('postgres');
    databases.push(database);
    const log = new ErrorLog();
    const options: WriteBufferModuleOptions = {
      storage: { type: 'memory', journal: { path } },
      flush: { shutdownTimeout: TIMEOUT },
    };
    let t = await createTestApp('postgres', options, { database, logger: log });
    await t.dataSource.getRepository(Post).insert({ id: 1 });
    for (let i = 0; i < 5; i++) await t.buffer.increment(Post, 1, 'views');

    const url = (database.options({ entities: [] }) as { url: string }).url;
    const blocker = new pg.Client({ connectionString: url });
    await blocker.connect();
    let elapsed: number;
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE post IN ACCESS EXCLUSIVE MODE');
      elapsed = await timeClose(() => t.close(), TIMEOUT + 5000);
    } finally {
      await blocker.query('ROLLBACK');
    }
    try {
      expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT - 50);
      expect(elapsed).toBeLessThan(TIMEOUT + 3000);
      expect(log.errors.join('\n')).toMatch(
        /FINAL FLUSH FAILED at shutdown: it did not finish within 1000 ms \(flush\.shutdownTimeout\).*They stay in the journal/,
      );
      // Once the lock is gone, the closed app's session ends without committing.
      let others = -1;
      for (let i = 0; i < 100 && others !== 0; i++) {
        if (i) await sleep(50);
        const { rows } = await blocker.query<{ n: string }>(
          `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
        );
        others = Number(rows[0].n);
      }
      expect(others).toBe(0);
      const { rows } = await blocker.query<{ views: number }>(
        'SELECT views FROM post WHERE id = 1',
      );
      expect(rows[0].views).toBe(0);
    } finally {
      await blocker.end();
    }

    t = await createTestApp('postgres', options, { database });
    expect((await t.dataSource.getRepository(Post).findOneByOrFail({ id: 1 })).views).toBe(5);
    await t.buffer.flush();
    expect((await t.dataSource.getRepository(Post).findOneByOrFail({ id: 1 })).views).toBe(5);
    await t.close();
  }, 30_000);
});
