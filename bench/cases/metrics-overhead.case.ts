import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { Post } from '../../test/support/entities.js';
import { createTestApp, type TestApp } from '../../test/support/test-app.js';
import type { BenchCase } from '../bench-case.js';
import { seedRows } from '../bench-context.js';
import { alternate, seconds } from '../measure.js';

/** A reader that is only collected when asked: an SDK registered as an app would have it. */
class BenchReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onForceFlush() {}
  protected async onShutdown() {}
}

/**
 * `BufferService.increment` (memory, 1,000 hot keys) with the OpenTelemetry
 * SDK and a metric reader registered, against the same app with
 * `metrics: false`; each sample ends with a flush and a collection.
 */
export const metricsOverhead: BenchCase = {
  id: 'metrics-overhead',
  title: 'BufferService.increment with OpenTelemetry metrics vs without',
  requires: [],
  async run(bench) {
    const reader = new BenchReader();
    const provider = new MeterProvider({ readers: [reader] });
    metrics.setGlobalMeterProvider(provider);
    const apps: TestApp[] = [];
    try {
      const open = async (on: boolean) => {
        const app = await createTestApp('sqlite', { metrics: on });
        apps.push(app);
        await seedRows(app.dataSource, Post, 1000);
        return app;
      };
      const without = await open(false);
      const withMetrics = await open(true);
      const ops = bench.quick ? 200_000 : 500_000;
      const loop = async (app: TestApp) => {
        const start = process.hrtime.bigint();
        for (let i = 0; i < ops; i++) await app.buffer.increment(Post, (i % 1000) + 1, 'views');
        const rate = ops / seconds(start);
        await app.buffer.flush();
        await reader.collect();
        return rate;
      };
      const s = await alternate(
        { baseline: () => loop(without), value: () => loop(withMetrics) },
        { samples: bench.samples },
      );
      bench.record({
        id: 'metrics-overhead',
        title:
          'BufferService.increment, memory, 1,000 hot keys, OpenTelemetry SDK + reader vs metrics: false',
        unit: 'ops/s',
        ...s,
        target: 0.95,
      });
    } finally {
      for (const app of apps) await app.close();
      metrics.disable();
      await provider.shutdown();
    }
  },
};
