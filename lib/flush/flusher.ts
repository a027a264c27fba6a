import type { DataSource } from 'typeorm';
import { FlushError, LeaseLostError, RedisUnavailableError, WriteBufferError } from '../errors.js';
import { WriteBufferEvent } from '../telemetry/write-buffer.events.js';
import { WriteBufferTelemetry } from '../telemetry/write-buffer.telemetry.js';
import type { EntityCatalog } from '../metadata/entity-catalog.js';
import type { SqlDialect } from '../sql/sql-dialect.js';
import type { BufferStorage } from '../storage/buffer-storage.interface.js';
import { Acknowledger } from './acknowledger.js';
import { Backoff, type FlusherHealth, type RetryDelays } from './backoff.js';
import { claimFilled } from './batch-entries.js';
import { BatchApplier } from './batch-applier.js';
import { BatchSettler } from './batch-settler.js';
import type { DeadLetter } from './dead-letter.interface.js';
import { classifyFailure } from './failure-kind.js';
import { emptyReport, type FlushReport } from './flush-report.interface.js';
import { LeaseKeeper } from './lease-keeper.js';
import { Ledger } from './ledger.js';

export type { FlusherHealth } from './backoff.js';

/** How a {@link Flusher} flushes its data source (resolved module options). */
export interface FlusherOptions {
  /** Most entries one batch claims. */
  maxBatchRows: number;
  /** Most dead letters the data source keeps (`limits.maxDeadLetters`). */
  maxDeadLetters: number;
  /** Flush lease time-to-live, in milliseconds; renewed every third of it. */
  leaseTtl: number;
  /** Name of the ledger table. */
  ledgerTable: string;
  /** How long ledger rows are kept, in milliseconds. */
  ledgerRetention: number;
  /** Backoff of scheduled flushes after failures, in milliseconds. */
  retry: RetryDelays;
  /** Called with each dead letter set aside. */
  onDeadLetter?: (letter: DeadLetter) => void;
  /** Metrics, spans and events (no-ops when absent). */
  telemetry?: WriteBufferTelemetry;
}

/**
 * Flushes one data source with the claim → apply-with-ledger → ack
 * protocol, one flush at a time. A `flush()` called while another runs
 * waits for it and then runs (or joins) the next one, so it always covers
 * everything that was pending when it was called.
 */
export class Flusher {
  private tail: Promise<unknown> = Promise.resolve();
  private queued?: { tables?: Set<string>; promise: Promise<FlushReport> };
  private readonly ledger: Ledger;
  private readonly settler: BatchSettler;
  private readonly backoff: Backoff;
  private readonly telemetry: WriteBufferTelemetry;
  private readonly driver: string;
  private leaseHeld = false;
  /** How flushing is going: consecutive failures and the backoff they caused. */
  readonly health: FlusherHealth;

  constructor(
    readonly name: string,
    dataSource: DataSource,
    dialect: SqlDialect,
    private readonly storage: BufferStorage,
    private readonly catalog: EntityCatalog,
    private readonly options: FlusherOptions,
  ) {
    this.ledger = new Ledger(
      name,
      dataSource,
      dialect,
      options.ledgerTable,
      options.ledgerRetention,
    );
    this.telemetry = options.telemetry ?? new WriteBufferTelemetry();
    this.driver = dataSource.options.type;
    this.settler = new BatchSettler(name, {
      driver: this.driver,
      catalog,
      ledger: this.ledger,
      applier: new BatchApplier(dataSource, dialect, catalog, this.ledger, this.telemetry),
      acknowledger: new Acknowledger(name, storage, { ...options, events: this.telemetry.events }),
      metrics: this.telemetry.metrics,
    });
    this.backoff = new Backoff(name, options.retry);
    this.health = this.backoff.health;
  }

  /** Creates (or brings up to date) the ledger table. */
  prepare(): Promise<void> {
    return this.ledger.prepare();
  }

  /** Flushes everything pending (of `tables`, when given) at call time. */
  flush(tables?: readonly string[]): Promise<FlushReport> {
    const queued = this.queued;
    if (queued) {
      if (!tables) queued.tables = undefined;
      else tables.forEach((table) => queued.tables?.add(table));
      return queued.promise;
    }
    const next: { tables?: Set<string>; promise: Promise<FlushReport> } = {
      tables: tables ? new Set(tables) : undefined,
      promise: undefined as unknown as Promise<FlushReport>,
    };
    next.promise = this.tail.then(
      () => this.start(next),
      () => this.start(next),
    );
    this.queued = next;
    this.tail = next.promise;
    return next.promise;
  }

