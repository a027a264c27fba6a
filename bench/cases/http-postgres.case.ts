import { POSTGRES_URL } from '../../test/support/databases.js';
import type { BenchCase } from '../bench-case.js';
import { alternate } from '../measure.js';
import { requestsPerSecond, startSampleApp } from '../sample-app-server.js';

/**
 * The sample app on PostgreSQL (committing durably, as in production): the
 * counted read against the same read uncounted, and against one
 * `repo.increment` per request (what the buffer replaces).
 */
export const httpPostgres: BenchCase = {
  id: 'http-postgres',
  title: 'HTTP GET /posts/:id, PostgreSQL',
  requires: ['postgres'],
  async run(bench) {
    const url = new URL(POSTGRES_URL);
    url.searchParams.set('options', '-c synchronous_commit=on');
    const app = await startSampleApp({ DATABASE_URL: url.toString() });
    try {
      const duration = bench.quick ? 3 : 8;
      const s = await alternate(
        {
          uncounted: () => requestsPerSecond(app.url, '/posts/1/uncounted', duration),
          counted: () => requestsPerSecond(app.url, '/posts/1', duration),
          perRequest: () => requestsPerSecond(app.url, '/posts/1/direct', duration),
        },
        { samples: bench.samples },
      );
      bench.record({
        id: 'http-postgres',
        title:
          'HTTP GET /posts/:id with @BufferedCounter vs no write (PostgreSQL, memory + journal)',
        unit: 'req/s',
        value: s.counted,
        baseline: s.uncounted,
        target: 0.95,
      });
      bench.record({
        id: 'http-postgres-per-request',
        title:
          'HTTP GET /posts/:id with @BufferedCounter vs repo.increment per request (PostgreSQL)',
        unit: 'req/s',
        value: s.counted,
        baseline: s.perRequest,
        note: 'reported, no target: the per-request UPDATE is bounded by the read both endpoints share',
      });
    } finally {
      await app.stop();
    }
  },
};
