import 'reflect-metadata';
import { afterAll, describe, expect, it } from '@jest/globals';
import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  MeterProvider,
  MetricReader,
  type DataPoint,
  type Histogram,
} from '@opentelemetry/sdk-metrics';
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { ActivityLog, Post } from './support/entities.js';
import { closeTestClients, storageKinds, storageOptions } from './support/storages.js';
import { createTestApp } from './support/test-app.js';

/** A reader the test collects from when it wants to. */
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
const spans = new InMemorySpanExporter();
const tracerProvider = new TracerProvider({
  spanProcessors: [new SimpleSpanProcessor({ exporter: spans })],
});
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(tracerProvider);

/** The data points of metric `name` of meter `meterName`, at a fresh collection. */
async function points(meterName: string, name: string): Promise<Array<DataPoint<unknown>>> {
  const { resourceMetrics } = await reader.collect();
  const scope = resourceMetrics.scopeMetrics.find((s) => s.scope.name === meterName);
  return (scope?.metrics.find((m) => m.descriptor.name === name)?.dataPoints ?? []) as Array<
    DataPoint<unknown>
  >;
}

/** The value of `name` per value of attribute `by`. */
async function byAttribute(meterName: string, name: string, by: string) {
  const result: Record<string, number> = {};
  for (const point of await points(meterName, name)) {
    const key = String(point.attributes[by]);
    result[key] = (result[key] ?? 0) + (point.value as number);
  }
  return result;
}

afterAll(async () => {
  await closeTestClients();
  await meterProvider.shutdown();
  await tracerProvider.shutdown();
});

describe.each(await storageKinds())('metrics and spans, %s storage', (kind) => {
  it('hold exactly what the flush did', async () => {
    const meterName = `wb-test-${kind}`;
    const t = await createTestApp('sqlite', {
      storage: storageOptions(kind),
      metrics: { meterName },
    });
    try {
      await t.dataSource.getRepository(Post).insert([{ id: 1 }, { id: 2 }, { id: 3 }]);
      for (let i = 0; i < 10; i++) await t.buffer.increment(Post, (i % 3) + 1, 'views');
      await t.buffer.update(Post, 1, { title: 'one' });
      await t.buffer.update(Post, 2, { title: 'two' });
      await t.buffer.insert(
        ActivityLog,
        Array.from({ length: 4 }, () => ({ postId: 1, at: new Date() })),
      );

      const pending = await byAttribute(meterName, 'write_buffer_pending_entries', 'kind');
      expect(pending).toEqual({ counter: 3, update: 2, insert: 4 });
      const tables = await points(meterName, 'write_buffer_pending_entries');
      expect(
        tables.filter((p) => p.attributes.table === 'activity_log' && p.value === 4),
      ).toHaveLength(1);
      const [age] = await points(meterName, 'write_buffer_oldest_pending_age_seconds');
      expect(age.attributes).toEqual({ data_source: 'default' });
      expect(age.value).toBeGreaterThanOrEqual(0);
      expect(age.value).toBeLessThan(60);
      spans.reset();
      // Which span is active when TypeORM runs each statement (as a driver's span would nest).
      const activeAt: Array<[string, string | undefined]> = [];
      const logQuery = t.queries.logQuery.bind(t.queries);
      t.queries.logQuery = (query: string) => {
        activeAt.push([query, trace.getActiveSpan()?.spanContext().spanId]);
        logQuery(query);
      };

      const report = await t.buffer.flush();

      expect(await byAttribute(meterName, 'write_buffer_rows_applied', 'kind')).toEqual({
        insert: 4,
        update: 2,
        counter: 3,
      });
      const statements = await byAttribute(meterName, 'write_buffer_statements', 'data_source');
      expect(statements).toEqual({ default: report.statements });
      expect(report.statements).toBeGreaterThan(0);
      const [duration] = await points(meterName, 'write_buffer_flush_duration_seconds');
      expect((duration.value as Histogram).count).toBe(1);
      expect(await byAttribute(meterName, 'write_buffer_flushes', 'outcome')).toEqual({ ok: 1 });
      expect(await byAttribute(meterName, 'write_buffer_pending_entries', 'kind')).toEqual({
        counter: 0,
        update: 0,
        insert: 0,
      });
      const ages = await points(meterName, 'write_buffer_oldest_pending_age_seconds');
      expect(ages.map((p) => p.value)).toEqual([0]);
      expect(
        await byAttribute(meterName, 'write_buffer_lease_acquisitions', 'data_source'),
      ).toEqual({ default: 1 });

      const finished = spans.getFinishedSpans();
      const flush = finished.filter((s) => s.name === 'write-buffer.flush');
      const batches = finished.filter((s) => s.name === 'write-buffer.batch');
      expect(flush).toHaveLength(1);
      expect(batches).toHaveLength(1);
      expect(batches[0].parentSpanContext?.spanId).toBe(flush[0].spanContext().spanId);
      const batchSpan = batches[0].spanContext().spanId;
      const statementsRun = activeAt.filter(([query]) => /^\s*(INSERT|UPDATE)/i.test(query));
      expect(statementsRun.length).toBeGreaterThanOrEqual(report.statements);
      expect(statementsRun.every(([, span]) => span === batchSpan)).toBe(true);
      expect(flush[0].attributes).toMatchObject({
        'write_buffer.data_source': 'default',
        'write_buffer.outcome': 'ok',
        'write_buffer.rows.inserted': 4,
        'write_buffer.rows.updated': 2,
        'write_buffer.rows.incremented': 3,
        'write_buffer.statements': report.statements,
      });
      expect(batches[0].attributes['write_buffer.tables']).toEqual(
        expect.arrayContaining(['post', 'activity_log']),
      );
    } finally {
      await t.close();
    }
  });
});
