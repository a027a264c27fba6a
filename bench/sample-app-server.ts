import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';

/** The sample app running in a child process. */
export interface SampleAppServer {
  url: string;
  /** Stops the app (SIGTERM: its final flush runs) and removes its data directory. */
  stop(): Promise<void>;
}

/**
 * Starts the sample app (compiled next to the bench) with `env` on a free
 * port and a fresh data directory, and waits until it answers.
 */
export async function startSampleApp(env: Record<string, string>): Promise<SampleAppServer> {
  const port = 3900 + Math.floor(Math.random() * 1000);
  const dataDir = mkdtempSync(join(tmpdir(), 'wb-bench-app-'));
  const child = spawn(
    process.execPath,
    [join(import.meta.dirname, '..', 'sample-app', 'main.js')],
    {
      env: { ...process.env, ...env, PORT: String(port), DATA_DIR: dataDir },
      stdio: 'ignore',
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    const up = await fetch(`${url}/buffer/stats`).then(
      (response) => response.ok,
      () => false,
    );
    if (up) return { url, stop };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill('SIGKILL');
  await stop();
  throw new Error('the sample app did not start');
}

/** Requests per second of GET `path` with 32 connections for `seconds`. */
export async function requestsPerSecond(url: string, path: string, seconds: number) {
  const result = await autocannon({ url: `${url}${path}`, connections: 32, duration: seconds });
  if (result.non2xx) throw new Error(`${path}: ${result.non2xx} non-2xx responses`);
  if (result.errors) throw new Error(`${path}: ${result.errors} connection errors`);
  return result.requests.average;
}
