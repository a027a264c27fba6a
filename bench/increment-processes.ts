import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { WriteBufferStorageOptions } from '../lib/index.js';
import { seconds } from './measure.js';

/** Processes running bench/increment-worker.ts on one storage, started together. */
export interface IncrementProcesses {
  /** Every process runs `ops` increments at once; resolves the total ops/s over the wall time. */
  run(ops: number): Promise<number>;
  stop(): Promise<void>;
}

/** Starts `count` increment workers on `storage` and waits until each is ready. */
export async function startIncrementProcesses(
  count: number,
  storage: WriteBufferStorageOptions,
): Promise<IncrementProcesses> {
  const children: Array<{ child: ChildProcess; next: () => Promise<string> }> = [];
  for (let i = 0; i < count; i++) {
    const child = spawn(process.execPath, [join(import.meta.dirname, 'increment-worker.js')], {
      env: { ...process.env, STORAGE: JSON.stringify(storage) },
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
