import type {
  Attributes,
  OtelCounter,
  OtelHistogram,
  OtelMeter,
  OtelObservable,
  OtelObservableResult,
} from './open-telemetry-api.js';

/** Bucket bounds of `write_buffer_flush_duration_seconds`, in seconds. */
const FLUSH_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** What the observable gauges read at each collection. */
export interface BufferGaugeSource {
  /** Pending entries by data source, table and kind (or by kind only). */
  pending(): Promise<Array<{ dataSource?: string; table?: string; kind: string; count: number }>>;
  /** Age of the oldest write not yet applied, in seconds, per data source (storages that track it). */
  oldestPendingAge(): Promise<Array<{ dataSource: string; seconds: number }>>;
  /** In-flight batches and dead letters, read together (one storage stats call per collection). */
  held(): Promise<{ inFlightBatches: number; deadLetters: number }>;
  /** Current backoff of each data source, in seconds. */
  backoff(): Array<{ dataSource: string; seconds: number }>;
}

/**
 * The module's OpenTelemetry instruments (listed in README "Observability").
 * Everything is counted per flush or per batch, never per write, so the
 * write path pays nothing. Without `@opentelemetry/api` (or with metrics
 * off) the module uses {@link WriteBufferMetrics.none}, whose methods do
 * nothing.
 */
export class WriteBufferMetrics {
  private readonly rowsApplied?: OtelCounter;
  private readonly statements?: OtelCounter;
  private readonly flushes?: OtelCounter;
  private readonly flushFailures?: OtelCounter;
  private readonly bisections?: OtelCounter;
  private readonly bufferFull?: OtelCounter;
  private readonly leaseAcquisitions?: OtelCounter;
  private readonly leaseLosses?: OtelCounter;
  private readonly flushDuration?: OtelHistogram;

  /** Metrics that record nothing. */
  static readonly none = new WriteBufferMetrics();

  constructor(private readonly meter?: OtelMeter) {
    if (!meter) return;
    this.rowsApplied = meter.createCounter('write_buffer_rows_applied', {
      description: 'Rows applied to the database, by kind (insert, update, counter) and table.',
      unit: '{row}',
    });
    this.statements = meter.createCounter('write_buffer_statements', {
      description: 'SQL statements of committed batches (ledger bookkeeping excluded).',
      unit: '{statement}',
    });
    this.flushes = meter.createCounter('write_buffer_flushes', {
      description: 'Flushes of a data source, by outcome (ok, failed).',
      unit: '{flush}',
    });
    this.flushFailures = meter.createCounter('write_buffer_flush_failures', {
      description: 'Failed flushes, by kind (transient, data, lease_lost, other).',
      unit: '{flush}',
    });
    this.bisections = meter.createCounter('write_buffer_bisections', {
      description: 'Batches the database refused for a data error and that were split in two.',
      unit: '{batch}',
    });
    this.bufferFull = meter.createCounter('write_buffer_buffer_full', {
      description:
        'Writes that found limits.maxPendingEntries reached, by outcome (waited: room came; rejected: BufferFullError).',
      unit: '{write}',
    });
    this.leaseAcquisitions = meter.createCounter('write_buffer_lease_acquisitions', {
      description: 'Flush leases taken.',
      unit: '{lease}',
    });
    this.leaseLosses = meter.createCounter('write_buffer_lease_losses', {
      description: 'Flush leases lost to another flusher (fenced or expired).',
      unit: '{lease}',
    });
    this.flushDuration = meter.createHistogram('write_buffer_flush_duration_seconds', {
      description: 'Duration of a flush of one data source, in seconds.',
      unit: 's',
      advice: { explicitBucketBoundaries: FLUSH_DURATION_BUCKETS },
    });
  }

