import type { DataSource } from 'typeorm';
import { FlushError, WriteBufferError } from '../errors.js';
import type { EntityCatalog } from '../metadata/entity-catalog.js';
import type { SqlDialect } from '../sql/sql-dialect.js';
import type { BufferStorage } from '../storage/buffer-storage.interface.js';
import { Acknowledger } from './acknowledger.js';
import { Backoff, type FlusherHealth, type RetryDelays } from './backoff.js';
import { batchSize } from './batch-entries.js';
import { BatchApplier } from './batch-applier.js';
import { BatchSettler } from './batch-settler.js';
import type { DeadLetter } from './dead-letter.interface.js';
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
  /** What becomes of a counter or update whose row does not exist. */
  onMissingRow: 'dead-letter' | 'drop';
  /** Backoff of scheduled flushes after failures, in milliseconds. */
  retry: RetryDelays;
  /** Called with each dead letter set aside. */
  onDeadLetter?: (letter: DeadLetter) => void;
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
  /** How flushing is going: consecutive failures and the backoff they caused. */
  readonly health: FlusherHealth;

  constructor(
    readonly name: string,
    dataSource: DataSource,
    dialect: SqlDialect,
    private readonly storage: BufferStorage,
    catalog: EntityCatalog,
    private readonly options: FlusherOptions,
  ) {
    this.ledger = new Ledger(
      name,
      dataSource,
      dialect,
      options.ledgerTable,
      options.ledgerRetention,
    );
    this.settler = new BatchSettler(name, {
      driver: dataSource.options.type,
      catalog,
      ledger: this.ledger,
      applier: new BatchApplier(dataSource, dialect, catalog, this.ledger),
      acknowledger: new Acknowledger(name, storage, options),
      onMissingRow: options.onMissingRow,
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

  /** Whether a scheduled flush should run now (not backing off after failures). */
  due(now = Date.now()): boolean {
    return this.backoff.due(now);
  }

  private start(run: { tables?: Set<string> }): Promise<FlushReport> {
    this.queued = undefined;
    return this.run(run.tables ? [...run.tables] : undefined);
  }

  /** One flush: under the lease, settles the batches left in flight, then claims and settles new ones. */
  private async run(tables?: string[]): Promise<FlushReport> {
    const started = Date.now();
    const report = emptyReport();
    const keeper = await LeaseKeeper.acquire(this.storage, this.name, this.options.leaseTtl);
    try {
      // Batches left in flight by a failed or crashed flush (of any
      // instance) go first, in order; they now belong to this lease.
      for (const batch of await this.storage.inFlight(this.name, keeper.lease)) {
        await this.settler.settle(batch, keeper, report);
      }
      for (;;) {
        const batch = await this.storage.claim(this.name, {
          maxRows: this.options.maxBatchRows,
          tables,
          lease: keeper.lease,
        });
        if (!batch) break;
        await this.settler.settle(batch, keeper, report);
        if (batchSize(batch) < this.options.maxBatchRows) break;
      }
      await this.ledger.prune();
      this.backoff.succeeded();
    } catch (error) {
      this.backoff.failed(error);
      throw error instanceof WriteBufferError ? error : FlushError.failed(this.name, error);
    } finally {
      await keeper.release();
      report.durationMs = Date.now() - started;
    }
    return report;
  }
}
