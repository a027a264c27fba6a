import { hostname } from 'node:os';

/**
 * Base class of every error the write buffer throws. Catch this to handle
 * them all; each subclass names what was wrong and how to fix it.
 *
 * Errors about a request's input (`InvalidIdError`, `InvalidValueError`,
 * `UnknownColumnError`, `UnsuitableColumnError`) carry `statusCode` 400, and
 * `BufferFullError` and `RedisUnavailableError` 503, following the
 * `http-errors` convention (`statusCode`, `status`, `expose`): Nest's
 * default exception filter answers them with that status (with the message
 * for 4xx; 5xx bodies keep the generic status text). The others are 500s.
 * @publicApi
 */
export class WriteBufferError extends Error {
  /** HTTP status an HTTP client gets for this error; none (500) when it is not about the request. */
  declare readonly statusCode?: number;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }

  /** Same as `statusCode` (`http-errors` convention). */
  get status(): number | undefined {
    return this.statusCode;
  }

  /** Whether the message may be shown to an HTTP client: client errors (4xx) only. */
  get expose(): boolean | undefined {
    return this.statusCode === undefined ? undefined : this.statusCode < 500;
  }
}

/**
 * The entity is not registered with any data source the buffer serves.
 * @publicApi
 */
export class UnknownEntityError extends WriteBufferError {
  static of(entity: unknown, dataSources: string[]): UnknownEntityError {
    return new UnknownEntityError(
      `${describe(entity)} is not an entity of the TypeORM data source(s) ${list(dataSources)}. ` +
        `Add it to the "entities" of TypeOrmModule.forRoot(), or list its data source in WriteBufferModule's "dataSource" option.`,
    );
  }
}

/**
 * The column is not a column of the entity. HTTP status 400.
 * @publicApi
 */
export class UnknownColumnError extends WriteBufferError {
  override readonly statusCode = 400;

  static notAColumn(entity: string, column: string, known: string[]) {
    return new UnknownColumnError(
      `Column '${column}' is not a column of entity ${entity}. Known columns: ${list(known)}.`,
    );
  }
}

/**
 * The column exists but cannot be used the way it was asked to (a counter
 * that is not numeric, a primary column in a patch). HTTP status 400.
 * @publicApi
 */
export class UnsuitableColumnError extends WriteBufferError {
  override readonly statusCode = 400;

  static notNumeric(entity: string, column: string, numeric: string[]) {
    return new UnsuitableColumnError(
      `Column '${column}' of entity ${entity} is not numeric, so it cannot be incremented. ` +
        `Known numeric columns: ${list(numeric)}.`,
    );
  }
  static primary(entity: string, column: string) {
    return new UnsuitableColumnError(
      `Column '${column}' is part of the primary key of entity ${entity} and cannot be updated through the buffer. ` +
        `Pass the key as the "id" argument instead.`,
    );
  }
  static computed(entity: string, column: string) {
    return new UnsuitableColumnError(
      `Column '${column}' of entity ${entity} is computed by the database (asExpression), so it cannot be written, ` +
        `incremented or read through the buffer. Write the columns it is computed from, and read it from the database once flushed.`,
    );
  }
  static merged(entity: string, column: string, rule: string) {
    return new UnsuitableColumnError(
      `Column '${column}' of entity ${entity} merges its updates with '${rule}' (forFeature merge), so it cannot be incremented. ` +
        `Set it with update(), or remove it from the entity's merge option.`,
    );
  }
}

/**
 * The id does not name exactly one row of the entity. HTTP status 400.
 * @publicApi
 */
export class InvalidIdError extends WriteBufferError {
  override readonly statusCode = 400;

