import { validateCronExpression } from 'cron';
import { WriteBufferConfigError } from './errors.js';
import type { DeadLetter } from './flush/dead-letter.interface.js';
import type {
  CustomStorageOptions,
  MemoryJournalOptions,
  RedisClientLike,
  WriteBufferModuleOptions,
} from './write-buffer-options.interface.js';

/** Injection token of the {@link ResolvedWriteBufferOptions} of the module. */
export const WRITE_BUFFER_RESOLVED_OPTIONS = Symbol('WRITE_BUFFER_RESOLVED_OPTIONS');

/** Every default of `WriteBufferModuleOptions`, in one place. */
export const WRITE_BUFFER_DEFAULTS = {
  dataSource: 'default',
  flush: {
    cron: '*/5 * * * * *',
    maxPending: 10_000,
    maxBatchRows: 10_000,
    leaseTtl: 30_000,
    onShutdown: true,
    /** Under `docker stop`'s 10 s grace (and Kubernetes' 30 s), with time left to close connections. */
    shutdownTimeout: 8_000,
    retry: { baseDelay: 1_000, maxDelay: 60_000 },
  },
  ledger: { table: 'write_buffer_ledger', retention: 7 * 24 * 60 * 60 * 1000 },
  limits: {
    maxPendingEntries: 1_000_000,
    policy: 'flush',
    waitTimeout: 5_000,
    maxDeadLetters: 10_000,
  },
  onMissingRow: 'dead-letter',
  journal: { durability: 'sync' },
  lmdb: { durability: 'sync' },
  redis: { url: 'redis://127.0.0.1:6379', keyPrefix: 'write-buffer:', timeout: 5_000 },
  metrics: { meterName: 'nestjs-write-buffer' },
  tracing: { tracerName: 'nestjs-write-buffer' },
} as const;

/** Largest delay `setTimeout` honours, in milliseconds. */
const MAX_TIMEOUT_MS = 2_147_483_647;

/** Storage options with every default filled in. */
export type ResolvedStorageOptions =
  | {
      type: 'memory';
      journal?: Required<Omit<MemoryJournalOptions, 'mapSize'>> & MemoryJournalOptions;
    }
  | { type: 'lmdb'; path: string; durability: 'sync' | 'relaxed'; mapSize?: number }
  | {
      type: 'redis';
      url: string;
      client?: RedisClientLike;
      keyPrefix: string;
      timeout: number;
    }
  | CustomStorageOptions;

/** `WriteBufferModuleOptions` validated, with every default filled in. */
export interface ResolvedWriteBufferOptions {
  storage: ResolvedStorageOptions;
  /** Data source names, at least one, without duplicates. */
  dataSources: string[];
  flush: {
    cron: string | false;
    maxPending: number;
    maxBatchRows: number;
    leaseTtl: number;
    onShutdown: boolean;
    shutdownTimeout: number;
    retry: { baseDelay: number; maxDelay: number };
  };
  ledger: { table: string; retention: number };
  limits: {
    maxPendingEntries: number;
    policy: 'flush' | 'reject';
    waitTimeout: number;
    maxDeadLetters: number;
  };
  onMissingRow: 'dead-letter' | 'drop';
  onDeadLetter?: (letter: DeadLetter) => void;
  /** OpenTelemetry metrics: the meter's name, or `false` when off. */
  metrics: { meterName: string } | false;
  /** OpenTelemetry spans: the tracer's name, or `false` when off. */
  tracing: { tracerName: string } | false;
}

/**
 * Validates `options` and fills in the defaults. Every value that cannot
 * work is refused here, at start, with a `WriteBufferConfigError` naming
 * the option; nothing is opened or buffered before.
 */
