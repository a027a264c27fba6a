import { Inject, Injectable } from '@nestjs/common';
import type { EntityTarget, ObjectLiteral } from 'typeorm';
import type { BufferStats } from './buffer-stats.interface.js';
import { BufferReader, type BufferedValue } from './buffer-reader.js';
import { BufferedDataSources } from './buffered-data-sources.js';
import { DeadLetterStore } from './dead-letter-store.js';
import type { DeadLetter } from './flush/dead-letter.interface.js';
import { FlushCoordinator } from './flush/flush-coordinator.js';
import type { FlushReport } from './flush/flush-report.interface.js';
import { BufferStorage } from './storage/buffer-storage.interface.js';
import { WriteAdmission } from './write-admission.js';

/**
 * Buffers counter increments, column updates and inserts, and flushes
 * them to the database in a few batched statements.
 *
 * Every method rejects with a `WriteBufferError` subclass on bad input,
 * and buffers nothing then.
 * @publicApi
 */
@Injectable()
export class BufferService {
  constructor(
    private readonly sources: BufferedDataSources,
    @Inject(BufferStorage) private readonly storage: BufferStorage,
    private readonly admission: WriteAdmission,
    private readonly reader: BufferReader,
    private readonly coordinator: FlushCoordinator,
    private readonly deadLetterStore: DeadLetterStore,
  ) {}

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
    const buffered = this.sources.catalog.get(entity);
    const counter = buffered.counter(column);
    const delta = buffered.delta(counter, by);
    const key = buffered.key(id);
    // A counter already buffered absorbs the delta without a new entry.
    const room = this.admission.admit(1, buffered.target, key, column);
    if (room) await room;
    await this.storage.increment(buffered.target, key, column, delta);
    this.admission.wrote(1);
  }

  /**
   * The column's current value: the database value plus everything
   * buffered and not yet applied. Exact even while a flush commits.
   * Rejects with `InconsistentReadError` in the rare case flushes kept
   * racing the read. For a column the entity merges with max/min
   * (`forFeature`'s `merge`), the greatest (least) of the database's
   * value and the buffered ones: a `Date` for a timestamp column, `null`
   * when none holds a value.
   */
  get<T extends ObjectLiteral, K extends keyof T & string = keyof T & string>(
    entity: EntityTarget<T>,
    id: unknown,
    column: K,
  ): Promise<BufferedValue<T[K]>> {
    return this.reader.get(entity, id, column) as Promise<BufferedValue<T[K]>>;
  }

  /**
   * Sets columns of the row `id`. Patches to one row merge per column,
   * the last write wins; a set drops the column's pending delta. A column
   * the entity's `merge` setting names keeps the greatest (`'max'`) or
   * least (`'min'`) value instead, in the buffer and in the database
   * (`NULL` counts as absent):
   *
   * ```ts
   * // WriteBufferModule.forFeature([{ entity: User, merge: { lastSeenAt: 'max' } }])
   * await buffer.update(User, id, { lastSeenAt: new Date(), name }); // name: last write wins
   * ```
   */
  async update<T extends ObjectLiteral>(
    entity: EntityTarget<T>,
    id: unknown,
    patch: Partial<T>,
  ): Promise<void> {
    const buffered = this.sources.catalog.get(entity);
    const values = buffered.patch(patch);
    const key = buffered.key(id);
    const room = this.admission.admit(1);
    if (room) await room;
    await this.storage.update(buffered.target, key, values, buffered.merges(values));
    this.admission.wrote(1);
  }

  /** Buffers one row or many; they are inserted in order with multi-row INSERTs. */
  async insert<T extends ObjectLiteral>(
    entity: EntityTarget<T>,
    rowOrRows: Partial<T> | Partial<T>[],
  ): Promise<void> {
    const buffered = this.sources.catalog.get(entity);
    const given = Array.isArray(rowOrRows) ? rowOrRows : [rowOrRows];
    const rows = given.map((row) => buffered.row(row));
    if (rows.length === 0) return;
    // Rows naming their whole primary key can be read by get() before the flush.
    const keys = given.map((row) => buffered.insertKey(row));
    const room = this.admission.admit(rows.length);
    if (room) await room;
    await this.storage.insert(
      buffered.target,
      rows,
      keys.some((key) => key !== null) ? keys : undefined,
    );
    this.admission.wrote(rows.length);
  }

  /**
   * Applies everything buffered at call time (for one entity's table, when
   * given). If a flush is running, waits for it and then flushes what is
   * still pending.
   */
  flush<T extends ObjectLiteral>(entity?: EntityTarget<T>): Promise<FlushReport> {
    return this.coordinator.flush(entity);
  }

  /**
   * Scheduled flush: flushes the data sources that are not backing off
   * after transient failures (what the periodic job runs).
   */
  flushDue(): Promise<FlushReport> {
    return this.coordinator.flushDue();
  }

  /** Writes the database refused (data errors) or whose row was missing, oldest first. */
  deadLetters(): Promise<DeadLetter[]> {
    return this.deadLetterStore.list();
  }

  /**
   * Buffers dead letters again (all, or those with `ids`), once you fixed
   * their cause; the next flush applies them. Each letter leaves the
   * dead-letter store in the same atomic step that buffers it, so calls
   * racing on one letter (in one process or several) buffer it once.
   * Resolves how many letters this call buffered.
   */
  retryDeadLetters(ids?: string[]): Promise<number> {
    return this.deadLetterStore.retry(ids);
  }

  /** Deletes dead letters for good (all, or those with `ids`); resolves how many. */
  discardDeadLetters(ids?: string[]): Promise<number> {
    return this.deadLetterStore.discard(ids);
  }

  /** Counts of what is buffered, and how flushing goes. */
  stats(): Promise<BufferStats> {
    return this.coordinator.stats();
  }
}
