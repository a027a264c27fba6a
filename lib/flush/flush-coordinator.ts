import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { EntityTarget, ObjectLiteral } from 'typeorm';
import type { BufferStats } from '../buffer-stats.interface.js';
import { BufferedDataSources } from '../buffered-data-sources.js';
import { BufferStorage } from '../storage/buffer-storage.interface.js';
import {
  WRITE_BUFFER_RESOLVED_OPTIONS,
  type ResolvedWriteBufferOptions,
} from '../write-buffer-options.resolver.js';
import { WriteTally } from '../write-tally.js';
import { WriteBufferEvent } from '../telemetry/write-buffer.events.js';
import { WriteBufferTelemetry } from '../telemetry/write-buffer.telemetry.js';
import { openFlushConnection, type FlushConnection } from './flush-connection.js';
import { Flusher, type FlusherHealth } from './flusher.js';
import type { BufferGaugeSource } from '../telemetry/write-buffer.metrics.js';
import {
  emptyReport,
  mergeReport,
  type FlushReport,
  type LastFlush,
} from './flush-report.interface.js';
import { learnKeyCollations } from '../metadata/key-collations.js';

/**
 * Owns one {@link Flusher} per data source: prepares them at start (the
 * flush connection and the ledger), applies what a previous run left in
 * flight, runs explicit and scheduled flushes with the bookkeeping of
 * `stats()`, and closes the flush connections at shutdown.
 */
@Injectable()
export class FlushCoordinator
  implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown
{
  private readonly logger = new Logger('WriteBuffer');
  private readonly flushers = new Map<string, Flusher>();
  /** Connections the flushes run on, apart from the app's (see `openFlushConnection`). */
  private readonly connections: FlushConnection[] = [];
  private missingRows = 0;
  private lastFlush?: LastFlush;
  private unobserve?: () => void;

  constructor(
    @Inject(WRITE_BUFFER_RESOLVED_OPTIONS) private readonly options: ResolvedWriteBufferOptions,
    @Inject(BufferStorage) private readonly storage: BufferStorage,
    private readonly sources: BufferedDataSources,
    private readonly tally: WriteTally,
    private readonly telemetry: WriteBufferTelemetry,
  ) {}

  async onModuleInit(): Promise<void> {
    try {
      await this.start();
    } catch (error) {
      // No shutdown hook runs when start-up fails: let go of what was opened,
      // so a process that gives up can exit (and the journal can be reopened).
      await this.onApplicationShutdown();
      await this.storage.close().catch(() => undefined);
      throw error;
    }
    this.logger.log(describeConfiguration(this.options));
  }

  /** Checks the storage and prepares a flusher (connection and ledger) per data source. */
  private async start(): Promise<void> {
    const dataSources = this.sources.all;
    await this.storage.open?.([...dataSources.keys()]);
    const { flush, limits, ledger } = this.options;
    for (const [name, dataSource] of dataSources) {
      // Before any key is made: string keys fold as the server's collations compare.
      await learnKeyCollations(dataSource);
      const connection = await openFlushConnection(name, dataSource);
      this.connections.push(connection);
      const flusher = new Flusher(
        name,
        connection.dataSource,
        this.sources.dialect(name),
        this.storage,
        this.sources.catalog,
        {
          maxBatchRows: flush.maxBatchRows,
          maxDeadLetters: limits.maxDeadLetters,
          leaseTtl: flush.leaseTtl,
          ledgerTable: ledger.table,
          ledgerRetention: ledger.retention,
          retry: flush.retry,
          onDeadLetter: this.options.onDeadLetter,
          telemetry: this.telemetry,
        },
      );
      this.flushers.set(name, flusher);
    }
    for (const flusher of this.flushers.values()) await flusher.prepare();
    this.unobserve = this.telemetry.metrics.observe(this.gaugeSource());
  }

