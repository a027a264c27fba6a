import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource, EntityTarget, ObjectLiteral } from 'typeorm';
import type { BufferStats } from './buffer-stats.interface.js';
import { BufferFullError, WriteBufferConfigError } from './errors.js';
import { byArrival, type DeadLetter } from './flush/dead-letter.interface.js';
import { openFlushConnection, type FlushConnection } from './flush/flush-connection.js';
import { Flusher } from './flush/flusher.js';
import {
  emptyReport,
  mergeReport,
  type FlushReport,
  type LastFlush,
} from './flush/flush-report.interface.js';
import { EntityCatalog } from './metadata/entity-catalog.js';
import { createDialect } from './sql/create-dialect.js';
import type { SqlDialect } from './sql/sql-dialect.js';
import type { BufferTarget, RowKey } from './storage/buffer-batch.interface.js';
import { BufferStorage } from './storage/buffer-storage.interface.js';
import type {
  WriteBufferLimits,
  WriteBufferModuleOptions,
} from './write-buffer-options.interface.js';
import { WRITE_BUFFER_MODULE_OPTIONS } from './write-buffer.module-definition.js';
import {
  DEFAULT_LEASE_TTL_MS,
  DEFAULT_LEDGER_RETENTION_MS,
  DEFAULT_LEDGER_TABLE,
  DEFAULT_MAX_BATCH_ROWS,
  DEFAULT_MAX_DEAD_LETTERS,
  DEFAULT_MAX_PENDING,
  DEFAULT_MAX_PENDING_ENTRIES,
  DEFAULT_LIMIT_WAIT_MS,
  DEFAULT_RETRY_BASE_DELAY_MS,
  DEFAULT_RETRY_MAX_DELAY_MS,
} from './write-buffer.constants.js';

/** How often `get` re-reads when a claim raced with its database read. */
const MAX_READ_ATTEMPTS = 50;

/**
 * Buffers counter increments, column updates and inserts, and flushes
 * them to the database in a few batched statements.
 */
