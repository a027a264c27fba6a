import { Logger } from '@nestjs/common';
import { WriteBufferError } from '../errors.js';
import type { EntityCatalog } from '../metadata/entity-catalog.js';
import type { ClaimedBatch } from '../storage/buffer-batch.interface.js';
import type { Acknowledger } from './acknowledger.js';
import { batchEntries, batchOf, type BatchEntry } from './batch-entries.js';
import { alreadyApplied, type ApplyResult, type BatchApplier } from './batch-applier.js';
import { bisect } from './bisection.js';
import type { DeadLetter } from './dead-letter.interface.js';
import { classifyFailure } from './failure-kind.js';
import type { FlushReport } from './flush-report.interface.js';
import type { LeaseKeeper } from './lease-keeper.js';
import type { Ledger } from './ledger.js';
import { checkSchema } from './schema-check.js';
import type { WriteBufferMetrics } from '../telemetry/write-buffer.metrics.js';
import { deadLetterOf, missingRowOf } from './unapplied-entries.js';

/** The steps and the option the settler of one data source works with. */
export interface BatchSettlerContext {
  /** TypeORM driver type of the data source (`postgres`, `better-sqlite3`, …), to classify failures. */
  driver: string;
  catalog: EntityCatalog;
  ledger: Ledger;
  applier: BatchApplier;
  acknowledger: Acknowledger;
  metrics: WriteBufferMetrics;
}

/**
 * Settles the batches of one data source, one at a time: checks them
 * against the schema, applies them, bisects what the database refuses,
 * and acks them.
 */
export class BatchSettler {
  private readonly logger = new Logger('WriteBuffer');

  constructor(
    private readonly dataSource: string,
    private readonly context: BatchSettlerContext,
  ) {}

  /**
   * Brings an in-flight batch to its end: applied and acked, or set aside.
   * Entries the schema can no longer take (a dropped table or column)
   * become dead letters at once. When the database refuses the batch for a
   * data error, the storage replaces it by its two halves (atomically, so
   * nothing of it was applied and each half is a batch of its own, with its
   * own ledger id), until the offending entries are alone and set aside.
   * Transient errors abort the flush: the batch stays in flight.
   */
  async settle(batch: ClaimedBatch, keeper: LeaseKeeper, report: FlushReport): Promise<void> {
    const { catalog, ledger, applier, acknowledger } = this.context;
    const entries = batchEntries(batch);
    const { kept, stale } = checkSchema(this.dataSource, entries, (table) =>
      catalog.table(this.dataSource, table),
    );
    if (stale.length) {
      // A batch that committed before the deploy is only acknowledged:
      // nothing of it may be set aside, or applied again under a new id.
      const missed = await ledger.lookup(batch.id, entries);
      if (missed) return this.finish(batch, keeper, report, alreadyApplied(missed));
      const letters = stale.map(({ entry, position, problem }) =>
        this.deadLetter(batch.id, entry, position, problem),
      );
      if (kept.length === 0) return acknowledger.ack(batch, keeper.lease, report, letters);
      const part = batchOf(batch, `${batch.id}/a`, kept);
      await acknowledger.split(batch, keeper.lease, report, [part], letters);
      return this.settle(part, keeper, report);
    }
    let applied: ApplyResult;
    try {
      applied = await applier.apply(batch, entries, keeper);
    } catch (error) {
      if (error instanceof WriteBufferError) throw error;
      if (classifyFailure(this.context.driver, error) !== 'data') throw error;
      const parts = bisect(batch, entries);
      if (!parts) {
        const message = (error as Error).message;
        const letters = entries.map((entry, i) => this.deadLetter(batch.id, entry, i, message));
        return acknowledger.ack(batch, keeper.lease, report, letters);
      }
      await acknowledger.split(batch, keeper.lease, report, parts, []);
      this.context.metrics.bisected(this.dataSource);
      for (const part of parts) await this.settle(part, keeper, report);
      return;
    }
    await this.finish(batch, keeper, report, applied);
  }

  /** Reports what a batch did (or had done, when skipped), sets aside its missing rows, and acks it. */
  private async finish(
    batch: ClaimedBatch,
    keeper: LeaseKeeper,
    report: FlushReport,
    applied: ApplyResult,
  ): Promise<void> {
    if (applied.skipped) report.skippedBatches++;
    else {
      report.batches++;
      report.inserted += applied.inserted;
      report.updated += applied.updated;
      report.incremented += applied.incremented;
      report.statements += applied.statements;
    }
    const letters: DeadLetter[] = [];
    for (const entry of applied.unmatched) {
      const entity = this.context.catalog.table(this.dataSource, entry.table)!;
      const missing = missingRowOf(this.dataSource, entity, entry);
      report.missing.push(missing);
      if (entity.settings.onMissingRow === 'dead-letter') {
        letters.push(
          this.deadLetter(
            batch.id,
            entry,
            entry.position,
            `row ${JSON.stringify(missing.id)} does not exist`,
          ),
        );
      } else {
        this.logger.warn(
          `${missing.entity} ${JSON.stringify(missing.id)} does not exist in data source '${missing.dataSource}': ` +
            `its buffered ${missing.kind} ${JSON.stringify(missing.values)} was dropped (onMissingRow: 'drop').`,
        );
      }
    }
    await this.context.acknowledger.ack(batch, keeper.lease, report, letters);
  }

  /** The dead letter of the entry at `position` in batch `batchId`. */
  private deadLetter(
    batchId: string,
    entry: BatchEntry,
    position: number,
    error: string,
  ): DeadLetter {
    const entity = this.context.catalog.table(this.dataSource, entry.table);
    return deadLetterOf(this.dataSource, entity, batchId, entry, position, error);
  }
}
