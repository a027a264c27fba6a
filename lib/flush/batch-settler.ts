import { Logger } from '@nestjs/common';
import { WriteBufferError } from '../errors.js';
import type { EntityCatalog } from '../metadata/entity-catalog.js';
import type { ClaimedBatch } from '../storage/buffer-batch.interface.js';
import type { Acknowledger } from './acknowledger.js';
import { batchEntries, batchOf, type BatchEntry } from './batch-entries.js';
import type { ApplyResult, BatchApplier } from './batch-applier.js';
import { alreadyApplied } from './batch-applier.js';
import { bisect } from './bisection.js';
import type { DeadLetter } from './dead-letter.interface.js';
import { classifyFailure } from './failure-kind.js';
import type { FlushReport } from './flush-report.interface.js';
import type { LeaseKeeper } from './lease-keeper.js';
import type { Ledger } from './ledger.js';
import { checkSchema } from './schema-check.js';
import { deadLetterOf, missingRowOf } from './unapplied-entries.js';

/** What the settler of one data source works with. */
export interface BatchSettlerSteps {
  /** TypeORM driver type of the data source (`postgres`, `better-sqlite3`, …), to classify failures. */
  driver: string;
  catalog: EntityCatalog;
  ledger: Ledger;
  applier: BatchApplier;
  acknowledger: Acknowledger;
  /** What becomes of a counter or update whose row does not exist. */
  onMissingRow: 'dead-letter' | 'drop';
}

/**
 * Brings each in-flight batch of one data source to its end: applied and
 * acked, or (in parts) set aside as dead letters.
 */
export class BatchSettler {
  private readonly logger = new Logger('WriteBuffer');

  constructor(
    private readonly dataSource: string,
    private readonly steps: BatchSettlerSteps,
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
  async settle(batch: ClaimedBatch, lease: LeaseKeeper, report: FlushReport): Promise<void> {
    const { catalog, ledger, applier, acknowledger } = this.steps;
    const entries = batchEntries(batch);
    const { kept, stale } = checkSchema(this.dataSource, entries, (table) =>
      catalog.table(this.dataSource, table),
    );
    if (stale.length) {
      // A batch that committed before the deploy is only acknowledged:
      // nothing of it may be set aside, or applied again under a new id.
      const missed = await ledger.lookup(batch.id, entries);
      if (missed) return this.finish(batch, lease, report, alreadyApplied(missed));
      const letters = stale.map(({ entry, position, problem }) =>
        this.deadLetter(batch.id, entry, position, problem),
      );
      if (kept.length === 0) return acknowledger.ack(batch, lease.lease, report, letters);
      const part = batchOf(batch, `${batch.id}/a`, kept);
      await acknowledger.split(batch, lease.lease, report, [part], letters);
      return this.settle(part, lease, report);
    }
    let applied: ApplyResult;
    try {
      applied = await applier.apply(batch, entries, lease);
    } catch (error) {
      if (error instanceof WriteBufferError) throw error;
      if (classifyFailure(this.steps.driver, error) !== 'data') throw error;
      const parts = bisect(batch, entries);
      if (!parts) {
        const message = (error as Error).message;
        const letters = entries.map((entry, i) => this.deadLetter(batch.id, entry, i, message));
        return acknowledger.ack(batch, lease.lease, report, letters);
      }
      await acknowledger.split(batch, lease.lease, report, parts, []);
      for (const part of parts) await this.settle(part, lease, report);
      return;
    }
    await this.finish(batch, lease, report, applied);
  }

  /** Reports what a batch did (or had done, when skipped), sets aside its missing rows, and acks it. */
  private async finish(
    batch: ClaimedBatch,
    lease: LeaseKeeper,
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
      const missing = missingRowOf(
        this.dataSource,
        this.steps.catalog.table(this.dataSource, entry.table)!,
        entry,
      );
      report.missing.push(missing);
      if (this.steps.onMissingRow === 'dead-letter') {
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
    await this.steps.acknowledger.ack(batch, lease.lease, report, letters);
  }

  /** The dead letter of the entry at `position` in batch `batchId`. */
  private deadLetter(
    batchId: string,
    entry: BatchEntry,
    position: number,
    error: string,
  ): DeadLetter {
    const entity = this.steps.catalog.table(this.dataSource, entry.table);
    return deadLetterOf(this.dataSource, entity, batchId, entry, position, error);
  }
}
