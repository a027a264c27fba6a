import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { Post } from '../../test/support/entities.js';
import type { BenchCase } from '../bench-case.js';
import { benchContext } from '../bench-context.js';
import { alternate, concurrent } from '../measure.js';

const CALLERS = 256;

/**
 * Durable increments (memory storage + LMDB journal, `durability: 'sync'`)
 * against raw lmdb-js driven the same way: 256 callers, each awaiting its
 * `put` and then `flushed` (its write on disk) before the next.
 */
export const journalIncrement: BenchCase = {
  id: 'journal-increment',
  title: 'BufferService.increment, memory + journal (sync)',
  requires: [],
  async run(bench) {
    const dir = mkdtempSync(join(tmpdir(), 'wb-bench-journal-'));
    const ctx = await benchContext('sqlite', {
      type: 'memory',
      journal: { path: join(dir, 'journal.mdb') },
    });
    const raw = open({ path: join(dir, 'raw.mdb'), compression: false });
    try {
      const ops = bench.quick ? 30_000 : 100_000;
      const s = await alternate(
        {
          baseline: () =>
            concurrent(CALLERS, ops, (i) =>
              raw.put(`post:${(i % 1000) + 1}`, i).then(() => raw.flushed),
            ),
          value: async () => {
            const rate = await concurrent(CALLERS, ops, (i) =>
              ctx.buffer.increment(Post, (i % 1000) + 1, 'views'),
            );
            await ctx.buffer.flush().catch(() => undefined); // the rows do not exist: reported as missing
            return rate;
          },
        },
        { samples: bench.samples },
      );
      bench.record({
        id: 'journal-increment',
        title: `BufferService.increment, memory + journal (sync), ${CALLERS} awaiting callers vs raw lmdb-js put + flushed`,
        unit: 'ops/s',
        ...s,
        target: 0.8,
      });
    } finally {
      await raw.close();
      await ctx.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
