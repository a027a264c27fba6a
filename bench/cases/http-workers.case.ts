import type { BenchCase } from '../bench-case.js';
import { alternate } from '../measure.js';
import { requestsPerSecond, startSampleApp } from '../sample-app-server.js';

/** The sample app as a cluster of 2 workers against 1 worker, both on the shared lmdb storage. */
export const httpWorkers: BenchCase = {
  id: 'http-workers',
  title: 'HTTP GET /posts/:id, WORKERS=2 vs WORKERS=1 (SQLite, lmdb)',
  requires: [],
  async run(bench) {
    const one = await startSampleApp({ WORKERS: '1' });
    const two = await startSampleApp({ WORKERS: '2' });
    try {
      // The second worker starts once the first listens.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const duration = bench.quick ? 3 : 8;
      const s = await alternate(
        {
          baseline: () => requestsPerSecond(one.url, '/posts/1', duration),
          value: () => requestsPerSecond(two.url, '/posts/1', duration),
        },
        { samples: bench.samples },
      );
      bench.record({
        id: 'http-workers',
        title: 'HTTP GET /posts/:id with @BufferedCounter, WORKERS=2 vs WORKERS=1 (SQLite, lmdb)',
        unit: 'req/s',
        ...s,
        note: 'the load generator shares the 2 cores with the workers',
      });
    } finally {
      await Promise.all([one.stop(), two.stop()]);
    }
  },
};