  /**
   * Registers the gauges read from `source` at each collection; returns
   * the function that unregisters them.
   */
  observe(source: BufferGaugeSource): () => void {
    const meter = this.meter;
    if (!meter) return () => undefined;
    const pending = meter.createObservableGauge('write_buffer_pending_entries', {
      description: 'Entries waiting for a flush, by kind (counter, update, insert) and table.',
      unit: '{entry}',
    });
    const oldest = meter.createObservableGauge('write_buffer_oldest_pending_age_seconds', {
      description: 'Age of the oldest write not yet applied (pending or in flight), in seconds.',
      unit: 's',
    });
    const inFlight = meter.createObservableGauge('write_buffer_in_flight_batches', {
      description: 'Claimed batches not yet acknowledged.',
      unit: '{batch}',
    });
    const dead = meter.createObservableGauge('write_buffer_dead_letters', {
      description: 'Dead letters held.',
      unit: '{letter}',
    });
    const backoff = meter.createObservableGauge('write_buffer_backoff_seconds', {
      description:
        'Current delay of scheduled flushes after failures, in seconds (0 when healthy).',
      unit: 's',
    });
    const observables = [pending, oldest, inFlight, dead, backoff];
    // A series seen once is reported as 0 once it is gone: the SDK keeps
    // the last value of a series a callback stops observing.
    const seen = new Map<string, [OtelObservable, Attributes]>();
    const callback = async (result: OtelObservableResult) => {
      const observed = new Set<string>();
      const report = (gauge: OtelObservable, value: number, attributes: Attributes) => {
        const key = JSON.stringify([gauge === pending ? 'p' : 'o', attributes]);
        seen.set(key, [gauge, attributes]);
        observed.add(key);
        result.observe(gauge, value, attributes);
      };
      // This process's own figure first: a rejected callback reports nothing,
      // and the backoff is what shows a storage outage.
      for (const { dataSource, seconds } of source.backoff()) {
        result.observe(backoff, seconds, { data_source: dataSource });
      }
      try {
        for (const { dataSource, table, kind, count } of await source.pending()) {
          const attributes: Attributes = { kind };
          if (dataSource !== undefined) attributes.data_source = dataSource;
          if (table !== undefined) attributes.table = table;
          report(pending, count, attributes);
        }
        for (const { dataSource, seconds } of await source.oldestPendingAge()) {
          report(oldest, seconds, { data_source: dataSource });
        }
        for (const [key, [gauge, attributes]] of seen) {
          if (!observed.has(key)) result.observe(gauge, 0, attributes);
        }
        const held = await source.held();
        result.observe(inFlight, held.inFlightBatches);
        result.observe(dead, held.deadLetters);
      } catch {
        // The storage did not answer (Redis down): its figures miss this collection.
      }
    };
    meter.addBatchObservableCallback(callback, observables);
    return () => meter.removeBatchObservableCallback(callback, observables);
  }

  /** A flush of `dataSource` ended (`failure` set when it failed). */
  flushed(dataSource: string, seconds: number, failure?: string): void {
    this.flushDuration?.record(seconds, { data_source: dataSource });
    this.flushes?.add(1, { data_source: dataSource, outcome: failure ? 'failed' : 'ok' });
    if (failure) this.flushFailures?.add(1, { data_source: dataSource, kind: failure });
  }

  /** A batch committed: `rows` applied of `kind` to `table`, with `statements` statements. */
  applied(dataSource: string, table: string, kind: string, rows: number): void {
    if (rows > 0) this.rowsApplied?.add(rows, { data_source: dataSource, table, kind });
  }

  /** Statements of a committed batch. */
  statementsRun(dataSource: string, statements: number): void {
    if (statements > 0) this.statements?.add(statements, { data_source: dataSource });
  }

  bisected(dataSource: string): void {
    this.bisections?.add(1, { data_source: dataSource });
  }

  full(outcome: 'waited' | 'rejected'): void {
    this.bufferFull?.add(1, { outcome });
  }

  leaseAcquired(dataSource: string): void {
    this.leaseAcquisitions?.add(1, { data_source: dataSource });
  }

  leaseLost(dataSource: string): void {
    this.leaseLosses?.add(1, { data_source: dataSource });
  }
}
