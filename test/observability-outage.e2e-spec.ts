import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { EventEmitterModule, EventEmitter2 } from '@nestjs/event-emitter';
import { HealthIndicatorService } from '@nestjs/terminus';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { WriteBufferEvent } from '../lib/index.js';
import { WriteBufferHealthIndicator } from '../lib/terminus/index.js';
import { POSTGRES_URL, postgresAvailable } from './support/databases.js';
import { Post } from './support/entities.js';
import { createTestApp } from './support/test-app.js';

const PG_DATA = process.env.WB_TEST_PG_DATA ?? '/tmp/write-buffer-test-servers/pg';

async function reachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 1000 });
  return client.connect().then(
    () => client.end().then(() => true),
    () => false,
  );
}

/** Stops the real test PostgreSQL server (fast shutdown, by its postmaster pid). */
async function stopPostgres() {
  const pid = Number(readFileSync(join(PG_DATA, 'postmaster.pid'), 'utf8').split('\n')[0]);
  process.kill(pid, 'SIGINT');
  while (await reachable()) await new Promise((resolve) => setTimeout(resolve, 100));
  // servers.sh takes a server whose pid file is still there for running.
  while (existsSync(join(PG_DATA, 'postmaster.pid'))) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Starts it again, exactly as test/servers.sh started it. */
function startPostgres() {
  const result = spawnSync('bash', ['test/servers.sh', 'start'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`restarting PostgreSQL failed: ${result.stderr}`);
}

const canStop = (await postgresAvailable()) && process.getuid?.() === 0;

(canStop ? describe : describe.skip)('health and events through a real PostgreSQL outage', () => {
  it('goes down while flushes fail, up after; failed and recovered fire once each', async () => {
    const t = await createTestApp(
      'postgres',
      { flush: { retry: { baseDelay: 100, maxDelay: 200 } } },
      { imports: [EventEmitterModule.forRoot()] },
    );
    const events: string[] = [];
    const emitter = t.app.get(EventEmitter2);
    for (const name of Object.values(WriteBufferEvent)) emitter.on(name, () => events.push(name));
    const indicator = new WriteBufferHealthIndicator(new HealthIndicatorService(), t.buffer);
    const thresholds = { maxConsecutiveFailures: 3 };
    let stopped = false;
    try {
      await t.dataSource.getRepository(Post).insert({ id: 1 });
      await t.buffer.increment(Post, 1, 'views', 5);
      expect((await indicator.isHealthy('write-buffer', thresholds))['write-buffer'].status).toBe(
        'up',
      );

      await stopPostgres();
      stopped = true;
      for (let i = 0; i < 3; i++) await expect(t.buffer.flush()).rejects.toThrow();
      const down = (await indicator.isHealthy('write-buffer', thresholds))['write-buffer'];
      expect(down).toMatchObject({ status: 'down', consecutiveFailures: 3, inFlightBatches: 1 });
      expect(down.lagMs).toBeGreaterThan(0);
      expect(events.filter((e) => e === WriteBufferEvent.FlushFailed)).toHaveLength(1);

      startPostgres();
      stopped = false;
      while (!(await reachable())) await new Promise((resolve) => setTimeout(resolve, 100));
      // The pool's connections died with the server: retry until one is fresh.
      for (let i = 0; ; i++) {
        try {
          await t.buffer.flush();
          break;
        } catch (error) {
          if (i > 20) throw error;
        }
      }
      const up = (await indicator.isHealthy('write-buffer', thresholds))['write-buffer'];
      expect(up).toMatchObject({ status: 'up', consecutiveFailures: 0, inFlightBatches: 0 });
      expect(events.filter((e) => e === WriteBufferEvent.FlushFailed)).toHaveLength(1);
      expect(events.filter((e) => e === WriteBufferEvent.FlushRecovered)).toHaveLength(1);
      const row = await t.dataSource.getRepository(Post).findOneByOrFail({ id: 1 });
      expect(row.views).toBe(5);
    } finally {
      if (stopped) startPostgres();
      await t.close();
    }
  }, 60_000);
});
