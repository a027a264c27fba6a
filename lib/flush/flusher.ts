import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { FlushError, LeaseLostError, WriteBufferError } from '../errors.js';
import type { EntityCatalog } from '../metadata/entity-catalog.js';
import type { BufferedEntity } from '../metadata/buffered-entity.js';
import type { SqlDialect, Statement } from '../sql/sql-dialect.js';
import type { BufferStorage } from '../storage/buffer-storage.interface.js';
import type { ClaimedBatch, FlushLease, RowKey } from '../storage/buffer-batch.interface.js';
import { createHash } from 'node:crypto';
import { batchEntries, batchOf, entryId, type BatchEntry } from './batch-entries.js';
import type { DeadLetter } from './dead-letter.interface.js';
import { classifyFailure } from './failure-kind.js';
import { emptyReport, type FlushReport, type MissingRow } from './flush-report.interface.js';
import { Ledger, run as query } from './ledger.js';

/** A counter or update entry of a batch, with its place in the batch's entries. */
type KeyedEntry = Exclude<BatchEntry, { kind: 'insert' }> & { position: number };

/** What applying a batch did. */
interface ApplyResult {
  /** The ledger showed the batch applied before: nothing ran, `unmatched` is what it missed then. */
  skipped: boolean;
  inserted: number;
  updated: number;
  incremented: number;
  statements: number;
  /** Entries whose row did not exist. */
  unmatched: KeyedEntry[];
}

export interface FlusherOptions {
  maxBatchRows: number;
  /** Most dead letters the data source keeps (`limits.maxDeadLetters`). */
  maxDeadLetters: number;
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
  private readonly ledger: Ledger;
  /** Whether the last dead letters found the store full (logged once per change). */
  private deadLettersFull = false;
  readonly health: FlusherHealth = { consecutiveFailures: 0, backoffMs: 0, nextAttemptAt: 0 };

  constructor(
    readonly name: string,
    private readonly dataSource: DataSource,
    private readonly dialect: SqlDialect,
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
        await this.settle(batch, lease, report, held);
      }
      for (;;) {
        const batch = await this.storage.claim(this.name, {
          maxRows: this.options.maxBatchRows,
          tables,
          lease,
        });
        if (!batch) break;
        await this.settle(batch, lease, report, held);
        if (batchSize(batch) < this.options.maxBatchRows) break;
      }
      await this.ledger.prune();
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

  /**
   * Brings an in-flight batch to its end: applied and acked, or set aside.
   * Entries the schema can no longer take (a dropped table or column)
   * become dead letters at once. When the database refuses the batch for a
   * data error, the storage replaces it by its two halves (atomically, so
   * nothing of it was applied and each half is a batch of its own, with its
   * own ledger id), until the offending entries are alone and set aside.
   * Transient errors abort the flush: the batch stays in flight.
   */
  private async settle(
    batch: ClaimedBatch,
    lease: FlushLease,
    report: FlushReport,
    held: { lost: boolean },
  ): Promise<void> {
    const entries = batchEntries(batch);
    const { kept, stale } = this.checkSchema(entries);
    if (stale.length) {
      // A batch that committed before the deploy is only acknowledged:
      // nothing of it may be set aside, or applied again under a new id.
      const missed = await this.ledger.lookup(batch.id);
      if (missed) return this.finish(batch, lease, report, skipped(entries, missed));
      const letters = stale.map(([entry, position, problem]) =>
        this.deadLetter(batch.id, entry, position, problem),
      );
      if (kept.length === 0) return this.ack(batch, lease, report, letters);
      const part = batchOf(batch, `${batch.id}/a`, kept);
      await this.split(batch, lease, report, [part], letters);
      return this.settle(part, lease, report, held);
    }
    let applied: ApplyResult;
    try {
      applied = await this.apply(batch, entries, lease, held);
    } catch (error) {
      if (error instanceof WriteBufferError) throw error;
      if (classifyFailure(this.dataSource.options.type, error) !== 'data') throw error;
      const units = bisectionUnits(entries);
      if (units.length === 1) {
        const message = (error as Error).message;
        const letters = entries.map((entry, i) => this.deadLetter(batch.id, entry, i, message));
        return this.ack(batch, lease, report, letters);
      }
      const half = Math.ceil(units.length / 2);
      const parts = [
        batchOf(batch, `${batch.id}/0`, units.slice(0, half).flat()),
        batchOf(batch, `${batch.id}/1`, units.slice(half).flat()),
      ];
      await this.split(batch, lease, report, parts, []);
      for (const part of parts) await this.settle(part, lease, report, held);
      return;
    }
    await this.finish(batch, lease, report, applied);
  }

