import { Redis } from 'ioredis';
import { Post } from '../../test/support/entities.js';
import { REDIS_URL } from '../../test/support/storages.js';
import type { BenchCase } from '../bench-case.js';
import { benchContext } from '../bench-context.js';
import { alternate, concurrent } from '../measure.js';

const CALLERS = 64;

/** Increments on the Redis storage against raw ioredis `INCRBY` (auto-pipelined), 64 awaiting callers. */
export const redisIncrement: BenchCase = {
  id: 'redis-increment',
  title: 'BufferService.increment, Redis',
  requires: ['redis'],
  async run(bench) {
    const prefix = `wbbench-${Date.now()}:`;
    const ctx = await benchContext('sqlite', { type: 'redis', url: REDIS_URL, keyPrefix: prefix });
    const raw = new Redis(REDIS_URL, { enableAutoPipelining: true });
    try {
      const ops = bench.quick ? 50_000 : 200_000;
      /** The callers spread over `rows` rows, against INCRBY on as many keys. */
      const over = (rows: number) =>
        alternate(
          {
            baseline: () =>
              concurrent(CALLERS, ops, (i) => raw.incrby(`${prefix}raw:${i % rows}`, 1)),
            value: async () => {
              const rate = await concurrent(CALLERS, ops, (i) =>
                ctx.buffer.increment(Post, (i % rows) + 1, 'views'),
              );
              await ctx.buffer.flush().catch(() => undefined); // the rows do not exist: reported as missing
              return rate;
            },
          },
          { samples: bench.samples },
        );
      bench.record({
        id: 'redis-increment',
        title: `BufferService.increment, Redis, ${CALLERS} awaiting callers over 1,000 rows vs raw INCRBY`,
        unit: 'ops/s',
        ...(await over(1000)),
        target: 2,
      });
      // On a few hot rows the writes of one turn coalesce into few cells.
      bench.record({
        id: 'redis-increment-hot',
        title: `BufferService.increment, Redis, ${CALLERS} awaiting callers over 10 rows vs raw INCRBY`,
        unit: 'ops/s',
        ...(await over(10)),
      });
    } finally {
      const keys = await raw.keys(`${prefix}*`);
      if (keys.length) await raw.del(...keys);
      await raw.quit();
      await ctx.close();
    }
  },
};