export function resolveWriteBufferOptions(
  options: WriteBufferModuleOptions = {},
): ResolvedWriteBufferOptions {
  const defaults = WRITE_BUFFER_DEFAULTS;
  const flush = options.flush ?? {};
  const limits = options.limits ?? {};
  const ledger = options.ledger ?? {};
  const retry = {
    baseDelay: milliseconds(
      'flush.retry.baseDelay',
      flush.retry?.baseDelay ?? defaults.flush.retry.baseDelay,
    ),
    maxDelay: milliseconds(
      'flush.retry.maxDelay',
      flush.retry?.maxDelay ?? defaults.flush.retry.maxDelay,
    ),
  };
  if (retry.baseDelay > retry.maxDelay) {
    if (flush.retry?.baseDelay !== undefined && flush.retry?.maxDelay !== undefined) {
      throw WriteBufferConfigError.retryDelays(retry.baseDelay, retry.maxDelay);
    }
    // One bound given alone, past the other's default: the backoff never
    // waits longer than maxDelay, so the delays were always maxDelay.
    retry.baseDelay = retry.maxDelay;
  }
  if (options.onDeadLetter !== undefined && typeof options.onDeadLetter !== 'function') {
    throw WriteBufferConfigError.option('onDeadLetter', options.onDeadLetter, 'a function');
  }
  return {
    storage: resolveStorageOptions(options.storage),
    dataSources: dataSources(options.dataSource ?? defaults.dataSource),
    flush: {
      cron: cron(flush.cron ?? defaults.flush.cron),
      maxPending: count('flush.maxPending', flush.maxPending ?? defaults.flush.maxPending, 0),
      maxBatchRows: count(
        'flush.maxBatchRows',
        flush.maxBatchRows ?? defaults.flush.maxBatchRows,
        1,
      ),
      leaseTtl: milliseconds('flush.leaseTtl', flush.leaseTtl ?? defaults.flush.leaseTtl),
      onShutdown: oneOf('flush.onShutdown', flush.onShutdown ?? defaults.flush.onShutdown, [
        true,
        false,
      ]),
      shutdownTimeout: milliseconds(
        'flush.shutdownTimeout',
        flush.shutdownTimeout ?? defaults.flush.shutdownTimeout,
      ),
      retry,
    },
    ledger: {
      table: identifier('ledger.table', ledger.table ?? defaults.ledger.table),
      retention: count(
        'ledger.retention',
        ledger.retention ?? defaults.ledger.retention,
        1,
        'milliseconds',
      ),
    },
    limits: {
      maxPendingEntries: count(
        'limits.maxPendingEntries',
        limits.maxPendingEntries ?? defaults.limits.maxPendingEntries,
        1,
        'entries',
      ),
      policy: oneOf('limits.policy', limits.policy ?? defaults.limits.policy, ['flush', 'reject']),
      waitTimeout: milliseconds(
        'limits.waitTimeout',
        limits.waitTimeout ?? defaults.limits.waitTimeout,
      ),
      maxDeadLetters: count(
        'limits.maxDeadLetters',
        limits.maxDeadLetters ?? defaults.limits.maxDeadLetters,
        0,
        'letters',
      ),
    },
    onMissingRow: oneOf('onMissingRow', options.onMissingRow ?? defaults.onMissingRow, [
      'dead-letter',
      'drop',
    ]),
    onDeadLetter: options.onDeadLetter,
    metrics: telemetry('metrics', 'meterName', options.metrics, defaults.metrics.meterName),
    tracing: telemetry('tracing', 'tracerName', options.tracing, defaults.tracing.tracerName),
  };
}

/** `metrics` / `tracing`: on (with a name), or `false`. */
function telemetry<K extends string>(
  option: string,
  nameKey: K,
  value: boolean | Partial<Record<K, string>> | undefined,
  defaultName: string,
): Record<K, string> | false {
  if (value === false) return false;
  if (value === undefined || value === true) return { [nameKey]: defaultName } as Record<K, string>;
  if (typeof value !== 'object' || value === null) {
    throw WriteBufferConfigError.option(option, value, `true, false or { ${nameKey}?: string }`);
  }
  const name = value[nameKey] ?? defaultName;
  if (typeof name !== 'string' || name.trim() === '') {
    throw WriteBufferConfigError.option(`${option}.${nameKey}`, name, 'a non-empty string');
  }
  return { [nameKey]: name } as Record<K, string>;
}

