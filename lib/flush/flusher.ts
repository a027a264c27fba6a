import { Logger } from '@nestjs/common';
import type { DataSource, QueryRunner } from 'typeorm';
import { FlushError, LeaseLostError, WriteBufferError } from '../errors.js';
import type { EntityCatalog } from '../metadata/entity-catalog.js';
import type { BufferedEntity } from '../metadata/buffered-entity.js';
import type { SqlDialect, Statement, StatementResult } from '../sql/sql-dialect.js';
import type { BufferStorage } from '../storage/buffer-storage.interface.js';
import type { ClaimedBatch, FlushLease, RowKey } from '../storage/buffer-batch.interface.js';
import { createHash } from 'node:crypto';
import { batchEntries, batchOf, type BatchEntry } from './batch-entries.js';
import type { DeadLetter } from './dead-letter.interface.js';
import { classifyFailure } from './failure-kind.js';
import { emptyReport, type FlushReport, type MissingRow } from './flush-report.interface.js';

/** How often the ledger is pruned, at most. */
const PRUNE_EVERY_MS = 60 * 60 * 1000;

export interface FlusherOptions {
  maxBatchRows: number;
  leaseTtl: number;
  ledgerTable: string;
  ledgerRetention: number;
  onMissingRow: 'dead-letter' | 'drop';
  retry: { baseDelay: number; maxDelay: number };
  onDeadLetter?: (letter: DeadLetter) => void;
}

/** How flushing a data source is going. */
export interface FlusherHealth {
  consecutiveFailures: number;
  /** Delay before the next scheduled attempt, in milliseconds (0 when healthy). */
  backoffMs: number;
  nextAttemptAt: number;
}

/**
 * Flushes one data source with the claim → apply-with-ledger → ack
 * protocol, one flush at a time. A `flush()` called while another runs
 * waits for it and then runs (or joins) the next one, so it always covers
 * everything that was pending when it was called.
 */
export class Flusher {
  private readonly logger = new Logger('WriteBuffer');
  private tail: Promise<unknown> = Promise.resolve();
  private queued?: { tables?: Set<string>; promise: Promise<FlushReport> };
  private lastPrune = 0;
  readonly health: FlusherHealth = { consecutiveFailures: 0, backoffMs: 0, nextAttemptAt: 0 };

  constructor(
    readonly name: string,
    private readonly dataSource: DataSource,
    private readonly dialect: SqlDialect,
    private readonly storage: BufferStorage,
    private readonly catalog: EntityCatalog,
    private readonly options: FlusherOptions,
  ) {}

