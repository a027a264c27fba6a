import 'reflect-metadata';
import { afterAll, describe, expect, it } from '@jest/globals';
import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  MeterProvider,
  MetricReader,
  type DataPoint,
} from '@opentelemetry/sdk-metrics';
import { Redis } from 'ioredis';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { Post } from './support/entities.js';
import { closeTestClients, storageKinds, storageOptions } from './support/storages.js';
import { createTestApp } from './support/test-app.js';

class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onForceFlush() {}
  protected async onShutdown() {}
}

const reader = new TestReader();
const meterProvider = new MeterProvider({ readers: [reader] });
metrics.setGlobalMeterProvider(meterProvider);

async function points(meterName: string, name: string): Promise<Array<DataPoint<unknown>>> {
  const { resourceMetrics } = await reader.collect();
  const scope = resourceMetrics.scopeMetrics.find((s) => s.scope.name === meterName);
  return (scope?.metrics.find((m) => m.descriptor.name === name)?.dataPoints ?? []) as Array<
    DataPoint<unknown>
  >;
}

afterAll(async () => {
  await closeTestClients();
  await meterProvider.shutdown();
});

const redisUp = (await storageKinds()).includes('redis');
const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0;

/** A Redis server of this test only (nothing persisted), so stopping it disturbs nothing else. */
function startRedis(port: number): Promise<ChildProcess> {
  const server = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('Ready to accept connections')) resolve(server);
    });
  });
}

describe('observable gauges', () => {
  // README "Metrics": the in-flight and dead-letter gauges are totals over
  // the data sources (StorageStats has no per-data-source split).
  it('in-flight batches and dead letters are totals, without data_source', async () => {
    const meterName = 'wb-gauges-attributes';
    const t = await createTestApp('sqlite', { metrics: { meterName } });
    try {
      for (const name of ['write_buffer_in_flight_batches', 'write_buffer_dead_letters']) {
        const found = await points(meterName, name);
        expect(found.map((p) => p.attributes)).toEqual([{}]);
      }
    } finally {
      await t.close();
    }
  });

  (redisUp ? it : it.skip)(
    'one collection reads the Redis storage once per figure (no stats script twice)',
    async () => {
      const meterName = 'wb-gauges-redis';
      const t = await createTestApp('sqlite', {
        storage: storageOptions('redis'),
        metrics: { meterName },
      });
      const admin = new Redis(process.env.WB_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379');
      const scripts = async () => {
        const info = await admin.info('commandstats');
        let calls = 0;
        for (const match of info.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)) {
          calls += Number(match[1]);
        }
        return calls;
      };
      try {
        await t.dataSource.getRepository(Post).insert({ id: 1 });
        await t.buffer.increment(Post, 1, 'views');
        await points(meterName, 'write_buffer_pending_entries'); // scripts loaded
        const before = await scripts();
        await points(meterName, 'write_buffer_pending_entries');
        // pending by table, oldest pending, and one stats for in-flight and dead letters.
        expect((await scripts()) - before).toBe(3);
      } finally {
        admin.disconnect();
        await t.close();
      }
    },
  );

  (hasRedisServer ? it : it.skip)(
    'while Redis is down, the backoff gauge (read from this process) is still reported',
    async () => {
      const meterName = 'wb-gauges-outage';
      const port = 20_000 + Math.floor(Math.random() * 20_000);
      const server = await startRedis(port);
      const t = await createTestApp('sqlite', {
        storage: { type: 'redis', url: `redis://127.0.0.1:${port}`, timeout: 500 },
        flush: { retry: { baseDelay: 5_000, maxDelay: 10_000 } },
        metrics: { meterName },
      });
      try {
        await new Promise<void>((resolve) => {
          server.once('exit', () => resolve());
          server.kill('SIGKILL');
        });
        await expect(t.buffer.flush()).rejects.toThrow();
        const backoff = await points(meterName, 'write_buffer_backoff_seconds');
        expect(backoff.map((p) => p.attributes)).toEqual([{ data_source: 'default' }]);
        expect(backoff[0].value).toBeGreaterThan(0);
      } finally {
        // Nothing was written: closing with Redis gone loses nothing.
        await t.close();
      }
    },
  );
});