  /** Reports what a batch did (or had done, when skipped), sets aside its missing rows, and acks it. */
  private async finish(
    batch: ClaimedBatch,
    lease: FlushLease,
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
      const missing = this.missingRow(entry);
      report.missing.push(missing);
      if (this.options.onMissingRow === 'dead-letter') {
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
    await this.ack(batch, lease, report, letters);
  }

  /**
   * Separates what the schema can no longer take (a deploy removed the
   * entity or the column): an insert naming a removed column goes whole,
   * a counter or update loses just the removed columns.
   */
  private checkSchema(entries: BatchEntry[]) {
    const kept: BatchEntry[] = [];
    const stale: Array<readonly [BatchEntry, number, string]> = [];
    entries.forEach((entry, position) => {
      const entity = this.catalog.table(this.name, entry.table);
      if (!entity) {
        const problem = `table '${entry.table}' is not an entity of data source '${this.name}' any more`;
        stale.push([entry, position, problem]);
        return;
      }
      const values =
        entry.kind === 'insert' ? entry.row : entry.kind === 'update' ? entry.values : entry.deltas;
      const gone = Object.keys(values).filter((column) => !entity.hasColumn(column));
      if (gone.length === 0) {
        kept.push(entry);
        return;
      }
      const problem = `column${gone.length > 1 ? 's' : ''} ${gone.map((c) => `'${c}'`).join(', ')} ${gone.length > 1 ? 'are' : 'is'} not a column of entity ${entity.name} any more`;
      if (entry.kind === 'insert' || gone.length === Object.keys(values).length) {
        stale.push([entry, position, problem]);
        return;
      }
      const pick = <T>(from: Record<string, T>, keep: boolean) =>
        Object.fromEntries(Object.entries(from).filter(([c]) => gone.includes(c) !== keep));
      if (entry.kind === 'update') {
        kept.push({ ...entry, values: pick(entry.values, true) });
        stale.push([{ ...entry, values: pick(entry.values, false) }, position, problem]);
      } else {
        kept.push({ ...entry, deltas: pick(entry.deltas, true) });
        stale.push([{ ...entry, deltas: pick(entry.deltas, false) }, position, problem]);
      }
    });
    return { kept, stale };
  }

  private async ack(
    batch: ClaimedBatch,
    lease: FlushLease,
    report: FlushReport,
    letters: DeadLetter[],
  ): Promise<void> {
    const kept = await this.storage.ack(batch, lease, this.setAside(letters));
    this.keptDeadLetters(letters, kept, report);
  }

  private async split(
    batch: ClaimedBatch,
    lease: FlushLease,
    report: FlushReport,
    parts: ClaimedBatch[],
    letters: DeadLetter[],
  ): Promise<void> {
    const kept = await this.storage.split(batch, lease, parts, this.setAside(letters));
    this.keptDeadLetters(letters, kept, report);
  }

  private setAside(letters: DeadLetter[]) {
    return letters.length ? { letters, max: this.options.maxDeadLetters } : undefined;
  }

  /** Reports, logs and hands to `onDeadLetter` the letters the storage kept. */
  private keptDeadLetters(letters: DeadLetter[], kept: number, report: FlushReport) {
    if (letters.length === 0) return;
    report.deadLettered += kept;
    const full = kept < letters.length;
    if (full !== this.deadLettersFull) {
      this.deadLettersFull = full;
      if (full) {
        this.logger.error(
          `The dead letters of data source '${this.name}' reached limits.maxDeadLetters (${this.options.maxDeadLetters}): ` +
            `further writes that cannot be applied are dropped and counted (stats().deadLettersDropped). ` +
            `Retry or discard dead letters to make room. The next line will say when there is room again.`,
        );
      } else {
        this.logger.log(`The dead letters of data source '${this.name}' have room again.`);
      }
    }
    // The storage keeps the first `kept` letters it was given.
    for (const letter of letters.slice(0, kept)) {
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

  /** How a counter or update whose row was not there appears in a FlushReport. */
  private missingRow(entry: KeyedEntry): MissingRow {
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

  /**
   * The dead letter of the entry at `position` in batch `batchId`: the same
   * failure found again after a crash gets the same id, and two identical
   * inserts get two letters.
   */
  private deadLetter(
    batchId: string,
    entry: BatchEntry,
    position: number,
    error: string,
  ): DeadLetter {
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
    // An insert has a key when it names its whole primary key.
    const rowKey = entry.key ?? undefined;
    const id = createHash('sha1')
      .update(JSON.stringify([batchId, position, entry.table, entry.kind, rowKey ?? null, payload]))
      .digest('hex')
      .slice(0, 24);
    const key = rowKey && entity ? entity.keyObject(rowKey) : undefined;
    const seq = `${batchId}#${String(position).padStart(6, '0')}`;
    return { id, ...base, seq, kind: entry.kind, payload, ...(rowKey && { rowKey, key }) };
  }

  /**
   * Applies a batch in one transaction, unless the ledger shows it was
   * applied already (then it is `skipped`, with the entries it missed
   * then). Inserts go first, then updates, then counters, so arrival order
   * on one row holds. Commits only while `lease` is held.
   */
  private async apply(
    batch: ClaimedBatch,
    entries: BatchEntry[],
    lease: FlushLease,
    held: { lost: boolean },
  ): Promise<ApplyResult> {
    const runner = this.dataSource.createQueryRunner();
    const result: ApplyResult = {
      skipped: false,
      inserted: 0,
      updated: 0,
      incremented: 0,
      statements: 0,
      unmatched: [],
    };
    await runner.connect();
    try {
      await runner.startTransaction();
      const missedBefore = await this.ledger.record(runner, batch.id);
      if (missedBefore) {
        await runner.rollbackTransaction();
        return skipped(entries, missedBefore);
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
          entries.forEach((entry, position) => {
            if (entry.table === part.table && entry.kind === kind && unmatched.has(entry.key)) {
              result.unmatched.push({ ...entry, position });
            }
          });
        }
      }
      if (result.unmatched.length) {
        await this.ledger.recordMissed(runner, batch.id, result.unmatched.map(entryId));
      }
      // Fencing: a flusher that lost its lease leaves the batch to the new holder.
      if (held.lost || !(await lease.renew())) {
        held.lost = true;
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

  /** The entity of a table of the batch (`settle` set aside the writes of tables that are gone). */
  private entity(batch: ClaimedBatch, table: string): BufferedEntity {
    return this.catalog.table(batch.dataSource, table)!;
  }
}

/** What a batch the ledger shows applied before did: nothing now, and it missed the entries `missed` names. */
function skipped(entries: BatchEntry[], missed: string[]): ApplyResult {
  const names = new Set(missed);
  const unmatched: KeyedEntry[] = [];
  if (names.size) {
    entries.forEach((entry, position) => {
      if (entry.kind !== 'insert' && names.has(entryId(entry))) {
        unmatched.push({ ...entry, position });
      }
    });
  }
  return { skipped: true, inserted: 0, updated: 0, incremented: 0, statements: 0, unmatched };
}

/**
 * The units bisection never splits: each insert alone, and the update and
 * counters of one row together, so a set is never applied apart from the
 * increments that arrived after it (nor set aside without them).
 */
function bisectionUnits(entries: BatchEntry[]): BatchEntry[][] {
  const units: BatchEntry[][] = [];
  const rows = new Map<string, BatchEntry[]>();
  for (const entry of entries) {
    if (entry.kind === 'insert') {
      units.push([entry]);
      continue;
    }
    const row = JSON.stringify([entry.table, entry.key]);
    const unit = rows.get(row);
    if (unit) unit.push(entry);
    else {
      const created = [entry];
      rows.set(row, created);
      units.push(created);
    }
  }
  return units;
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