  /** Creates the ledger table if it is missing. */
  async prepare(): Promise<void> {
    try {
      await this.dataSource.query(this.dialect.ledgerSchema(this.options.ledgerTable));
    } catch (error) {
      // Another process may have created it at the same moment.
      if (!(await this.dataSource.createQueryRunner().hasTable(this.options.ledgerTable)))
        throw error;
    }
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

  private start(run: { tables?: Set<string> }): Promise<FlushReport> {
    this.queued = undefined;
    return this.run(run.tables ? [...run.tables] : undefined);
  }

  private async run(tables?: string[]): Promise<FlushReport> {
    const started = Date.now();
    const report = emptyReport();
    const lease = await this.acquireLease();
    const held = { lost: false };
    const renewal = setInterval(() => {
      lease.renew().then(
        (ok) => (held.lost ||= !ok),
        () => (held.lost = true),
      );
    }, this.options.leaseTtl / 3);
    renewal.unref();
    try {
      // Batches left in flight by a failed or crashed flush (of any
      // instance) go first, in order; they now belong to this lease.
      for (const batch of await this.storage.inFlight(this.name, lease)) {
        await this.applyAndAck(batch, lease, report, held);
      }
      for (;;) {
        const batch = await this.storage.claim(this.name, {
          maxRows: this.options.maxBatchRows,
          tables,
          lease,
        });
        if (!batch) break;
        await this.applyAndAck(batch, lease, report, held);
        if (batchSize(batch) < this.options.maxBatchRows) break;
      }
      await this.pruneLedger();
      this.succeeded();
    } catch (error) {
      this.failed(error);
      throw error instanceof WriteBufferError ? error : FlushError.failed(this.name, error);
    } finally {
      clearInterval(renewal);
      await lease.release();
      report.durationMs = Date.now() - started;
    }
    return report;
  }

  private async acquireLease(): Promise<FlushLease> {
    for (let wait = 10; ; wait = Math.min(wait * 2, 1000)) {
      const lease = await this.storage.lease(this.name, this.options.leaseTtl);
      if (lease) return lease;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  /** Whether a scheduled flush should run now (not backing off after failures). */
  due(now = Date.now()): boolean {
    return now >= this.health.nextAttemptAt;
  }

  private succeeded() {
    if (this.health.consecutiveFailures > 0) {
      this.logger.log(
        `Flushing data source '${this.name}' recovered after ${this.health.consecutiveFailures} failed attempt(s).`,
      );
    }
    Object.assign(this.health, { consecutiveFailures: 0, backoffMs: 0, nextAttemptAt: 0 });
  }

  /** Backs off exponentially, with jitter; logs only when the state changes. */
  private failed(error: unknown) {
    const { baseDelay, maxDelay } = this.options.retry;
    const failures = ++this.health.consecutiveFailures;
    const ceiling = Math.min(maxDelay, baseDelay * 2 ** (failures - 1));
    this.health.backoffMs = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    this.health.nextAttemptAt = Date.now() + this.health.backoffMs;
    if (failures === 1) {
      this.logger.error(
        `Flushing data source '${this.name}' is failing: ${(error as Error)?.message ?? error}. ` +
          `Nothing is lost; retrying with backoff (up to ${maxDelay} ms). The next line will say when it recovers.`,
      );
    }
  }

  private async applyAndAck(
    batch: ClaimedBatch,
    lease: FlushLease,
    report: FlushReport,
    held: { lost: boolean },
  ) {
    const dead: DeadLetter[] = [];
    await this.applyIsolating(batch, batch.id, held, report, dead);
    if (dead.length) {
      // Stored before the ack: a crash in between finds the same letters (same ids) again.
      await this.storage.putDeadLetters(dead);
      report.deadLettered += dead.length;
      for (const letter of dead) {
        this.logger.warn(
          `Dead letter ${letter.id}: ${letter.kind} on ${letter.entity}` +
            `${letter.key ? ` ${JSON.stringify(letter.key)}` : ''} was set aside: ${letter.error}`,
        );
        try {
          this.options.onDeadLetter?.(letter);
        } catch (error) {
          this.logger.error(`onDeadLetter threw: ${(error as Error).message}`);
        }
      }
    }
    await this.storage.ack(batch, lease);
  }

  /**
   * Applies a batch; when the database refuses it for a data error, splits
   * it in halves (each its own transaction and ledger id, derived from the
   * batch id so a re-run after a crash skips what was applied) until the
   * offending entries are alone, and sets those aside as dead letters.
   * Transient errors abort the flush: the batch stays in flight.
   */
  private async applyIsolating(
    batch: ClaimedBatch,
    id: string,
    held: { lost: boolean },
    report: FlushReport,
    dead: DeadLetter[],
  ): Promise<void> {
    let applied: Awaited<ReturnType<Flusher['apply']>>;
    try {
      applied = await this.apply(batch, id, held);
    } catch (error) {
      if (error instanceof WriteBufferError) throw error;
      if (classifyFailure(this.dataSource.options.type, error) !== 'data') throw error;
      const entries = batchEntries(batch);
      if (entries.length === 1) {
        dead.push(this.deadLetter(id, entries[0], (error as Error).message));
        return;
      }
      const half = Math.ceil(entries.length / 2);
      await this.applyIsolating(
        batchOf(batch, `${id}/0`, entries.slice(0, half)),
        `${id}/0`,
        held,
        report,
        dead,
      );
      await this.applyIsolating(
        batchOf(batch, `${id}/1`, entries.slice(half)),
        `${id}/1`,
        held,
        report,
        dead,
      );
      return;
    }
    if (!applied) {
      report.skippedBatches++;
      return;
    }
    report.batches++;
    report.inserted += applied.inserted;
    report.updated += applied.updated;
    report.incremented += applied.incremented;
    report.statements += applied.statements;
    for (const entry of applied.unmatched) {
      const missing = this.missingRow(entry);
      report.missing.push(missing);
      if (this.options.onMissingRow === 'dead-letter') {
        dead.push(this.deadLetter(id, entry, `row ${JSON.stringify(missing.id)} does not exist`));
      } else {
        this.logger.warn(
          `${missing.entity} ${JSON.stringify(missing.id)} does not exist in data source '${missing.dataSource}': ` +
            `its buffered ${missing.kind} ${JSON.stringify(missing.values)} was dropped (onMissingRow: 'drop').`,
        );
      }
    }
  }

  /** How a counter or update whose row was not there appears in a FlushReport. */
  private missingRow(entry: Exclude<BatchEntry, { kind: 'insert' }>): MissingRow {
    const entity = this.catalog.table(this.name, entry.table)!;
    return {
      dataSource: this.name,
      entity: entity.name,
      table: entry.table,
      id: entity.keyObject(entry.key),
      kind: entry.kind,
      values: entry.kind === 'update' ? entry.values : entry.deltas,
    };
  }

  private deadLetter(batchId: string, entry: BatchEntry, error: string): DeadLetter {
    const entity = this.catalog.table(this.name, entry.table);
    const base = {
      dataSource: this.name,
      table: entry.table,
      entity: entity?.name ?? entry.table,
      error,
      at: new Date(),
    };
    const payload =
      entry.kind === 'insert' ? entry.row : entry.kind === 'update' ? entry.values : entry.deltas;
    const rowKey = entry.kind === 'insert' ? undefined : entry.key;
    const id = createHash('sha1')
      .update(JSON.stringify([batchId, entry.table, entry.kind, rowKey ?? null, payload]))
      .digest('hex')
      .slice(0, 24);
    const key = rowKey && entity ? entity.keyObject(rowKey) : undefined;
    return { id, ...base, kind: entry.kind, payload, ...(rowKey && { rowKey, key }) };
  }

  /**
   * Applies a batch in one transaction, unless the ledger shows it was
   * applied already (then resolves `null`). Inserts go first, then
   * updates, then counters, so arrival order on one row holds.
   */
  private async apply(batch: ClaimedBatch, id: string, held: { lost: boolean }) {
    const runner = this.dataSource.createQueryRunner();
    const result = {
      inserted: 0,
      updated: 0,
      incremented: 0,
      statements: 0,
      unmatched: [] as Array<Exclude<BatchEntry, { kind: 'insert' }>>,
    };
    await runner.connect();
    try {
      await runner.startTransaction();
      const claim = this.dialect.ledgerClaim(this.options.ledgerTable, id, Date.now());
      const { records: recorded } = await query(runner, claim).catch((error: unknown) => {
        // The ledger is ours, not the user's data: never a reason to dead-letter.
        throw FlushError.failed(this.name, error);
      });
      if (recorded.length === 0) {
        await runner.rollbackTransaction();
        return null;
      }
      const parts = batch.tables.map((part) => ({ part, entity: this.entity(batch, part.table) }));
      for (const { part, entity } of parts) {
        for (const statement of this.dialect.inserts(entity, part.inserts)) {
          await query(runner, statement);
          result.statements++;
        }
        result.inserted += part.inserts.length;
      }
      // Updates before counters, so set-then-increment adds on top of the set.
      const run = (statement: Statement) => query(runner, statement);
      for (const kind of ['update', 'counter'] as const) {
        for (const { part, entity } of parts) {
          const statements =
            kind === 'update'
              ? this.dialect.updates(entity, part.updates)
              : this.dialect.counters(entity, part.counters);
          const unmatched = new Set<RowKey>();
          for (const statement of statements) {
            for (const key of await this.dialect.unmatchedKeys(statement, run)) unmatched.add(key);
            result.statements++;
          }
          const applied =
            (kind === 'update' ? part.updates : part.counters).length - unmatched.size;
          if (kind === 'update') result.updated += applied;
          else result.incremented += applied;
          if (unmatched.size === 0) continue;
          for (const entry of batchEntries({ ...batch, tables: [part] })) {
            if (entry.kind !== 'insert' && entry.kind === kind && unmatched.has(entry.key)) {
              result.unmatched.push(entry);
            }
          }
        }
      }
      if (held.lost) {
        // Another flusher may own this batch now: leave it to that one.
        throw new LeaseLostError(
          `The flush lease of data source '${this.name}' expired while applying batch ${batch.id}; rolled back and left to the next lease holder.`,
        );
      }
      await runner.commitTransaction();
      return result;
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    } finally {
      await runner.release();
    }
  }

  private entity(batch: ClaimedBatch, table: string): BufferedEntity {
    const entity = this.catalog.table(batch.dataSource, table);
    if (!entity) {
      throw new FlushError(
        `Batch ${batch.id} holds writes for table '${table}', which is not an entity of data source '${batch.dataSource}' (any more). ` +
          `Register the entity again to let the batch be applied.`,
        undefined,
      );
    }
    return entity;
  }

  private async pruneLedger() {
    const now = Date.now();
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    const prune = this.dialect.ledgerPrune(
      this.options.ledgerTable,
      now - this.options.ledgerRetention,
    );
    await this.dataSource.query(prune.sql, prune.params);
  }
}

async function query(runner: QueryRunner, statement: Statement): Promise<StatementResult> {
  const result = await runner.query(statement.sql, statement.params, true);
  return { records: result.records ?? [], affected: result.affected };
}

/** Inserts plus distinct rows (a row may have both an update and counters). */
function batchSize(batch: ClaimedBatch): number {
  let size = 0;
  for (const { inserts, updates, counters } of batch.tables) {
    size += inserts.length;
    if (updates.length === 0 || counters.length === 0) {
      size += updates.length + counters.length;
    } else {
      size += new Set([...updates.map(([key]) => key), ...counters.map(([key]) => key)]).size;
    }
  }
  return size;
}