  /** Whether a flush of this flusher holds the data source's lease now. */
  get holdsLease(): boolean {
    return this.leaseHeld;
  }

  /** Whether a scheduled flush should run now (not backing off after failures). */
  due(now = Date.now()): boolean {
    return this.backoff.due(now);
  }

  private start(run: { tables?: Set<string> }): Promise<FlushReport> {
    this.queued = undefined;
    return this.run(run.tables ? [...run.tables] : undefined);
  }

  /** One flush: under the lease, settles the batches left in flight, then claims and settles new ones. */
  private run(tables?: string[]): Promise<FlushReport> {
    return this.telemetry.tracer.inSpan(
      'write-buffer.flush',
      { 'write_buffer.data_source': this.name },
      async (span) => {
        const report = await this.flushUnderLease(tables).catch((error: unknown) => {
          span.setAttributes({ 'write_buffer.outcome': 'failed' });
          throw error;
        });
        span.setAttributes({
          'write_buffer.outcome': 'ok',
          'write_buffer.batches': report.batches,
          'write_buffer.rows.inserted': report.inserted,
          'write_buffer.rows.updated': report.updated,
          'write_buffer.rows.incremented': report.incremented,
          'write_buffer.statements': report.statements,
          'write_buffer.dead_lettered': report.deadLettered,
        });
        return report;
      },
    );
  }

  private async flushUnderLease(tables?: string[]): Promise<FlushReport> {
    const { metrics, events } = this.telemetry;
    const started = performance.now();
    const report = emptyReport();
    let keeper: LeaseKeeper | undefined;
    try {
      // Inside the try: a storage that cannot give the lease (Redis down)
      // fails the flush like a database that cannot take it.
      keeper = await LeaseKeeper.acquire(this.storage, this.name, this.options.leaseTtl);
      metrics.leaseAcquired(this.name);
      this.leaseHeld = true;
      // Batches left in flight by a failed or crashed flush (of any
      // instance) go first, in order; they now belong to this lease.
      for (const batch of await this.storage.inFlight(this.name, keeper.lease)) {
        await this.settler.settle(batch, keeper, report);
      }
      // Entities with a `maxBatchRows` of their own (forFeature) fill batches up to it.
      const tableMaxRows = this.catalog.batchLimits(this.name);
      for (;;) {
        const batch = await this.storage.claim(this.name, {
          maxRows: this.options.maxBatchRows,
          tables,
          lease: keeper.lease,
          ...(tableMaxRows && { tableMaxRows }),
        });
        if (!batch) break;
        await this.settler.settle(batch, keeper, report);
        if (!claimFilled(batch, this.options.maxBatchRows, tableMaxRows)) break;
      }
      await this.ledger.prune();
      const failedAttempts = this.health.consecutiveFailures;
      this.backoff.succeeded();
      const seconds = (performance.now() - started) / 1000;
      report.durationMs = Math.round(seconds * 1000);
      metrics.flushed(this.name, seconds);
      if (failedAttempts > 0) {
        events.emit(WriteBufferEvent.FlushRecovered, { dataSource: this.name, failedAttempts });
      }
      events.emit(WriteBufferEvent.FlushCompleted, { dataSource: this.name, report });
    } catch (error) {
      this.backoff.failed(error);
      // A FlushError (e.g. a refused ledger statement) is classified by what it wraps.
      const kind =
        error instanceof LeaseLostError
          ? 'lease_lost'
          : error instanceof FlushError
            ? classifyFailure(this.driver, error.cause)
            : error instanceof RedisUnavailableError
              ? 'transient'
              : error instanceof WriteBufferError
                ? 'other'
                : classifyFailure(this.driver, error);
      if (kind === 'lease_lost') metrics.leaseLost(this.name);
      metrics.flushed(this.name, (performance.now() - started) / 1000, kind);
      if (this.health.consecutiveFailures === 1) {
        events.emit(WriteBufferEvent.FlushFailed, {
          dataSource: this.name,
          error: error instanceof Error ? error.message : String(error),
          kind,
          backoffMs: this.health.backoffMs,
        });
      }
      throw error instanceof WriteBufferError ? error : FlushError.failed(this.name, error);
    } finally {
      this.leaseHeld = false;
      await keeper?.release();
    }
    return report;
  }
}
