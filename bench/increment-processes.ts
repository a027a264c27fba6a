import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { WriteBufferStorageOptions } from '../lib/index.js';
import { seconds } from './measure.js';

/** Processes running one bench worker script on one storage, started together. */
export interface IncrementProcesses {
  /** Every process runs `ops` increments at once; resolves the total ops/s over the wall time. */
  run(ops: number): Promise<number>;
  stop(): Promise<void>;
}

/** Starts `count` increment workers on `storage` and waits until each is ready. */
export function startIncrementProcesses(
  count: number,
  storage: WriteBufferStorageOptions,
): Promise<IncrementProcesses> {
  return startWorkers(count, 'increment-worker.js', { STORAGE: JSON.stringify(storage) });
}

/**
 * Starts `count` raw lmdb-js workers (bench/lmdb-raw-worker.ts) on one
 * environment at `path`, writing as `mode` says (each write flushed, or
 * only `committed`), and waits until each is ready.
 */
export function startRawLmdbProcesses(
  count: number,
  path: string,
  mode: 'rmw' | 'put',
  committed = false,
): Promise<IncrementProcesses> {
  const env = { LMDB_PATH: path, MODE: mode, ...(committed && { COMMITTED: '1' }) };
  return startWorkers(count, 'lmdb-raw-worker.js', env);
}

/** Starts `count` processes of the bench script `script` (same protocol: READY, go, DONE). */
async function startWorkers(
  count: number,
  script: string,
  env: Record<string, string>,
): Promise<IncrementProcesses> {
  const children: Array<{ child: ChildProcess; next: () => Promise<string> }> = [];
  for (let i = 0; i < count; i++) {
    const child = spawn(process.execPath, [join(import.meta.dirname, script)], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const waiting: Array<(line: string) => void> = [];
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line === 'READY' || line === 'DONE') waiting.shift()?.(line);
    });
    const next = () => new Promise<string>((resolve) => waiting.push(resolve));
    children.push({ child, next });
  }
  await Promise.all(children.map(({ next }) => next()));
  return {
    async run(ops) {
      const start = process.hrtime.bigint();
      const done = children.map(({ next }) => next());
      for (const { child } of children) child.stdin!.write(`go ${ops}\n`);
      await Promise.all(done);
      return (ops * count) / seconds(start);
    },
    async stop() {
      await Promise.all(
        children.map(
          ({ child }) =>
            new Promise<void>((resolve) => {
              child.once('exit', () => resolve());
              child.stdin!.end();
            }),
        ),
      );
    },
  };
}
