import { Inject, Injectable } from '@nestjs/common';
import type { EntityTarget, ObjectLiteral } from 'typeorm';
import type { BufferStats } from './buffer-stats.interface.js';
import { BufferReader, type BufferedValue } from './buffer-reader.js';
import { BufferedDataSources } from './buffered-data-sources.js';
import { DeadLetterStore } from './dead-letter-store.js';
import { RowOverlay } from './row-overlay.js';
import type { DeadLetter } from './flush/dead-letter.interface.js';
import { FlushCoordinator } from './flush/flush-coordinator.js';
import type { FlushReport } from './flush/flush-report.interface.js';
import { RowDiscarder } from './row-discarder.js';
import { BufferStorage, type DiscardResult } from './storage/buffer-storage.interface.js';
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
    private readonly discarder: RowDiscarder,
    private readonly rowOverlay: RowOverlay,
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

  /**
   * Drops every pending write of the row `id` (its counters, its update,
   * and buffered inserts naming its key) in one atomic step, for a row the
   * app is deleting. Writes that arrive afterwards are kept (they start
   * afresh); writes it dropped have resolved before it resolves.
   *
   * Writes a running flush already claimed (in flight) are not dropped:
   * they apply as claimed. `inFlight` counts the batches holding some; when
   * it is not 0, `await buffer.flush()` before deleting the row, or accept
   * that those writes apply to the row, or miss it once it is gone.
   *
   * ```ts
   * const { inFlight } = await buffer.discard(Post, id);
   * if (inFlight > 0) await buffer.flush();
   * await posts.delete({ id });
   * ```
   * @param entity entity class, `EntitySchema` or entity name
   * @param id primary key value, or an object naming every primary column
   * @returns how many pending entries were dropped (`discarded`) and how
   * many in-flight batches still hold writes of the row (`inFlight`)
   * @publicApi
   */
  discard<T extends ObjectLiteral>(entity: EntityTarget<T>, id: unknown): Promise<DiscardResult> {
    return this.discarder.discard(entity, id);
  }

  /**
   * `get()` for many rows at once: the current value of `columns` (default:
   * every numeric column that is not a key) of each row, the database's
   * plus everything buffered and not yet applied, exact even while a flush
   * commits. Costs one storage read of every cell (and, as `get()`, a
   * check of the claim epoch after it) and one SQL statement (per 5,000 to
   * 50,000 ids, by database), whatever the number of rows. The answer is aligned with `ids`
   * (duplicates included); a row that does not exist reads as `get()` reads
   * it: 0 plus what is buffered for it (or its buffered insert).
   *
   * ```ts
   * const counts = await buffer.getMany(Post, [1, 2, 3], ['views', 'likes']);
   * // [{ views: 10, likes: 2 }, { views: 0, likes: 0 }, { views: 7, likes: 1 }]
   * ```
   * Rejects with `InvalidIdError` (an id that is not a valid key, reading
   * nothing), `UnknownColumnError` or `UnsuitableColumnError` (a column
   * that is not a numeric non-key column), `InconsistentReadError` as `get()`.
   * @param entity entity class, `EntitySchema` or entity name
   * @param ids primary key values (objects naming every primary column for composite keys)
   * @param columns numeric columns to read (property names); default: all of them
   */
  getMany<T extends ObjectLiteral, C extends keyof T & string>(
    entity: EntityTarget<T>,
    ids: readonly unknown[],
    columns: readonly C[],
  ): Promise<Array<Record<C, number>>>;
  getMany<T extends ObjectLiteral>(
    entity: EntityTarget<T>,
    ids: readonly unknown[],
  ): Promise<Array<Record<string, number>>>;
  getMany<T extends ObjectLiteral>(
    entity: EntityTarget<T>,
    ids: readonly unknown[],
    columns?: readonly string[],
  ): Promise<Array<Record<string, number>>> {
    return this.reader.getMany(entity, ids, columns);
  }

  /**
   * Puts what is buffered onto rows the app loaded itself (`repo.find…`), so a
   * list shows live counts for the price of its own query: each of `columns`
   * (default: every numeric column that is not a key) the row was loaded
   * with gets the pending writes of its row added (sets, increments). Rows
   * are matched by their primary columns and changed in place; resolves
   * the same array.
   *
   * No SQL at all while no flush has the rows in flight (the common case).
   * A row that an in-flight batch touches is read again exactly (as
   * `getMany()`, one statement for all of them), since the app's query may
   * have run before or after that batch committed.
   *
   * Guarantee: a write is never counted twice, and every write acknowledged
   * before the call is counted, except the writes of a flush that completed
   * (committed and acknowledged) between the app's query and this call:
   * the row's values then lag by that flush, as the app's query alone would.
   *
   * ```ts
   * const posts = await buffer.overlay(Post, await repo.findBy({ id: In(ids) }));
   * ```
   * Rejects with `InvalidValueError` (not an array of rows, or a row of
   * another entity class), `InvalidIdError` (a row without its primary
   * columns), and as `getMany()`; then no row was changed.
   */
  overlay<T extends ObjectLiteral>(
    entity: EntityTarget<T>,
    rows: T[],
    columns?: ReadonlyArray<keyof T & string>,
  ): Promise<T[]> {
    return this.rowOverlay.overlay(entity, rows, columns);
  }
}