@Injectable()
export class BufferService implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('WriteBuffer');
  private readonly dataSources = new Map<string, DataSource>();
  private readonly dialects = new Map<string, SqlDialect>();
  private readonly flushers = new Map<string, Flusher>();
  /** Connections the flushes run on, apart from the app's (see `openFlushConnection`). */
  private readonly flushConnections: FlushConnection[] = [];
  private catalog!: EntityCatalog;
  private readonly ledgerTable: string;
  private readonly maxPending: number;
  private writesSinceFlush = 0;
  private unflushedWrites = 0;
  private readonly limits: Required<Omit<WriteBufferLimits, 'maxDeadLetters'>>;
  private sizeTriggered = false;
  private missingRows = 0;
  private lastFlush?: LastFlush;

  constructor(
    @Inject(WRITE_BUFFER_MODULE_OPTIONS) private readonly options: WriteBufferModuleOptions,
    @Inject(BufferStorage) private readonly storage: BufferStorage,
    private readonly moduleRef: ModuleRef,
  ) {
    const maxDeadLetters = options.limits?.maxDeadLetters;
    if (
      maxDeadLetters !== undefined &&
      !(Number.isSafeInteger(maxDeadLetters) && maxDeadLetters >= 0)
    ) {
      throw new WriteBufferConfigError(
        `limits.maxDeadLetters must be a whole number of letters (0 or more), not ${String(maxDeadLetters)}.`,
      );
    }
    this.ledgerTable = options.ledger?.table ?? DEFAULT_LEDGER_TABLE;
    this.maxPending = options.flush?.maxPending ?? DEFAULT_MAX_PENDING;
    this.limits = {
      maxPendingEntries: options.limits?.maxPendingEntries ?? DEFAULT_MAX_PENDING_ENTRIES,
      policy: options.limits?.policy ?? 'flush',
      waitTimeout: options.limits?.waitTimeout ?? DEFAULT_LIMIT_WAIT_MS,
    };
  }

  async onModuleInit(): Promise<void> {
    const names = [this.options.dataSource ?? 'default'].flat();
    for (const name of names) {
      let dataSource: DataSource;
      try {
        dataSource = this.moduleRef.get<DataSource>(getDataSourceToken(name) as string, {
          strict: false,
        });
      } catch {
        throw new WriteBufferConfigError(
          `WriteBufferModule could not find the TypeORM data source '${name}'. ` +
            `Import TypeOrmModule.forRoot(${name === 'default' ? '' : `{ name: '${name}', ... }`}) in your application, ` +
            `or fix WriteBufferModule's "dataSource" option.`,
        );
      }
      const dialect = createDialect(name, dataSource);
      this.dataSources.set(name, dataSource);
      this.dialects.set(name, dialect);
    }
    this.catalog = new EntityCatalog(this.dataSources);
    try {
      await this.start();
    } catch (error) {
      // No shutdown hook runs when start-up fails: let go of what was opened,
      // so a process that gives up can exit (and the journal can be reopened).
      await this.onApplicationShutdown();
      await this.storage.close().catch(() => undefined);
      throw error;
    }
  }

  /** Checks the storage and prepares a flusher (connection and ledger) per data source. */
  private async start(): Promise<void> {
    await this.storage.open?.([...this.dataSources.keys()]);
    for (const [name, dataSource] of this.dataSources) {
      const connection = await openFlushConnection(name, dataSource);
      this.flushConnections.push(connection);
      const flusher = new Flusher(
        name,
        connection.dataSource,
        this.dialects.get(name)!,
        this.storage,
        this.catalog,
        {
          maxBatchRows: this.options.flush?.maxBatchRows ?? DEFAULT_MAX_BATCH_ROWS,
          maxDeadLetters: this.options.limits?.maxDeadLetters ?? DEFAULT_MAX_DEAD_LETTERS,
          leaseTtl: this.options.flush?.leaseTtl ?? DEFAULT_LEASE_TTL_MS,
          ledgerTable: this.ledgerTable,
          ledgerRetention: this.options.ledger?.retention ?? DEFAULT_LEDGER_RETENTION_MS,
          onMissingRow: this.options.onMissingRow ?? 'dead-letter',
          retry: {
            baseDelay: this.options.flush?.retry?.baseDelay ?? DEFAULT_RETRY_BASE_DELAY_MS,
            maxDelay: this.options.flush?.retry?.maxDelay ?? DEFAULT_RETRY_MAX_DELAY_MS,
          },
          onDeadLetter: this.options.onDeadLetter,
        },
      );
      this.flushers.set(name, flusher);
    }
    for (const flusher of this.flushers.values()) await flusher.prepare();
  }

  /** Closes the flush connections, after the final flush (`FlushScheduler.beforeApplicationShutdown`). */
  async onApplicationShutdown(): Promise<void> {
    while (this.flushConnections.length) await this.flushConnections.pop()!.close();
  }

  /**
   * Applies batches a previous run left in flight (journal or shared
   * storage) before the app serves requests. A database that is down does
   * not stop the app: the batches stay buffered for the next flush.
   */
  async onApplicationBootstrap(): Promise<void> {
    const stats = await this.storage.stats();
    const { counters, updates, inserts } = stats.pending;
    if (!stats.inFlightBatches && !(stats.journal && counters + updates + inserts)) return;
    const found =
      `${counters} counter(s), ${updates} updated row(s), ${inserts} insert(s) pending and ` +
      `${stats.inFlightBatches} in-flight batch(es)`;
    if (!stats.inFlightBatches) {
      this.logger.log(`Recovered ${found}; they are applied by the next flush.`);
      return;
    }
    try {
      const report = await this.flush();
      this.logger.log(
        `Recovered ${found}: flushed ${report.batches} batch(es), ${report.skippedBatches} were already in the database.`,
      );
    } catch (error) {
      this.logger.error(
        `Recovered ${found}, but applying them failed: ${(error as Error).message} They stay buffered.`,
      );
    }
  }

  /**
   * Adds `by` to `column` of the row `id`. N increments between two
   * flushes become one `column = column + sum`.
   * @param entity entity class, `EntitySchema` or entity name
   * @param id primary key value, or an object naming every primary column
   * @param column numeric column (property name)
   * @param by finite number, an integer for integer columns (default 1)
   */
  async increment<T extends ObjectLiteral>(
    entity: EntityTarget<T>,
    id: unknown,
    column: keyof T & string,
    by = 1,
  ): Promise<void> {
    const buffered = this.catalog.get(entity);
    const counter = buffered.counter(column);
    const delta = buffered.delta(counter, by);
    const key = buffered.key(id);
    // A counter already buffered absorbs the delta without a new entry.
    const room = this.admit(1, buffered.target, key, column);
    if (room) await room;
    await this.storage.increment(buffered.target, key, column, delta);
    this.wrote(1);
  }

  /**
   * The column's current value: the database value plus everything
   * buffered and not yet applied. Exact even while a flush commits.
   */
  async get<T extends ObjectLiteral>(
    entity: EntityTarget<T>,
    id: unknown,
    column: keyof T & string,
  ): Promise<number> {
    const buffered = this.catalog.get(entity);
    buffered.counter(column);
    const key = buffered.key(id);
    const dialect = this.dialects.get(buffered.target.dataSource)!;
    for (let attempt = 0; attempt < MAX_READ_ATTEMPTS; attempt++) {
      const before = await this.storage.read(buffered.target, key, column);
      const batchIds = before.layers.flatMap((layer) => (layer.batchId ? [layer.batchId] : []));
      const statement = dialect.readCell(buffered, key, column, this.ledgerTable, batchIds);
      const records: Array<{ kind: number | string; value: string | null }> =
        await buffered.dataSource.query(statement.sql, statement.params);
      const after = await this.storage.read(buffered.target, key, column);
      // A claim between the two reads may have moved pending deltas into a
      // batch that committed before the database read: read again.
      if (after.epoch !== before.epoch) continue;
      const applied = new Set(records.filter((r) => Number(r.kind) === 1).map((r) => r.value));
      const cell = records.find((r) => Number(r.kind) === 0);
      let value = cell?.value == null ? 0 : Number(cell.value);
      // Only the first insert of a row that is not in the database yet takes
      // effect: the database refuses the others (the row exists by then).
      let exists = cell !== undefined;
      for (const layer of before.layers) {
        if (layer.batchId && applied.has(layer.batchId)) continue;
        if (layer.inserted) {
          if (exists) continue;
          exists = true;
          value = layer.value === undefined ? buffered.defaultNumber(column) : Number(layer.value);
          continue;
        }
        if (layer.isSet) value = layer.value == null ? 0 : Number(layer.value);
        value += layer.delta;
      }
      return value;
    }
    throw new Error(
      `Could not read a consistent value of ${buffered.name}.${column}: flushes kept racing the read.`,
    );
  }

  /**
   * Sets columns of the row `id`. Patches to one row merge per column,
   * the last write wins; a set drops the column's pending delta.
   */
  async update<T extends ObjectLiteral>(
    entity: EntityTarget<T>,
    id: unknown,
    patch: Partial<T>,
  ): Promise<void> {
    const buffered = this.catalog.get(entity);
    const values = buffered.patch(patch);
    const key = buffered.key(id);
    const room = this.admit(1);
    if (room) await room;
    await this.storage.update(buffered.target, key, values);
    this.wrote(1);
  }

  /** Buffers one row or many; they are inserted in order with multi-row INSERTs. */
  async insert<T extends ObjectLiteral>(
    entity: EntityTarget<T>,
    rowOrRows: Partial<T> | Partial<T>[],
  ): Promise<void> {
    const buffered = this.catalog.get(entity);
    const given = Array.isArray(rowOrRows) ? rowOrRows : [rowOrRows];
    const rows = given.map((row) => buffered.row(row));
    if (rows.length === 0) return;
    // Rows naming their whole primary key can be read by get() before the flush.
    const keys = given.map((row) => buffered.insertKey(row));
    const room = this.admit(rows.length);
    if (room) await room;
    await this.storage.insert(
      buffered.target,
      rows,
      keys.some((key) => key !== null) ? keys : undefined,
    );
    this.wrote(rows.length);
  }

  /**
   * Applies everything buffered at call time (for one entity's table, when
   * given). If a flush is running, waits for it and then flushes what is
   * still pending.
   */
  async flush<T extends ObjectLiteral>(entity?: EntityTarget<T>): Promise<FlushReport> {
    const target = entity && this.catalog.get(entity).target;
    if (target) return this.run([[this.flushers.get(target.dataSource)!, [target.table]]]);
    return this.run(
      [...this.flushers.values()].map((flusher) => [flusher, undefined]),
      true,
    );
  }

  /**
   * Scheduled flush: flushes the data sources that are not backing off
   * after transient failures.
   */
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
    this.writesSinceFlush = 0;
    const unflushed = this.unflushedWrites;
    try {
      const reports = await Promise.all(targets.map(([flusher, tables]) => flusher.flush(tables)));
      const report = reports.reduce(mergeReport, emptyReport());
      report.durationMs = Date.now() - started;
      this.missingRows += report.missing.length;
      if (everything) this.unflushedWrites = Math.max(0, this.unflushedWrites - unflushed);
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

  /** Writes the database refused (data errors) or whose row was missing, oldest first. */
  async deadLetters(): Promise<DeadLetter[]> {
    const all = await Promise.all(
      [...this.flushers.keys()].map((name) => this.storage.deadLetters(name)),
    );
    return all.flat().sort(byArrival);
  }

  /**
   * Buffers dead letters again (all, or those with `ids`), once you fixed
   * their cause; the next flush applies them. Each letter leaves the
   * dead-letter store in the same atomic step that buffers it, so calls
   * racing on one letter (in one process or several) buffer it once.
   * Resolves how many letters this call buffered.
   */
  async retryDeadLetters(ids?: string[]): Promise<number> {
    return this.eachDataSource((name) => this.storage.requeueDeadLetters(name, ids));
  }

  /** Deletes dead letters for good (all, or those with `ids`); resolves how many. */
  async discardDeadLetters(ids?: string[]): Promise<number> {
    return this.eachDataSource((name) => this.storage.removeDeadLetters(name, ids));
  }

  private async eachDataSource(run: (name: string) => Promise<number>): Promise<number> {
    let total = 0;
    for (const name of this.flushers.keys()) total += await run(name);
    return total;
  }

  /** Counts of what is buffered, and how flushing goes. */
  async stats(): Promise<BufferStats> {
    const storage = await this.storage.stats();
    const health = [...this.flushers.values()].map((flusher) => flusher.health);
    return {
      deadLetters: storage.deadLetters,
      deadLettersDropped: storage.deadLettersDropped,
      backoffMs: Math.max(0, ...health.map((h) => h.backoffMs)),
      pending: storage.pending,
      inFlightBatches: storage.inFlightBatches,
      ...(storage.journal && { journal: storage.journal }),
      missingRows: this.missingRows,
      consecutiveFailures: Math.max(0, ...health.map((h) => h.consecutiveFailures)),
      lastFlush: this.lastFlush,
    };
  }

  /**
   * Enforces `limits.maxPendingEntries`: resolves when there is room for
   * `count` more entries (or at once for an increment of a counter that is
   * already buffered, which adds none); with policy 'flush' it starts a
   * flush and waits (up to `limits.waitTimeout`), with 'reject' it throws
   * at once. Returns nothing to await in the common case (there is room).
   */
  private admit(
    count: number,
    target?: BufferTarget,
    key?: RowKey,
    column?: string,
  ): Promise<void> | undefined {
    // Checked first: the common case costs one addition and comparison.
    if (this.pendingEntries() + count <= this.limits.maxPendingEntries) return;
    if (column && this.storage.hasCounter?.(target!, key!, column)) return;
    return this.waitForRoom(count);
  }

  private async waitForRoom(count: number): Promise<void> {
    if (this.limits.policy === 'flush') {
      const until = Date.now() + this.limits.waitTimeout;
      while (Date.now() < until) {
        if (!this.sizeTriggered) this.triggerFlush();
        await new Promise((resolve) => setTimeout(resolve, 10));
        if (this.pendingEntries() + count <= this.limits.maxPendingEntries) return;
      }
    }
    throw BufferFullError.of(this.pendingEntries(), this.limits, this.lastFlush?.error);
  }

  /** Entries held (pending and in flight): exact for storages that count, else this process's unflushed writes. */
  private pendingEntries(): number {
    return this.storage.pendingEntries?.() ?? this.unflushedWrites;
  }

  private triggerFlush() {
    this.sizeTriggered = true;
    this.flush()
      .catch((error: unknown) =>
        this.logger.debug(`Early flush failed: ${(error as Error).message}`),
      )
      .finally(() => (this.sizeTriggered = false));
  }

  private wrote(count: number) {
    this.unflushedWrites += count;
    this.writesSinceFlush += count;
    if (this.maxPending > 0 && this.writesSinceFlush >= this.maxPending && !this.sizeTriggered) {
      this.triggerFlush();
    }
  }
}
