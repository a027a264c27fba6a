import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { BufferFullError } from '../lib/index.js';
import { POSTGRES_URL, postgresAvailable } from './support/databases.js';
import { Post } from './support/entities.js';
import { createTestApp } from './support/test-app.js';

const PG_DATA = process.env.WB_TEST_PG_DATA ?? '/tmp/write-buffer-test-servers/pg';
const DOWN_MS = 10_000;
const FLUSH_INTERVAL_MS = 1_000;
const LIMIT = 60;
const ROWS = 100;

/** Stops the real test PostgreSQL server (fast shutdown, by its postmaster pid). */
async function stopPostgres() {
  const pid = Number(readFileSync(join(PG_DATA, 'postmaster.pid'), 'utf8').split('\n')[0]);
  process.kill(pid, 'SIGINT');
  while (await reachable()) await new Promise((resolve) => setTimeout(resolve, 100));
}

/** Starts it again, exactly as test/servers.sh started it. */
function startPostgres() {
  const result = spawnSync('bash', ['test/servers.sh', 'start'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`restarting PostgreSQL failed: ${result.stderr}`);
}

async function reachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 1000 });
  return client.connect().then(
    () => client.end().then(() => true),
    () => false,
  );
}

const canStop = (await postgresAvailable()) && process.getuid?.() === 0;

(canStop ? describe : describe.skip)('a real PostgreSQL outage under load', () => {
  it.each(['reject', 'flush'] as const)(
    "policy '%s': nothing lost or doubled, pending bounded, backlog applied soon after",
    async (policy) => {
      const t = await createTestApp('postgres', {
        flush: {
          cron: '* * * * * *',
          retry: { baseDelay: 250, maxDelay: FLUSH_INTERVAL_MS },
          maxPending: 0,
        },
        limits: { maxPendingEntries: LIMIT, policy, waitTimeout: 500 },
      });
      const acked = new Array<number>(ROWS + 1).fill(0);
      let rejected = 0;
      let mostHeld = 0;
      const stop = { stopped: false };
      try {
        await t.dataSource
          .getRepository(Post)
          .insert(Array.from({ length: ROWS }, (_, i) => ({ id: i + 1 })));
        const workers = Array.from({ length: 8 }, async () => {
          while (!stop.stopped) {
            const id = 1 + Math.floor(Math.random() * ROWS);
            try {
              await t.buffer.increment(Post, id, 'views');
              acked[id]++;
            } catch (error) {
              if (!(error instanceof BufferFullError)) throw error;
              rejected++;
              await new Promise((resolve) => setTimeout(resolve, 20));
            }
            const { pending, inFlightBatches } = await t.buffer.stats();
            mostHeld = Math.max(mostHeld, pending.counters);
            if (inFlightBatches > 1) throw new Error(`${inFlightBatches} batches in flight`);
            await new Promise((resolve) => setImmediate(resolve));
          }
        });
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        await stopPostgres();
        const downAt = Date.now();
        await new Promise((resolve) => setTimeout(resolve, DOWN_MS));
        startPostgres();
        const upAt = Date.now();
        let caughtUpMs = -1;
        // Keep the load on while the backlog drains.
        while (Date.now() - upAt < 10_000) {
          const { inFlightBatches, consecutiveFailures, lastFlush } = await t.buffer.stats();
          if (
            consecutiveFailures === 0 &&
            inFlightBatches === 0 &&
            lastFlush!.at.getTime() > upAt
          ) {
            caughtUpMs = Date.now() - upAt;
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        stop.stopped = true;
        await Promise.all(workers);
        await t.buffer.flush();
        const rows = await t.dataSource.getRepository(Post).find();
        let lost = 0;
        let doubled = 0;
        for (const row of rows) {
          lost += Math.max(0, acked[row.id] - row.views);
          doubled += Math.max(0, row.views - acked[row.id]);
        }
        const total = acked.reduce((a, b) => a + b, 0);
        console.log(
          `outage (${policy}): load 8 callers, down ${Math.round((upAt - downAt) / 1000)} s, acked ${total}, ` +
            `rejected ${rejected}, max pending ${mostHeld} (limit ${LIMIT}), caught up ${caughtUpMs} ms after the database returned, ` +
            `lost ${lost}, doubled ${doubled}`,
        );
        expect({ lost, doubled }).toEqual({ lost: 0, doubled: 0 });
        expect(mostHeld).toBeLessThanOrEqual(LIMIT);
        expect(rejected).toBeGreaterThan(0); // the limit was actually reached
        expect(caughtUpMs).toBeGreaterThanOrEqual(0);
        expect(caughtUpMs).toBeLessThanOrEqual(2 * FLUSH_INTERVAL_MS + 1_000);
      } finally {
        // Whatever failed, the load stops, so the suite can end.
        stop.stopped = true;
        if (!(await reachable())) startPostgres();
        await t.close();
      }
    },
    120_000,
  );
});
