import type { EntityTarget, ObjectLiteral } from 'typeorm';
import type { DeadLetter } from './flush/dead-letter.interface.js';
import type { BufferStorage } from './storage/buffer-storage.interface.js';

/**
 * Keep buffered state in this process's memory.
 *
 * Without a journal, whatever is pending is lost if the process crashes
 * (a graceful shutdown still flushes it).
 * @publicApi
 */
export interface MemoryStorageOptions {
  type: 'memory';
  /** Mirror the state in an LMDB environment so a crash loses nothing acknowledged. */
  journal?: MemoryJournalOptions;
}

/** The LMDB journal of the memory storage (needs the `lmdb` package). * @publicApi
 */
export interface MemoryJournalOptions {
  /** File path of the LMDB environment (created if missing, with a `-lock` file beside it). */
  path: string;
  /**
   * When a buffered write's promise resolves:
   * - `'sync'`: after its LMDB commit is flushed to disk. Survives a
   *   process crash and a power loss. Concurrent writes share one commit.
   * - `'relaxed'`: at once, before the commit. A crash within the commit
   *   window (until lmdb-js commits the batch, normally the next event-loop
   *   turn, a few milliseconds) loses those writes.
   * @default 'sync'
   */
  durability?: 'sync' | 'relaxed';
  /**
   * Initial LMDB map size in bytes; lmdb-js grows it when needed.
   * @default lmdb-js's default
   */
  mapSize?: number;
}

/**
 * What the Redis storage needs of a client: an ioredis `Redis` or
 * `Cluster` fits. Declared here so that users without `ioredis` installed
 * compile without its types.
 * @publicApi
 */
export interface RedisClientLike {
  /** ioredis's way to register a Lua script as a command. */
  defineCommand(name: string, definition: { lua: string; numberOfKeys?: number }): void;
}

/**
 * Keep buffered state in Redis, shared by every app instance (needs the
 * `ioredis` package). Give `url` or `client`.
 * @publicApi
 */
export interface RedisStorageOptions {
  type: 'redis';
  /**
   * Redis URL; the storage creates its own client and closes it on shutdown.
   * @default 'redis://127.0.0.1:6379' (when `client` is not given)
   */
  url?: string;
  /**
   * An ioredis `Redis` or `Cluster` of yours; the storage never closes it.
   * Give it `enableOfflineQueue: false` so writes fail fast while Redis is
   * unreachable instead of waiting in ioredis's queue.
   */
  client?: RedisClientLike;
  /**
   * Prefix of every key, so several apps can share one Redis.
   * @default 'write-buffer:'
   */
  keyPrefix?: string;
  /**
   * Most milliseconds a Redis call may take; past it the write rejects
   * with `RedisUnavailableError`.
   * @default 5000 (ms)
   */
  timeout?: number;
}

/**
 * Keep buffered state in one LMDB environment shared by every process of
 * one machine that opens the same path (cluster or PM2 workers, containers
 * on one volume): `get()` is exact across them and one of them flushes at
 * a time. Same machine only: LMDB shares state through memory-mapped files
 * and a lock file, which a network file system does not support; for
 * several machines use `{ type: 'redis' }`. Needs the `lmdb` package.
 * @publicApi
 */
export interface LmdbStorageOptions {
  type: 'lmdb';
  /**
   * File path of the LMDB environment (created if missing, with a `-lock`
   * file beside it). Every process that should share the buffer gives the
   * same path; it must not be a memory storage's journal.
   */
  path: string;
  /**
   * When a buffered write's promise resolves:
   * - `'sync'`: after its LMDB commit is flushed to disk. Survives a
   *   process crash and a power loss. Concurrent writes of a process
   *   share one commit.
   * - `'relaxed'`: after its commit, before the disk sync. Survives a
   *   process crash (the commit is in the operating system's page cache,
   *   which every process shares); a power loss within the sync window
   *   (milliseconds) may lose it.
   * @default 'sync'
   */
  durability?: 'sync' | 'relaxed';
  /**
   * Initial LMDB map size in bytes; lmdb-js grows it when needed.
   * @default lmdb-js's default
   */
  mapSize?: number;
}

/**
 * Use a storage of your own that implements {@link BufferStorage}.
 * @publicApi
 */