  static missing(entity: string, columns: string[]) {
    return new InvalidIdError(
      `An id is required for entity ${entity}: pass ${
        columns.length === 1
          ? `the value of its primary column '${columns[0]}'`
          : `an object naming every primary column (${list(columns)})`
      }.`,
    );
  }
  static composite(entity: string, columns: string[], missing: string[], extra: string[]) {
    return new InvalidIdError(
      `The id of entity ${entity} must be an object naming exactly its primary columns ${list(columns)}` +
        (missing.length ? `; missing: ${list(missing)}` : '') +
        (extra.length ? `; not primary columns: ${list(extra)}` : '') +
        '.',
    );
  }
  static tooLong(entity: string, bytes: number, max: number) {
    return new InvalidIdError(
      `The id of entity ${entity} is ${bytes} bytes long once encoded; ids of at most ${max} bytes can be buffered ` +
        `(the LMDB journal and the lmdb storage index rows by their key). Write to this row directly, or use a shorter key.`,
    );
  }
  static notAList(entity: string, value: unknown) {
    return new InvalidIdError(
      `getMany() for entity ${entity} takes an array of ids, not ${show(value)}.`,
    );
  }
  static rowWithoutKey(entity: string, index: number, columns: string[]) {
    return new InvalidIdError(
      `Row ${index} given to overlay() for entity ${entity} has no value for its primary column(s) ${list(columns)}: ` +
        `load the rows with their primary columns (keep them in find()'s "select").`,
    );
  }
  static type(entity: string, column: string, type: string, value: unknown, expected: string) {
    return new InvalidIdError(
      `Primary column '${column}' of entity ${entity} is ${type}, and ${show(value)} is not a valid ${type.replace(/^an? /, '')} key. ` +
        `Pass ${expected}.`,
    );
  }
}

/**
 * A delta, patch, row or value that could never be written to the database.
 * HTTP status 400.
 * @publicApi
 */
export class InvalidValueError extends WriteBufferError {
  override readonly statusCode = 400;

  static delta(entity: string, column: string, delta: unknown, integer: boolean) {
    return new InvalidValueError(
      `Cannot increment ${entity}.${column} by ${show(delta)}: ` +
        (integer
          ? `the column holds integers, so the delta must be a finite integer (use Math.round() or make the column a float/decimal).`
          : `the delta must be a finite number.`),
    );
  }
  static notAnObject(entity: string, what: 'patch' | 'row', value: unknown) {
    return new InvalidValueError(
      `The ${what} for entity ${entity} must be a plain object mapping column names to values, not ${show(value)}.`,
    );
  }
  static emptyPatch(entity: string) {
    return new InvalidValueError(
      `The patch for entity ${entity} is empty: name at least one column to update.`,
    );
  }
  static column(entity: string, column: string, expected: string, value: unknown) {
    return new InvalidValueError(
      `Column ${entity}.${column} expects ${expected}, not ${show(value)}.`,
    );
  }
  static notRows(entity: string, value: unknown) {
    return new InvalidValueError(
      `overlay() for entity ${entity} takes an array of its rows (as find() loads them), not ${show(value)}.`,
    );
  }
  static otherEntity(entity: string, index: number, other: string) {
    return new InvalidValueError(
      `Row ${index} given to overlay() for entity ${entity} is a ${other}: pass the rows of ${entity} only.`,
    );
  }
  static noColumns(entity: string, numeric: string[]) {
    return new InvalidValueError(
      numeric.length
        ? `The columns to read of entity ${entity} are an empty list: name at least one of ${list(numeric)}, or leave them out to read all of them.`
        : `Entity ${entity} has no numeric columns (other than its key): getMany() and overlay() read counters only.`,
    );
  }
  static notNullable(entity: string, column: string) {
    return new InvalidValueError(
      `Column ${entity}.${column} is not nullable: give it a value, or mark the column { nullable: true }.`,
    );
  }
  static required(entity: string, columns: string[]) {
    return new InvalidValueError(
      `Insert rows for entity ${entity} need a value for ${list(columns)}: these columns are not nullable and have no default.`,
    );
  }
}

/**
 * The module configuration cannot work; the message names the option to fix.
 * @publicApi
 */
export class WriteBufferConfigError extends WriteBufferError {
  /** An option has a value it cannot take; `expected` says what it takes. */
  static option(option: string, value: unknown, expected: string) {
    return new WriteBufferConfigError(`${option} must be ${expected}, not ${show(value)}.`);
  }