/** Validates `storage` options and fills in their defaults. */
export function resolveStorageOptions(
  options: WriteBufferModuleOptions['storage'],
): ResolvedStorageOptions {
  if (options === undefined) return { type: 'memory' };
  if (!options || typeof options !== 'object') {
    throw WriteBufferConfigError.option('storage', options, `an object such as { type: 'memory' }`);
  }
  switch (options.type) {
    case 'memory': {
      const journal = options.journal;
      if (journal === undefined) return { type: 'memory' };
      if (!journal || typeof journal.path !== 'string' || journal.path === '') {
        throw WriteBufferConfigError.journalPathRequired();
      }
      if (journal.mapSize !== undefined)
        count('storage.journal.mapSize', journal.mapSize, 1, 'bytes');
      return {
        type: 'memory',
        journal: {
          ...journal,
          durability: oneOf(
            'storage.journal.durability',
            journal.durability ?? WRITE_BUFFER_DEFAULTS.journal.durability,
            ['sync', 'relaxed'],
          ),
        },
      };
    }
    case 'lmdb': {
      if (typeof options.path !== 'string' || options.path === '') {
        throw WriteBufferConfigError.option(
          'storage.path',
          options.path,
          `the file path of the shared LMDB environment, such as '/var/lib/myapp/write-buffer.mdb'`,
        );
      }
      if (options.mapSize !== undefined) count('storage.mapSize', options.mapSize, 1, 'bytes');
      return {
        type: 'lmdb',
        path: options.path,
        mapSize: options.mapSize,
        durability: oneOf(
          'storage.durability',
          options.durability ?? WRITE_BUFFER_DEFAULTS.lmdb.durability,
          ['sync', 'relaxed'],
        ),
      };
    }
    case 'redis': {
      const defaults = WRITE_BUFFER_DEFAULTS.redis;
      const url = options.url ?? defaults.url;
      if (typeof url !== 'string' || url === '') {
        throw WriteBufferConfigError.option(
          'storage.url',
          url,
          `a Redis URL such as '${defaults.url}'`,
        );
      }
      const client = options.client as unknown;
      if (client !== undefined && (typeof client !== 'object' || client === null)) {
        throw WriteBufferConfigError.option(
          'storage.client',
          client,
          'an ioredis Redis or Cluster',
        );
      }
      const keyPrefix = options.keyPrefix ?? defaults.keyPrefix;
      if (typeof keyPrefix !== 'string') {
        throw WriteBufferConfigError.option('storage.keyPrefix', keyPrefix, 'a string');
      }
      return {
        type: 'redis',
        url,
        client: options.client,
        keyPrefix,
        timeout: milliseconds('storage.timeout', options.timeout ?? defaults.timeout),
      };
    }
    case 'custom':
      if (!options.instance || typeof options.instance !== 'object') {
        throw WriteBufferConfigError.option(
          'storage.instance',
          options.instance,
          'an object implementing BufferStorage',
        );
      }
      return options;
    default:
      throw WriteBufferConfigError.unknownStorage((options as { type: unknown }).type);
  }
}

function dataSources(value: unknown): string[] {
  const names = [value].flat();
  if (names.length === 0 || names.some((name) => typeof name !== 'string' || name === '')) {
    throw WriteBufferConfigError.option(
      'dataSource',
      value,
      `a TypeORM data source name or a non-empty array of them (default 'default')`,
    );
  }
  return [...new Set(names as string[])];
}

function cron(value: unknown): string | false {
  if (value === false) return false;
  if (typeof value === 'string' && validateCronExpression(value).valid) return value;
  throw WriteBufferConfigError.option(
    'flush.cron',
    value,
    `a cron expression with seconds (such as '*/5 * * * * *'), or false to flush only when you call flush()`,
  );
}

/** A whole number of `unit` from `min` up. */
export function count(option: string, value: unknown, min: number, unit?: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= min) return value;
  throw WriteBufferConfigError.option(
    option,
    value,
    `a whole number${unit ? ` of ${unit}` : ''} (${min} or more)`,
  );
}

function milliseconds(option: string, value: unknown): number {
  if (
    typeof value === 'number' &&
    Number.isInteger(value) &&
    value >= 1 &&
    value <= MAX_TIMEOUT_MS
  ) {
    return value;
  }
  throw WriteBufferConfigError.milliseconds(option, value, MAX_TIMEOUT_MS);
}

export function oneOf<T>(option: string, value: unknown, allowed: readonly T[]): T {
  if (allowed.includes(value as T)) return value as T;
  throw WriteBufferConfigError.option(
    option,
    value,
    `one of ${allowed.map((v) => (typeof v === 'string' ? `'${v}'` : String(v))).join(', ')}`,
  );
}

/**
 * A table name the dialects can quote (they write it between double
 * quotes, as is): any non-empty name without a double quote or a NUL.
 */
function identifier(option: string, value: unknown): string {
  if (typeof value === 'string' && value !== '' && !/["\0]/.test(value)) return value;
  throw WriteBufferConfigError.option(
    option,
    value,
    'a table name without double quotes (it is quoted as is in every statement)',
  );
}