export interface CustomStorageOptions {
  type: 'custom';
  /** The storage instance. The module calls its `close()` on shutdown. */
  instance: BufferStorage;
}

/** Where buffered writes are kept until they are flushed. * @publicApi
 */
export type WriteBufferStorageOptions =
  MemoryStorageOptions | LmdbStorageOptions | RedisStorageOptions | CustomStorageOptions;

/**
 * When and how much is flushed.
 * @publicApi
 */
export interface WriteBufferFlushOptions {
  /**
   * `@nestjs/schedule` (cron) expression of the periodic flush, with seconds.
   * `false` disables the periodic flush (call `BufferService.flush()` yourself).
   * @default '*\/5 * * * * *' (every 5 seconds)
   */
  cron?: string | false;
  /**
   * A flush starts early once this many writes were buffered since the
   * last flush started. `0` disables the size trigger.
   * @default 10_000 (writes)
   */
  maxPending?: number;
  /**
   * Most entries (insert rows, updated rows, counted rows) one batch
   * claims; a flush keeps claiming batches until nothing that was pending
   * when it started is left. Each batch is one database transaction.
   * @default 10_000 (entries)
   */
  maxBatchRows?: number;
  /**
   * Lifetime of a flusher's lease, in milliseconds; it is renewed every
   * third of it while a flush runs. A flusher that dies is replaced after
   * at most this long (Redis storage).
   * @default 30_000 (ms)
   */
  leaseTtl?: number;
  /**
   * Flush everything pending when the application shuts down
   * (`beforeApplicationShutdown`).
   * @default true
   */
  onShutdown?: boolean;
  /**
   * Longest wait for the final flush at shutdown, in milliseconds. Past it
   * shutdown goes on: what was not flushed stays in the journal or Redis
   * for the next start (the memory storage without a journal loses it, and
   * logs how much). The default leaves room within `docker stop`'s 10 s and
   * Kubernetes' 30 s grace period for closing connections.
   * @default 8_000 (ms)
   */
  shutdownTimeout?: number;
  /**
   * Backoff of scheduled flushes after transient failures (database
   * unreachable, deadlocks, too many connections): exponential from
   * `baseDelay`, capped at `maxDelay`, with jitter. Explicit `flush()`
   * calls always try at once.
   * @default { baseDelay: 1000, maxDelay: 60_000 } (ms)
   */
  retry?: { baseDelay?: number; maxDelay?: number };
}

/**
 * The table that makes a batch apply at most once.
 * @publicApi
 */
export interface WriteBufferLedgerOptions {
  /**
   * Name of the ledger table, created in each data source if missing.
   * @default 'write_buffer_ledger'
   */
  table?: string;
  /**
   * How long a batch id is remembered after it was applied, in
   * milliseconds. Must be far longer than any batch can stay in flight.
   * @default 604_800_000 (7 days)
   */
  retention?: number;
}

/**
 * Bounds on what the buffer holds while the database is slow or down.
 * @publicApi
 */
export interface WriteBufferLimits {
  /**
   * Most entries held at once: counted (row, column) cells, updated rows
   * and insert rows, pending or in flight. Exact for the memory storage;
   * for Redis it counts this process's writes not yet flushed.
   * @default 1_000_000 (entries)
   */
  maxPendingEntries?: number;
  /**
   * When full: `'flush'` starts a flush and waits for room (up to
   * `waitTimeout`), `'reject'` throws `BufferFullError` at once. Either
   * way nothing is buffered past the limit.
   * @default 'flush'
   */
  policy?: 'flush' | 'reject';
  /**
   * Longest wait for room with policy 'flush', in milliseconds.
   * @default 5_000 (ms)
   */
  waitTimeout?: number;
  /**
   * Most dead letters kept per data source. Past it, further writes that
   * cannot be applied are dropped: counted in `stats().deadLettersDropped`
   * and logged once when the store becomes full (and once when it has
   * room again). Retry or discard dead letters to make room.
   * @default 10_000 (letters)
   */
  maxDeadLetters?: number;
}

/**
 * Settings of one entity, given to `WriteBufferModule.forFeature()`; they
 * override the module's options for that entity's writes.
 *
 * ```ts
 * WriteBufferModule.forFeature([{ entity: Post, onMissingRow: 'drop' }])
 * ```
 * @publicApi
 */
