import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';

import { open, type Key } from 'lmdb';
import { WriteBufferConfigError } from '../lib/index.js';
import { createStorage } from '../lib/storage/create-storage.js';
import { JOURNAL_FORMAT } from '../lib/storage/lmdb-journal.js';
import { createTestDatabase } from './support/databases.js';
import { Post } from './support/entities.js';
import { scratchSpace } from './support/scratch.js';
import { createTestApp } from './support/test-app.js';

const { databases, journalPath } = scratchSpace('wb-format-');

async function setup() {
  const path = journalPath();
  const database = await createTestDatabase('sqlite');
  databases.push(database);
  const openApp = () =>
    createTestApp(
      'sqlite',
      { storage: { type: 'memory', journal: { path } }, flush: { onShutdown: false } },
      { database },
    );
  /** What `WriteBufferModule` does first at start: open the storage. */
  const openStorage = () => createStorage({ type: 'memory', journal: { path } });
  return { path, openApp, openStorage };
}

/** Every entry of the environment at `path`, read raw with `encoding`. */
async function rawEntries(path: string, encoding: 'msgpack' | 'string') {
  const db = open<unknown, Key>({ path, compression: false, encoding });
  const entries = [...db.getRange()].map(({ key, value }) => [key, value]);
  await db.close();
  return entries;
}

describe('journal format version', () => {
  it('refuses a journal written before format versions (msgpack values, no format key), and leaves it as it was', async () => {
    const { path, openStorage } = await setup();
    // What an earlier build wrote: the same key layout, values in lmdb-js's default msgpack.
    const old = open<unknown, Key>({ path, compression: false });
    await old.put(['p', 'default', 'post', '[1]'], { deltas: { views: 3 } });
    await old.put(['i', 'default', 'activity_log', 1], { postId: 1, at: new Date() });
    await old.close();
    const before = await rawEntries(path, 'msgpack');

    for (let attempt = 0; attempt < 2; attempt++) {
      const opening = openStorage();
      await expect(opening).rejects.toThrow(WriteBufferConfigError);
      await expect(opening).rejects.toThrow(
        `The write-buffer journal '${path}' has format none (it holds entries but no format key: ` +
          `it was written by a build from before format versions); this version reads format ${JOURNAL_FORMAT}.`,
      );
      await expect(opening).rejects.toThrow(/Start the version that wrote it once to flush it/);
      await expect(opening).rejects.toThrow(/delete the journal/);
    }
    expect(await rawEntries(path, 'msgpack')).toEqual(before);
  });

  it('refuses a journal of a format this version does not know', async () => {
    const { path, openStorage } = await setup();
    const future = open<string, Key>({ path, compression: false, encoding: 'string' });
    await future.put(['v'], '2');
    await future.put(['p', 'default', 'post', '[1]'], 'something new');
    await future.close();

    const opening = openStorage();
    await expect(opening).rejects.toThrow(WriteBufferConfigError);
    await expect(opening).rejects.toThrow(
      `The write-buffer journal '${path}' has format "2"; this version reads format ${JOURNAL_FORMAT}.`,
    );
    expect(await rawEntries(path, 'string')).toEqual([
      [['p', 'default', 'post', '[1]'], 'something new'],
      ['v', '2'], // lmdb-js encodes the key ['v'] as 'v'
    ]);
  });

  it('stamps a new journal with its format, and a current journal round-trips', async () => {
    const { path, openApp } = await setup();
    let t = await openApp();
    await t.dataSource.getRepository(Post).insert({ id: 1 });
    await t.buffer.increment(Post, 1, 'views', 4);
    await t.close();
    expect(await rawEntries(path, 'string')).toEqual([
      [['p', 'default', 'post', '[1]'], JSON.stringify({ deltas: { views: 4 } })],
      ['v', String(JOURNAL_FORMAT)],
    ]);

    t = await openApp();
    expect(await t.buffer.get(Post, 1, 'views')).toBe(4);
    await t.buffer.flush();
    expect((await t.dataSource.getRepository(Post).findOneByOrFail({ id: 1 })).views).toBe(4);
    expect((await t.buffer.stats()).journal?.entries).toBe(0);
    await t.close();
  });
});
