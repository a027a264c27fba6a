import 'reflect-metadata';
import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { WriteBufferConfigError } from '../lib/index.js';
import { LmdbJournal } from '../lib/storage/lmdb-journal.js';
import { buildCrashApp } from './crash/crash-harness.js';
import { createTestDatabase, type TestDatabase } from './support/databases.js';
import { Post } from './support/entities.js';
import { createTestApp } from './support/test-app.js';

const dirs: string[] = [];
const databases: TestDatabase[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  }
  while (dirs.length) rmSync(dirs.pop()!, { recursive: true, force: true });
  while (databases.length) await databases.pop()!.drop();
});

function journalPath() {
  const dir = mkdtempSync(join(tmpdir(), 'wb-owner-'));
  dirs.push(dir);
  return join(dir, 'journal.mdb');
}

let holderScript: string;

/** Starts a process that opens the journal; resolves with its first answer line. */
function startHolder(path: string) {
  const child = spawn(process.execPath, [holderScript, path], {
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const answer = new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (/^(HOLDING|REFUSED) /.test(line)) resolve(line);
    });
    child.once('exit', (code, signal) =>
      reject(new Error(`journal holder exited (${code ?? signal}) without answering`)),
    );
  });
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
  return { child, answer, exited };
}

describe('one process per journal', () => {
  beforeAll(() => {
    holderScript = join(buildCrashApp(), '..', '..', 'support', 'journal-holder.js');
  }, 180_000);

  it('a second process opening the journal fails naming the holder; once the holder is SIGKILLed it opens', async () => {
    const path = journalPath();
    const a = startHolder(path);
    expect(await a.answer).toBe(`HOLDING ${a.child.pid}`);

    const b = startHolder(path);
    const refused = await b.answer;
    expect(refused).toMatch(/^REFUSED WriteBufferConfigError: /);
    expect(refused).toContain(`'${path}'`);
    expect(refused).toContain(`is in use by process ${a.child.pid} on host`);
    expect(await b.exited).toBe(3);

    // This process is refused the same way.
    expect(() => new LmdbJournal({ path })).toThrow(WriteBufferConfigError);
    expect(() => new LmdbJournal({ path })).toThrow(`process ${a.child.pid}`);

    a.child.kill('SIGKILL');
    await a.exited;
    // The holder died without cleaning up: its owner file is still there, and stale.
    expect(existsSync(`${path}-owner`)).toBe(true);
    const c = startHolder(path);
    expect(await c.answer).toBe(`HOLDING ${c.child.pid}`);
    c.child.kill('SIGTERM');
    expect(await c.exited).toBe(0);
    // Closed properly, the journal opens again in this process.
    const journal = new LmdbJournal({ path });
    await journal.close();
  }, 60_000);

  it('an app not closed keeps the journal; a second app in the same process fails until it closes', async () => {
    const path = journalPath();
    const database = await createTestDatabase('sqlite');
    databases.push(database);
    const open = () =>
      createTestApp(
        'sqlite',
        { storage: { type: 'memory', journal: { path } }, flush: { onShutdown: false } },
        { database },
      );
    const first = await open();
    await first.dataSource.getRepository(Post).insert({ id: 1 });
    await first.buffer.increment(Post, 1, 'views', 2);

    const second = open();
    await expect(second).rejects.toThrow(WriteBufferConfigError);
    await expect(second).rejects.toThrow(
      `is in use by this process (pid ${process.pid}): another application instance in it has not been closed`,
    );

    await first.close();
    const third = await open();
    await third.buffer.flush();
    expect((await third.dataSource.getRepository(Post).findOneByOrFail({ id: 1 })).views).toBe(2);
    await third.close();
    // Released on close.
    expect(existsSync(`${path}-owner`)).toBe(false);
  }, 60_000);
});