export interface WriteBufferEntityOptions {
  /** The entity (class, `EntitySchema` or target name), as for `BufferService`. */
  entity: EntityTarget<ObjectLiteral>;
  /**
   * What a flush does with a counter or update whose row does not exist:
   * see the module's `onMissingRow`. `'insert'` (per entity only) creates
   * the row: its counters and updates are written as upserts (`INSERT …
   * ON CONFLICT DO UPDATE`, on MySQL/MariaDB `ON DUPLICATE KEY UPDATE`), so a
   * created row gets the column defaults plus the buffered values (a counter:
   * its default plus the deltas) and an existing one adds them, for
   * aggregates such as views per page per day. Every non-key column of such
   * an entity must be nullable or have a default.
   *
   * ```ts
   * WriteBufferModule.forFeature([{ entity: DailyViews, onMissingRow: 'insert' }])
   * ```
   * @default the module's `onMissingRow`
   */
  onMissingRow?: 'dead-letter' | 'drop' | 'insert';
  /**
   * Most entries of this entity's table one batch claims, instead of the
   * module's `flush.maxBatchRows` (lower it for wide or slow rows, raise it
   * for a hot narrow table). A table with a limit other than the module's
   * does not share the module's budget with other tables; a flush keeps
   * claiming until everything is applied.
   * On the Redis storage, as for `flush.maxBatchRows`, it bounds inserts.
   * @default the module's `flush.maxBatchRows` (entries)
   */
  maxBatchRows?: number;
  /**
   * Columns whose updates merge by keeping the greatest (`'max'`) or least
   * (`'min'`) value instead of the last one written, in the buffer and in
   * the database: a `lastSeenAt` that only moves forward, whatever order
   * several instances' writes arrive or flush in. `NULL` counts as absent.
   * Integer (up to 32 bits), floating-point and timestamp/datetime columns.
   * @example { lastSeenAt: 'max', firstSeenAt: 'min' }
   * @default {} (every column: last write wins)
   */
  merge?: Readonly<Record<string, ColumnMergeRule>>;
}

/**
 * How `update()` merges a column of `WriteBufferEntityOptions.merge`:
 * keep the greatest or the least value.
 * @publicApi
 */
export type ColumnMergeRule = 'max' | 'min';

/**
 * Options of `WriteBufferModule.forRoot()` / `forRootAsync()`.
 * @publicApi
 */
export interface WriteBufferModuleOptions {
  /**
   * Where writes are buffered.
   * @default { type: 'memory' }
   */
  storage?: WriteBufferStorageOptions;
  /**
   * Name(s) of the TypeORM data sources (as given to
   * `TypeOrmModule.forRoot({ name })`) whose entities can be buffered. Each
   * entity goes to the data source that registers it; each data source is
   * flushed in its own transactions with its own ledger.
   * @default 'default'
   */
  dataSource?: string | string[];
  /** Flush schedule and batch sizes. */
  flush?: WriteBufferFlushOptions;
  /** The exactly-once ledger. */
  ledger?: WriteBufferLedgerOptions;
  /** Bounded memory. */
  limits?: WriteBufferLimits;
  /**
   * What happens to a counter or update whose row does not exist at flush
   * time: `'dead-letter'` keeps it as a dead letter (see
   * `BufferService.deadLetters()`), `'drop'` only reports and logs it.
   * Neither counts it as applied.
   * @default 'dead-letter'
   */
  onMissingRow?: 'dead-letter' | 'drop';
  /** Called for every new dead letter (after it is stored). */
  onDeadLetter?: (letter: DeadLetter) => void;
  /**
   * OpenTelemetry metrics (see README "Observability"), through
   * `@opentelemetry/api`: a no-op until the app registers an SDK, and
   * nothing at all when the package is not installed. `false` turns them
   * off; `{ meterName }` names the meter.
   * @default true (meter 'nestjs-write-buffer')
   */
  metrics?: boolean | { meterName?: string };
  /**
   * OpenTelemetry spans, one per flush and one per batch, through
   * `@opentelemetry/api` (a no-op without an SDK or the package). `false`
   * turns them off; `{ tracerName }` names the tracer.
   * @default true (tracer 'nestjs-write-buffer')
   */
  tracing?: boolean | { tracerName?: string };
}
