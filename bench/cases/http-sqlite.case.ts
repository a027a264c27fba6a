import type { BenchCase } from '../bench-case.js';
import { alternate } from '../measure.js';
import { requestsPerSecond, startSampleApp } from '../sample-app-server.js';

/** The sample app on SQLite (memory storage + journal): the counted read against the same read uncounted. */
export const httpSqlite: BenchCase = {
  id: 'http-sqlite',
  title: 'HTTP GET /posts/:id, SQLite',
  requires: [],
  async run(bench) {
    const app = await startSampleApp({});
    try {
      const duration = bench.quick ? 3 : 8;
      const s = await alternate(
        {
          baseline: () => requestsPerSecond(app.url, '/posts/1/uncounted', duration),
          value: () => requestsPerSecond(app.url, '/posts/1', duration),
        },
        { samples: bench.samples },
      );
      bench.record({
        id: 'http-sqlite',
        title: 'HTTP GET /posts/:id with @BufferedCounter vs no write (SQLite, memory + journal)',
        unit: 'req/s',
        ...s,
        target: 0.95,
      });
    } finally {
      await app.stop();
    }
  },
};