  /** What the metrics' gauges read at each collection. */
  private gaugeSource(): BufferGaugeSource {
    const storage = this.storage;
    return {
      pending: async () => {
        if (storage.pendingByTable) return storage.pendingByTable();
        const { counters, updates, inserts } = (await storage.stats()).pending;
        return [
          { kind: 'counter', count: counters },
          { kind: 'update', count: updates },
          { kind: 'insert', count: inserts },
        ];
      },
      oldestPendingAge: async () => {
        if (!storage.oldestPending) return [];
        const now = Date.now();
        const oldest = new Map((await storage.oldestPending()).map((o) => [o.dataSource, o.at]));
        // Every data source has the series, 0 when nothing waits, so alerts see it from the start.
        return [...this.flushers.keys()].map((dataSource) => {
          const at = oldest.get(dataSource);
          return { dataSource, seconds: at === undefined ? 0 : Math.max(0, now - at) / 1000 };
        });
      },
      held: async () => {
        const { inFlightBatches, deadLetters } = await storage.stats();
        return { inFlightBatches, deadLetters };
      },
      backoff: () =>
        [...this.flushers.values()].map((flusher) => ({
          dataSource: flusher.name,
          seconds: flusher.health.backoffMs / 1000,
        })),
    };
  }

  /**
   * Applies batches a previous run left in flight (journal or shared
   * storage) before the app serves requests. A database that is down does
   * not stop the app: the batches stay buffered for the next flush.
   */
  async onApplicationBootstrap(): Promise<void> {
    const stats = await this.storage.stats();
    const { counters, updates, inserts } = stats.pending;
    const pending = stats.journal ? counters + updates + inserts : 0;
    if (!stats.inFlightBatches && !pending && !stats.deadLetters) return;
    const recovered = {
      pending: stats.journal ? { ...stats.pending } : { counters: 0, updates: 0, inserts: 0 },
      inFlightBatches: stats.inFlightBatches,
      deadLetters: stats.deadLetters,
    };
    const found =
      `${counters} counter(s), ${updates} updated row(s), ${inserts} insert(s) pending, ` +
      `${stats.inFlightBatches} in-flight batch(es) and ${stats.deadLetters} dead letter(s)` +
      (stats.deadLetters ? ' (see BufferService.deadLetters())' : '');
    if (!stats.inFlightBatches) {
      this.logger.log(`Recovered ${found}; the pending writes are applied by the next flush.`);
      this.telemetry.events.emit(WriteBufferEvent.Recovered, recovered);
      return;
    }
    try {
      const report = await this.flush();
      this.logger.log(
        `Recovered ${found}: flushed ${report.batches} batch(es), ${report.skippedBatches} were already in the database.`,
      );
      this.telemetry.events.emit(WriteBufferEvent.Recovered, { ...recovered, report });
    } catch (error) {
      this.logger.error(
        `Recovered ${found}, but applying them failed: ${(error as Error).message} They stay buffered.`,
      );
      this.telemetry.events.emit(WriteBufferEvent.Recovered, {
        ...recovered,
        error: (error as Error).message,
      });
    }
  }

  /** Closes the flush connections, after the final flush (`FlushScheduler.beforeApplicationShutdown`). */
  async onApplicationShutdown(): Promise<void> {
    this.unobserve?.();
    this.unobserve = undefined;
    while (this.connections.length) await this.connections.pop()!.close();
  }

  /**
   * Applies everything buffered at call time (for one entity's table, when
   * given). If a flush is running, waits for it and then flushes what is
   * still pending.
   */
  async flush<T extends ObjectLiteral>(entity?: EntityTarget<T>): Promise<FlushReport> {
    const target = entity && this.sources.catalog.get(entity).target;
    if (target) return this.run([[this.flushers.get(target.dataSource)!, [target.table]]]);
    return this.run(
      [...this.flushers.values()].map((flusher) => [flusher, undefined]),
      true,
    );
  }

