import { Logger } from '@nestjs/common';
import type { DataSource, QueryRunner } from 'typeorm';
import { FlushError, LeaseLostError, WriteBufferError } from '../errors.js';
import type { EntityCatalog } from '../metadata/entity-catalog.js';
import type { BufferedEntity } from '../metadata/buffered-entity.js';
import type { SqlDialect, Statement } from '../sql/sql-dialect.js';
import type { BufferStorage } from '../storage/buffer-storage.interface.js';
import type { ClaimedBatch, FlushLease, RowKey } from '../storage/buffer-batch.interface.js';
import { emptyReport, type FlushReport, type MissingRow } from './flush-report.interface.js';

/** How often the ledger is pruned, at most. */
const PRUNE_EVERY_MS = 60 * 60 * 1000;

export interface FlusherOptions {
  maxBatchRows: number;
  leaseTtl: number;
  ledgerTable: string;
  ledgerRetention: number;
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
    } catch (error) {
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

  private async applyAndAck(
    batch: ClaimedBatch,
    lease: FlushLease,
    report: FlushReport,
    held: { lost: boolean },
  ) {
    const applied = await this.apply(batch, held);
    if (applied) {
      report.batches++;
      report.inserted += applied.inserted;
      report.updated += applied.updated;
      report.incremented += applied.incremented;
      report.statements += applied.statements;
      report.missing.push(...applied.missing);
      for (const missing of applied.missing) {
        this.logger.warn(
          `${missing.entity} ${JSON.stringify(missing.id)} does not exist in data source '${missing.dataSource}': ` +
            `its buffered ${missing.kind} ${JSON.stringify(missing.values)} was not applied.`,
        );
      }
    } else {
      report.skippedBatches++;
    }
    await this.storage.ack(batch, lease);
  }

  /**
   * Applies a batch in one transaction, unless the ledger shows it was
   * applied already (then resolves `null`). Inserts go first, then
   * updates, then counters, so arrival order on one row holds.
   */
  private async apply(batch: ClaimedBatch, held: { lost: boolean }) {
    const runner = this.dataSource.createQueryRunner();
    const result = {
      inserted: 0,
      updated: 0,
      incremented: 0,
      statements: 0,
      missing: [] as MissingRow[],
    };
    await runner.connect();
    try {
      await runner.startTransaction();
      const claim = this.dialect.ledgerClaim(this.options.ledgerTable, batch.id, Date.now());
      const recorded = await query(runner, claim);
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
      for (const { part, entity } of parts) {
        const matched = await this.runUpdates(
          runner,
          this.dialect.updates(entity, part.updates),
          entity,
          result,
        );
        result.updated += this.collectMissing(
          entity,
          'update',
          part.updates,
          matched,
          result.missing,
        );
      }
      for (const { part, entity } of parts) {
        const matched = await this.runUpdates(
          runner,
          this.dialect.counters(entity, part.counters),
          entity,
          result,
        );
        result.incremented += this.collectMissing(
          entity,
          'counter',
          part.counters,
          matched,
          result.missing,
        );
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

  /** Runs keyed UPDATEs; returns the keys of the rows they matched. */
  private async runUpdates(
    runner: QueryRunner,
    statements: Statement[],
    entity: BufferedEntity,
    result: { statements: number },
  ): Promise<Set<RowKey>> {
    const matched = new Set<RowKey>();
    for (const statement of statements) {
      for (const record of await query(runner, statement)) {
        matched.add(entity.keyOfRecord(Object.values(record)));
      }
      result.statements++;
    }
    return matched;
  }

  private collectMissing(
    entity: BufferedEntity,
    kind: MissingRow['kind'],
    rows: Array<[RowKey, Record<string, unknown>]>,
    matched: Set<RowKey>,
    missing: MissingRow[],
  ): number {
    let applied = 0;
    for (const [key, values] of rows) {
      if (matched.has(key)) {
        applied++;
        continue;
      }
      const keyValues = entity.keyValues(key);
      missing.push({
        dataSource: this.name,
        entity: entity.name,
        id: Object.fromEntries(
          entity.primary.map((c, i) => [c.metadata.propertyPath, keyValues[i]]),
        ),
        kind,
        values,
      });
    }
    return applied;
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

async function query(
  runner: QueryRunner,
  statement: Statement,
): Promise<Record<string, unknown>[]> {
  const result = await runner.query(statement.sql, statement.params, true);
  return (result.records ?? []) as Record<string, unknown>[];
}

function batchSize(batch: ClaimedBatch): number {
  let size = 0;
  for (const part of batch.tables) {
    const rows = new Set([
      ...part.updates.map(([key]) => key),
      ...part.counters.map(([key]) => key),
    ]);
    size += part.inserts.length + rows.size;
  }
  return size;
}
