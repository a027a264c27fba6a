import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, databaseKinds } from './support/databases.js';
import { Post } from './support/entities.js';
import { scratchSpace } from './support/scratch.js';
import { createTestApp, type TestApp } from './support/test-app.js';

const { dirs, databases } = scratchSpace('wb-steady-');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Increments post 1 once per event-loop turn until stopped; counts what was acknowledged. */
function steadyWriter(t: TestApp) {
  const state = { acked: 0, failed: 0, stopped: false };
  const writes: Array<Promise<void>> = [];
  const tick = () => {
    if (state.stopped) return;
    writes.push(
      t.buffer.increment(Post, 1, 'views').then(
        () => void state.acked++,
        () => void state.failed++,
      ),
    );
    setImmediate(tick);
  };
  tick();
  return {
    state,
    stop: async () => {
      state.stopped = true;
      await Promise.all(writes);
    },
  };
}

/** Resolves once `done()` holds (checked every 5 ms), or after 10 s. */
async function until(done: () => boolean): Promise<void> {
  for (let waited = 0; !done() && waited < 10_000; waited += 5) await sleep(5);
}

/** Resolves with the flush's completion, or `false` if it takes longer than `ms`. */
async function flushWithin(t: TestApp, ms: number): Promise<boolean> {
  let timer!: NodeJS.Timeout;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const done = await Promise.race([t.buffer.flush().then(() => true), late]);
  clearTimeout(timer);
  return done;
}

describe.each(await databaseKinds())('journaled flush under a steady writer on %s', (kind) => {
  const setup = async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wb-steady-'));
    dirs.push(dir);
    const path = join(dir, 'journal.mdb');
    const database = await createTestDatabase(kind);
    databases.push(database);
    const open = () =>
      createTestApp(
        kind,
        {
          storage: { type: 'memory', journal: { path } },
          flush: { onShutdown: false, maxPending: 0 },
        },
        { database },
      );
    const t = await open();
    await t.dataSource.getRepository(Post).insert({ id: 1 });
    return { open, t };
  };
  const views = async (t: TestApp) =>
    (await t.dataSource.getRepository(Post).findOneByOrFail({ id: 1 })).views;

  it('flush() completes while a writer increments once per turn, and the DB then holds every acknowledged increment', async () => {
    const { t } = await setup();
    const writer = steadyWriter(t);
    await until(() => writer.state.acked >= 20);
    const before = writer.state.acked;
    const completed: boolean[] = [];
    try {
      for (let i = 0; i < 3; i++) completed.push(await flushWithin(t, 5000));
    } finally {
      await writer.stop();
    }
    expect(completed).toEqual([true, true, true]);
    expect(writer.state.failed).toBe(0);
    // Writes were acknowledged while the flushes ran (how many follows the machine's load).
    expect(writer.state.acked).toBeGreaterThan(before);
    await t.buffer.flush();
    expect(await views(t)).toBe(writer.state.acked);
    await t.close();
  }, 60_000);

  it('a restart from the journal after flushes under a steady writer counts nothing twice', async () => {
    const { open, t: first } = await setup();
    let t = first;
    const writer = steadyWriter(t);
    const completed: boolean[] = [];
    try {
      // Each claim takes the row while its next journal write is queued for the end of the turn.
      for (let i = 0; i < 5; i++) {
        await sleep(20);
        completed.push(await flushWithin(t, 5000));
      }
    } finally {
      await writer.stop();
    }
    expect(completed).toEqual([true, true, true, true, true]);
    const flushed = await views(t);
    expect(flushed).toBeGreaterThan(0);
    expect(flushed).toBeLessThanOrEqual(writer.state.acked);
    await t.close(); // no final flush: the rest stays in the journal

    t = await open();
    expect((await t.buffer.get(Post, 1, 'views')) - writer.state.acked).toBe(0);
    await t.buffer.flush();
    expect(await views(t)).toBe(writer.state.acked);
    await t.close();
  }, 60_000);

  it('rows a claim takes while their end-of-turn journal write is queued are not pending again after a restart', async () => {
    const { open, t: first } = await setup();
    let t = first;
    const rows = 64;
    await t.dataSource
      .getRepository(Post)
      .insert(Array.from({ length: rows - 1 }, (_, i) => ({ id: i + 2 })));
    const acked = new Array<number>(rows + 1).fill(0);
    const writes: Array<Promise<void>> = [];
    const write = (id: number) =>
      writes.push(t.buffer.increment(Post, id, 'views').then(() => void acked[id]++));
    const afterTurns = (turns: number, run: () => void) =>
      turns === 0 ? run() : setImmediate(() => afterTurns(turns - 1, run));
    // Row k is written now and once more k turns later (its last write), so
    // some row's last write is queued for the end of its turn when the claim takes it.
    for (let round = 0; round < 5; round++) {
      for (let id = 1; id <= rows; id++) {
        write(id);
        afterTurns(id, () => write(id));
      }
      await t.buffer.flush();
      await Promise.all(writes);
    }
    // Every scheduled write has been issued (the last ones `rows` turns after their round) and answered.
    await new Promise<void>((resolve) => afterTurns(rows + 2, resolve));
    await Promise.all(writes);
    await t.close(); // no final flush

    t = await open();
    for (let id = 1; id <= rows; id++) {
      expect([id, await t.buffer.get(Post, id, 'views')]).toEqual([id, acked[id]]);
    }
    await t.buffer.flush();
    const posts = await t.dataSource.getRepository(Post).find({ order: { id: 'ASC' } });
    expect(posts.map((p) => p.views)).toEqual(acked.slice(1));
    await t.close();
  }, 60_000);
});
