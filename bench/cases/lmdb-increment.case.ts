import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { REDIS_URL } from '../../test/support/storages.js';
import type { BenchCase } from '../bench-case.js';
import { startIncrementProcesses } from '../increment-processes.js';
import { alternate } from '../measure.js';

const PROCESSES = 4;

/** Increments from 4 processes sharing one lmdb environment against the same load on one Redis. */
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
    try {
      const ops = bench.quick ? 20_000 : 50_000;
      const s = await alternate(
        {
          baseline: () => redis.run(ops),
          value: () => lmdb.run(ops),
          relaxed: () => relaxed.run(ops),
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
    } finally {
      await Promise.all([lmdb.stop(), relaxed.stop(), redis.stop()]);
      rmSync(dir, { recursive: true, force: true });
      const raw = new Redis(REDIS_URL);
      const keys = await raw.keys(`${prefix}*`);
      if (keys.length) await raw.del(...keys);
      await raw.quit();
    }
  },
};
