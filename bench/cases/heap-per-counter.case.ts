import { Post } from '../../test/support/entities.js';
import type { BenchCase } from '../bench-case.js';
import { benchContext } from '../bench-context.js';
import { alternate } from '../measure.js';

const COUNTERS = 100_000;

/** Heap bytes per pending counter on the memory storage against a raw `Map<string, number>` entry. */
export const heapPerCounter: BenchCase = {
  id: 'heap-per-counter',
  title: 'heap bytes per pending counter',
  requires: [],
  async run(bench) {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) throw new Error('heap-per-counter needs node --expose-gc (npm run bench passes it)');
    const heap = () => {
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };
    const ctx = await benchContext('sqlite');
    try {
      const s = await alternate(
        {
          baseline: async () => {
            const before = heap();
            const map = new Map<string, number>();
            for (let i = 0; i < COUNTERS; i++) map.set(`post:${i + 1}:views`, 1);
            const bytes = (heap() - before) / COUNTERS;
            if (map.size !== COUNTERS) throw new Error('the map lost entries');
            return bytes;
          },
          value: async () => {
            const before = heap();
            for (let i = 0; i < COUNTERS; i++) await ctx.buffer.increment(Post, i + 1, 'views');
            const bytes = (heap() - before) / COUNTERS;
            await ctx.buffer.flush().catch(() => undefined); // the rows do not exist: reported as missing
            return bytes;
          },
        },
        { samples: bench.samples },
      );
      bench.record({
        id: 'heap-per-counter',
        title: 'heap bytes per pending counter, memory storage vs a Map entry',
        unit: 'bytes',
        ...s,
        target: 2,
        higherIsBetter: false,
      });
    } finally {
      await ctx.close();
    }
  },
};
