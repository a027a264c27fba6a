import { Post } from '../../test/support/entities.js';
import type { BenchCase } from '../bench-case.js';
import { benchContext } from '../bench-context.js';
import { alternate, seconds } from '../measure.js';

/** `BufferService.increment` on the memory storage against a raw Map loop. */
export const memoryIncrement: BenchCase = {
  id: 'memory-increment',
  title: 'BufferService.increment, memory',
  requires: [],
  async run(bench) {
    const ctx = await benchContext('sqlite');
    try {
      const ops = bench.quick ? 200_000 : 500_000;
      const s = await alternate(
        {
          baseline: async () => {
            const map = new Map<string, number>();
            const start = process.hrtime.bigint();
            for (let i = 0; i < ops; i++) {
              const key = `post:${(i % 1000) + 1}:views`;
              map.set(key, (map.get(key) ?? 0) + 1);
            }
            return ops / seconds(start);
          },
          value: async () => {
            const start = process.hrtime.bigint();
            for (let i = 0; i < ops; i++) await ctx.buffer.increment(Post, (i % 1000) + 1, 'views');
            const rate = ops / seconds(start);
            await ctx.buffer.flush().catch(() => undefined); // the rows do not exist: reported as missing
            return rate;
          },
        },
        { samples: bench.samples },
      );
      bench.record({
        id: 'memory-increment',
        title: 'BufferService.increment, memory, 1,000 hot keys (awaited loop) vs a Map',
        unit: 'ops/s',
        ...s,
        target: 0.2,
      });
    } finally {
      await ctx.close();
    }
  },
};