  /** Flushes the data sources that are not backing off after transient failures. */
  flushDue(): Promise<FlushReport> {
    const due = [...this.flushers.values()].filter((flusher) => flusher.due());
    return this.run(
      due.map((flusher) => [flusher, undefined]),
      due.length === this.flushers.size,
    );
  }

  /** Flushes the given data sources (and tables) and keeps the bookkeeping of `stats()`. */
  private async run(
    targets: Array<[Flusher, string[] | undefined]>,
    everything = false,
  ): Promise<FlushReport> {
    const started = Date.now();
    const covered = this.tally.flushStarted();
    try {
      const reports = await Promise.all(targets.map(([flusher, tables]) => flusher.flush(tables)));
      const report = reports.reduce(mergeReport, emptyReport());
      report.durationMs = Date.now() - started;
      this.missingRows += report.missing.length;
      if (everything) this.tally.flushed(covered);
      this.lastFlush = { at: new Date(), ok: true, durationMs: report.durationMs };
      return report;
    } catch (error) {
      this.lastFlush = {
        at: new Date(),
        ok: false,
        durationMs: Date.now() - started,
        error: error instanceof Error ? error.message : String(error),
      };
      throw error;
    }
  }

  /** How flushing each data source is going (consecutive failures, backoff). */
  health(): Array<{ dataSource: string } & FlusherHealth> {
    return [...this.flushers.values()].map((f) => ({ dataSource: f.name, ...f.health }));
  }

  /** The message of the latest flush's error, if it failed. */
  get lastError(): string | undefined {
    return this.lastFlush?.error;
  }

  /** Counts of what is buffered, and how flushing goes. */
  async stats(): Promise<BufferStats> {
    const storage = await this.storage.stats();
    const health = [...this.flushers.values()].map((flusher) => flusher.health);
    const oldestAt = storage.oldestPendingAt;
    return {
      deadLetters: storage.deadLetters,
      deadLettersDropped: storage.deadLettersDropped,
      backoffMs: Math.max(0, ...health.map((h) => h.backoffMs)),
      pending: storage.pending,
      inFlightBatches: storage.inFlightBatches,
      ...(storage.journal && { journal: storage.journal }),
      missingRows: this.missingRows,
      consecutiveFailures: Math.max(0, ...health.map((h) => h.consecutiveFailures)),
      ...(oldestAt !== undefined && { oldestPendingAgeMs: Math.max(0, Date.now() - oldestAt) }),
      fillRatio:
        (this.storage.pendingEntries?.() ?? this.tally.unflushed) /
        this.options.limits.maxPendingEntries,
      flushing: [...this.flushers.values()].some((flusher) => flusher.holdsLease),
      lastFlush: this.lastFlush,
    };
  }
}

/** One line saying how the module is configured, logged at start. */
function describeConfiguration(options: ResolvedWriteBufferOptions): string {
  const { storage, flush, limits } = options;
  const where =
    storage.type === 'memory'
      ? storage.journal
        ? `memory storage with journal '${storage.journal.path}' (${storage.journal.durability})`
        : 'memory storage without journal (a crash loses what is pending)'
      : storage.type === 'redis'
        ? `Redis storage (${storage.client ? 'client given' : storage.url.replace(/\/\/[^@/]*@/, '//***@')}, prefix '${storage.keyPrefix}')`
        : storage.type === 'lmdb'
          ? `lmdb storage '${storage.path}' shared by the processes of this machine (${storage.durability})`
          : 'custom storage';
  const when = flush.cron === false ? 'no periodic flush' : `flush on cron '${flush.cron}'`;
  return (
    `Buffering writes for data source(s) ${options.dataSources.map((n) => `'${n}'`).join(', ')} in ${where}; ` +
    `${when}${flush.maxPending ? `, early after ${flush.maxPending} writes` : ''}; ` +
    `limits: ${limits.maxPendingEntries} entries (policy '${limits.policy}'), ${limits.maxDeadLetters} dead letters.`
  );
}