  /** `forFeature()` gave an entity an option it does not take. */
  static entityOption(entity: string, option: string, known: string[]) {
    return new WriteBufferConfigError(
      `WriteBufferModule.forFeature() has no option '${option}' (entity ${entity}). Known options: ${list(known)}.`,
    );
  }

  /** `forFeature()`'s `merge` names a column that cannot be merged with max/min. */
  static mergeColumn(entity: string, column: string, reason: string, mergeable: string[]) {
    return new WriteBufferConfigError(
      `forFeature(${entity}).merge.${column}: ${reason}. ` +
        `Columns of ${entity} that can merge with 'max'/'min': ${list(mergeable)}.`,
    );
  }

  /** `forFeature()` was given one entity twice, with different settings. */
  static entitySettingsConflict(entity: string) {
    return new WriteBufferConfigError(
      `WriteBufferModule.forFeature() registers entity ${entity} twice with different settings. ` +
        `Register its settings once.`,
    );
  }

  /** `onMissingRow: 'insert'` for an entity whose rows need values a flush does not have. */
  static notUpsertable(entity: string, columns: string[]) {
    return new WriteBufferConfigError(
      `forFeature(${entity}).onMissingRow 'insert' cannot create rows of entity ${entity}: ` +
        `${list(columns)} ${columns.length === 1 ? 'is' : 'are'} NOT NULL without a default. ` +
        `Give ${columns.length === 1 ? 'it' : 'them'} a default (or make ${columns.length === 1 ? 'it' : 'them'} nullable), or use 'dead-letter' or 'drop'.`,
    );
  }

  /** `onMissingRow: 'insert'` for an entity whose rows an upsert cannot create safely. */
  static upsertRefused(entity: string, reason: string, fix: string) {
    return new WriteBufferConfigError(
      `forFeature(${entity}).onMissingRow 'insert' cannot create rows of entity ${entity}: ${reason}. ` +
        `Give it ${fix}, or use 'dead-letter' or 'drop'.`,
    );
  }

  /** The TypeORM data source named in the `dataSource` option is not in the app. */
  static dataSourceNotFound(name: string, cause: unknown) {
    return new WriteBufferConfigError(
      `WriteBufferModule could not find the TypeORM data source '${name}'. ` +
        `Import TypeOrmModule.forRoot(${name === 'default' ? '' : `{ name: '${name}', ... }`}) in your application, ` +
        `or fix WriteBufferModule's "dataSource" option.`,
      { cause },
    );
  }

  /** An optional peer dependency the configuration needs is not installed. */
  static missingPackage(pkg: string, option: string, cause: unknown) {
    return new WriteBufferConfigError(
      `${option} needs the '${pkg}' package: npm install ${pkg} (${cause instanceof Error ? cause.message : String(cause)}).`,
      { cause },
    );
  }

  /** `storage.type` names no storage. */
  static unknownStorage(type: unknown) {
    return new WriteBufferConfigError(
      `Unknown storage type ${show(type)} (storage.type). Use 'memory', 'lmdb', 'redis' or 'custom'.`,
    );
  }

  /** A journal was asked for without its file path. */
  static journalPathRequired() {
    return new WriteBufferConfigError(
      `storage.journal.path is required: give the file path of the LMDB journal, e.g. { path: '.write-buffer/journal.mdb' }.`,
    );
  }

  /** The data source's driver has no SQL dialect in the write buffer. */
  static unsupportedDriver(dataSource: string, driver: string, supported: string[]) {
    return new WriteBufferConfigError(
      `Data source '${dataSource}' uses the '${driver}' driver, which the write buffer does not support. ` +
        `Supported: ${list(supported)}.`,
    );
  }

  /** A custom storage lacks an optional method that a `BufferService` method needs. */
  static storageLacks(method: string, caller: string) {
    return new WriteBufferConfigError(
      `${caller} needs the storage's optional ${method} method, which the custom storage (storage.instance) does not implement. ` +
        `Implement BufferStorage.${method} on it, or use the 'memory', 'lmdb' or 'redis' storage.`,
    );
  }

