import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { REDIS_URL } from '../../test/support/storages.js';
import type { BenchCase } from '../bench-case.js';
import { startIncrementProcesses, startRawLmdbProcesses } from '../increment-processes.js';
import { alternate } from '../measure.js';

const PROCESSES = 4;

/**
 * Increments from 4 processes sharing one lmdb environment against the
 * same load on one Redis; and, against the same Redis figure, what lmdb-js
 * alone does under that load (no library), the ceiling of any storage
 * built on it.
 */
export const lmdbIncrement: BenchCase = {
  id: 'lmdb-increment',
  title: 'BufferService.increment, 4 processes, lmdb vs Redis',
  requires: ['redis'],
  async run(bench) {
    const dir = mkdtempSync(join(tmpdir(), 'wb-bench-lmdb-'));
    const prefix = `wbbench-${Date.now()}:`;
    const lmdb = await startIncrementProcesses(PROCESSES, {
      type: 'lmdb',
      path: join(dir, 'buffer.mdb'),
    });
    const relaxed = await startIncrementProcesses(PROCESSES, {
      type: 'lmdb',
      path: join(dir, 'relaxed.mdb'),
      durability: 'relaxed',
    });
    const redis = await startIncrementProcesses(PROCESSES, {
      type: 'redis',
      url: REDIS_URL,
      keyPrefix: prefix,
    });
    const rawRmw = await startRawLmdbProcesses(PROCESSES, join(dir, 'raw-rmw.mdb'), 'rmw');
    const rawPut = await startRawLmdbProcesses(PROCESSES, join(dir, 'raw-put.mdb'), 'put');
    const rawPutCommitted = await startRawLmdbProcesses(
      PROCESSES,
      join(dir, 'raw-put-committed.mdb'),
      'put',
      true,
    );
    const admin = new Redis(REDIS_URL);
    try {
      const ops = bench.quick ? 20_000 : 50_000;
      const s = await alternate(
        {
          baseline: () => redis.run(ops),
          value: () => lmdb.run(ops),
          relaxed: () => relaxed.run(ops),
          // The same Redis, each write on disk before its reply, as `sync` is.
          durableRedis: () => withFsyncedRedis(admin, () => redis.run(ops)),
          rawRmw: () => rawRmw.run(ops),
          rawPut: () => rawPut.run(ops),
          rawPutCommitted: () => rawPutCommitted.run(ops),
        },
        { samples: bench.samples, warmup: 1 },
      );
      bench.record({
        id: 'lmdb-increment',
        title: `BufferService.increment, ${PROCESSES} processes × 64 awaiting callers over 1,000 rows, lmdb (sync) vs Redis`,
        unit: 'ops/s',
        value: s.value,
        baseline: s.baseline,
        target: 1,
      });
      bench.record({
        id: 'lmdb-increment-relaxed',
        title: `BufferService.increment, ${PROCESSES} processes × 64 awaiting callers over 1,000 rows, lmdb (relaxed) vs Redis`,
        unit: 'ops/s',
        value: s.relaxed,
        baseline: s.baseline,
      });
      bench.record({
        id: 'lmdb-increment-fsynced-redis',
        title: `BufferService.increment, ${PROCESSES} processes × 64 awaiting callers over 1,000 rows, lmdb (sync) vs Redis with appendfsync always`,
        unit: 'ops/s',
        value: s.value,
        baseline: s.durableRedis,
      });
      bench.record({
        id: 'lmdb-increment-raw-rmw',
        title: `lmdb-js alone (no library), ${PROCESSES} processes × 64 awaiting callers over 1,000 rows, a transaction reading and rewriting the row's JSON, then flushed, vs Redis`,
        unit: 'ops/s',
        value: s.rawRmw,
        baseline: s.baseline,
        note: 'ceiling of a read-modify-write storage on lmdb-js (the shared storage is one)',
      });
      bench.record({
        id: 'lmdb-increment-raw-put',
        title: `lmdb-js alone (no library), ${PROCESSES} processes × 64 awaiting callers over 1,000 rows, a put overwriting the row unread, then flushed, vs Redis`,
        unit: 'ops/s',
        value: s.rawPut,
        baseline: s.baseline,
        note: 'ceiling of any storage on lmdb-js that writes each increment durably',
      });
      bench.record({
        id: 'lmdb-increment-raw-put-committed',
        title: `the same puts, each only committed (not waiting for the disk, as \`relaxed\`), vs Redis`,
        unit: 'ops/s',
        value: s.rawPutCommitted,
        baseline: s.baseline,
        note: 'ceiling of any storage on lmdb-js that writes each increment, relaxed',
      });
    } finally {
      await admin.quit();
      await Promise.all([
        lmdb.stop(),
        relaxed.stop(),
        redis.stop(),
        rawRmw.stop(),
        rawPut.stop(),
        rawPutCommitted.stop(),
      ]);
      rmSync(dir, { recursive: true, force: true });
      const raw = new Redis(REDIS_URL);
      const keys = await raw.keys(`${prefix}*`);
      if (keys.length) await raw.del(...keys);
      await raw.quit();
    }
  },
};

/**
 * Runs `run` with the Redis server writing its append-only file and
 * syncing it before each reply (`appendfsync always`), then turns it off
 * again (the test server runs without persistence).
 */
async function withFsyncedRedis<T>(admin: Redis, run: () => Promise<T>): Promise<T> {
  await admin.config('SET', 'appendfsync', 'always');
  await admin.config('SET', 'appendonly', 'yes');
  try {
    // Turning it on rewrites the file in the background first.
    while (
      /aof_rewrite_in_progress:1|aof_rewrite_scheduled:1/.test(await admin.info('persistence'))
    ) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return await run();
  } finally {
    await admin.config('SET', 'appendonly', 'no');
  }
}
