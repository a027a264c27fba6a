import { MARIADB_URL, mariadbAdmin } from '../../test/support/databases.js';
import type { BenchCase } from '../bench-case.js';
import { alternate } from '../measure.js';
import { requestsPerSecond, startSampleApp } from '../sample-app-server.js';

/**
 * The sample app on MariaDB (`DATABASE_URL=mariadb://…`): the counted
 * read against one `repo.increment` per request on the same hot row (what
 * the buffer replaces), and against the same read uncounted.
 */
export const httpMariadb: BenchCase = {
  id: 'http-mariadb',
  title: 'HTTP GET /posts/:id, MariaDB',
  requires: ['mariadb'],
  async run(bench) {
    const name = `wb_bench_http_${process.pid}`;
    await mariadbAdmin(`CREATE DATABASE ${name} CHARACTER SET utf8mb4`);
    const url = new URL(MARIADB_URL);
    url.pathname = `/${name}`;
    const app = await startSampleApp({
      DATABASE_URL: url.toString().replace(/^mysql:/, 'mariadb:'),
    });
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
        id: 'http-mariadb-per-request',
        title:
          'HTTP GET /posts/:id with @BufferedCounter vs repo.increment per request on one hot row (MariaDB)',
        unit: 'req/s',
        value: s.counted,
        baseline: s.perRequest,
        note: 'reported, no target: every per-request UPDATE waits for the hot row lock and the commit',
      });
      bench.record({
        id: 'http-mariadb',
        title: 'HTTP GET /posts/:id with @BufferedCounter vs no write (MariaDB, memory + journal)',
        unit: 'req/s',
        value: s.counted,
        baseline: s.uncounted,
        note: 'reported, no target',
      });
    } finally {
      await app.stop();
      await mariadbAdmin(`DROP DATABASE IF EXISTS ${name}`);
    }
  },
};