  /** `flush.retry.baseDelay` is longer than `flush.retry.maxDelay`. */
  static retryDelays(baseDelay: number, maxDelay: number) {
    return new WriteBufferConfigError(
      `flush.retry.baseDelay (${baseDelay} ms) must not be longer than flush.retry.maxDelay (${maxDelay} ms): ` +
        `raise maxDelay or lower baseDelay.`,
    );
  }

  /** Another process (or another app in this one) has the journal open. */
  static journalInUse(
    path: string,
    ownerFile: string,
    holder?: { pid: number; host: string; startedAt: string },
  ) {
    const who = holder
      ? holder.pid === process.pid && holder.host === hostname()
        ? `this process (pid ${holder.pid}): another application instance in it has not been closed`
        : `process ${holder.pid} on host '${holder.host}' (started ${holder.startedAt})`
      : 'another process';
    return new WriteBufferConfigError(
      `The write-buffer journal '${path}' is in use by ${who}. ` +
        `Only one process may use a journal: two would both rebuild and flush the same pending writes, applying them twice. ` +
        `Give each process its own storage.journal.path (or share one buffer through { type: 'redis' }). ` +
        `If that process is gone, delete '${ownerFile}'.`,
    );
  }

  /** The journal was written in a format this version cannot read. */
  static journalFormat(path: string, found: string, expected: number) {
    return new WriteBufferConfigError(
      `The write-buffer journal '${path}' has format ${found}; this version reads format ${expected}. ` +
        `It was not opened, so nothing in it was misread or lost. ` +
        `Start the version that wrote it once to flush it (with the database reachable), then upgrade; ` +
        `or, if what it holds is not needed, delete the journal.`,
    );
  }

  /** The shared LMDB environment holds another format (another version's, or a memory journal). */
  static lmdbFormat(path: string, found: string, expected: string) {
    return new WriteBufferConfigError(
      `The LMDB environment '${path}' has format ${found}; the lmdb storage of this version reads format '${expected}'. ` +
        `It was not opened, so nothing in it was misread or lost. ` +
        `If it is a memory storage's journal, give the lmdb storage its own path; ` +
        `if another version wrote it, run that version until stats() shows nothing pending or in flight, then delete the environment.`,
    );
  }

  /** The ledger table was written by another version of the write buffer. */
  static ledgerFormat(table: string, dataSource: string, found: string, expected: number) {
    return new WriteBufferConfigError(
      `The ledger table '${table}' of data source '${dataSource}' is in format ${found}, ` +
        `and this version of the write buffer uses format ${expected}. ` +
        `It was written by another version: run that version, or give this one its own table (ledger.table).`,
    );
  }

  /** Redis keys under the prefix were written in a layout this version does not read. */
  static redisLayout(prefix: string, found: string, expected: number) {
    return new WriteBufferConfigError(
      `Redis keys under '${prefix}' are in layout version ${found}, and this version of the write buffer reads layout ${expected}. ` +
        `Let the processes of the version that wrote them flush everything (stats() shows nothing pending or in flight) and stop them, ` +
        `then delete the keys '${prefix}:*'; or use another storage.keyPrefix.`,
    );
  }

  /** An option that must be a number of milliseconds is not one. */
  static milliseconds(option: string, value: unknown, max: number) {
    return new WriteBufferConfigError(
      `${option} must be a whole number of milliseconds from 1 to ${max}, not ${show(value)}.`,
    );
  }
}

/**
 * A flush could not apply a batch; the batch stays buffered and is retried.
 * @publicApi
 */
export class FlushError extends WriteBufferError {
  constructor(
    message: string,
    override readonly cause: unknown,
  ) {
    super(message, { cause });
  }
  /** SQLite's replay after waiting for its write lock read something else than the first attempt. */
  static replayDiverged(cause: unknown) {
    return new FlushError(
      `The database changed while the flush waited for SQLite's write lock (${cause instanceof Error ? cause.message : String(cause)}); ` +
        `the batch stays buffered and the next flush applies it.`,
      cause,
    );
  }
  /** MySQL/MariaDB: a row the flush updates was created or deleted by another transaction meanwhile. */
  static rowsChangedDuringFlush(entity: string) {
    return new RowMatchMismatchError(
      `Rows of ${entity} were created or deleted by another transaction while the flush updated them; ` +
        `the batch stays buffered and the next flush applies it.`,
      undefined,
    );
  }
  static failed(dataSource: string, cause: unknown) {
    return new FlushError(
      `Flushing data source '${dataSource}' failed: ${cause instanceof Error ? cause.message : String(cause)}. ` +
        `Nothing was lost: the batch stays buffered and the next flush applies it.`,
      cause,
    );
  }
}

/**
 * A keyed UPDATE matched fewer rows than its keys less those found
 * missing: another transaction created or deleted one of the rows, or two
 * keys the buffer tells apart name one row under the column's collation.
 * The flush retries the batch once with such keys merged.
 */
export class RowMatchMismatchError extends FlushError {}

/**
 * Redis could not be reached (or did not answer in time); nothing was
 * acknowledged. HTTP status 503.
 * @publicApi
 */
export class RedisUnavailableError extends WriteBufferError {
  override readonly statusCode = 503;

  static of(cause: unknown, timeout: number) {
    return new RedisUnavailableError(
      `Redis is unavailable (${cause instanceof Error ? cause.message : String(cause)}; timeout ${timeout} ms). ` +
        `The write was not acknowledged. Check that Redis is reachable, then retry.`,
      { cause },
    );
  }
}

/**
 * The buffer holds `limits.maxPendingEntries` entries; the write was not
 * buffered. HTTP status 503.
 * @publicApi
 */
export class BufferFullError extends WriteBufferError {
  override readonly statusCode = 503;

  static of(
    pending: number,
    limits: { maxPendingEntries: number; policy: string; waitTimeout: number },
    lastError?: string,
  ) {
    return new BufferFullError(
      `The write buffer is full: ${pending} entries held, limit ${limits.maxPendingEntries} (limits.maxPendingEntries)` +
        (limits.policy === 'flush'
          ? `, and no room was made within ${limits.waitTimeout} ms`
          : '') +
        `. Flushing cannot keep up or the database is unreachable` +
        (lastError ? ` (last flush error: ${lastError})` : '') +
        `. The write was not buffered: retry later, or raise the limit.`,
    );
  }
}

/**
 * A flusher lost its lease; another flusher owns its batch now.
 * @publicApi
 */
export class LeaseLostError extends WriteBufferError {
  /** The storage refused a fenced call: another flusher holds the lease now. */
  static fenced(dataSource: string, reason?: string, cause?: unknown) {
    return new LeaseLostError(
      `The flush lease of data source '${dataSource}' is no longer held by this flusher` +
        (reason ? ` (${reason})` : '') +
        `; it changes nothing.`,
      { cause },
    );
  }
  /** The lease could not be renewed before a batch's commit: the transaction was rolled back. */
  static expired(dataSource: string, batchId: string) {
    return new LeaseLostError(
      `The flush lease of data source '${dataSource}' expired while applying batch ${batchId}; rolled back and left to the next lease holder.`,
    );
  }
}

/**
 * `BufferService.get()` could not read a consistent value: flushes kept
 * claiming the cell's entries between its reads. Retrying usually succeeds.
 * @publicApi
 */
export class InconsistentReadError extends WriteBufferError {
  static of(entity: string, column: string, attempts: number) {
    return new InconsistentReadError(
      `Could not read a consistent value of ${entity}.${column}: flushes kept racing the read (${attempts} attempts). ` +
        `Nothing was changed; retry the read.`,
    );
  }
}

function list(values: string[]): string {
  return values.length ? values.map((v) => `'${v}'`).join(', ') : '(none)';
}

function describe(entity: unknown): string {
  if (typeof entity === 'function') return `Class ${entity.name || '(anonymous)'}`;
  if (typeof entity === 'string') return `'${entity}'`;
  if (entity && typeof entity === 'object' && 'options' in entity) {
    return `EntitySchema '${(entity as { options: { name: string } }).options.name}'`;
  }
  return show(entity);
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Date) return `Date(${value.toString()})`;
  if (Array.isArray(value)) return 'an array';
  if (value && typeof value === 'object') return 'an object';
  return String(value);
}
