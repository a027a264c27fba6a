import { describe, expect, it } from '@jest/globals';
import { WriteBufferConfigError } from './errors.js';
import type { WriteBufferModuleOptions } from './write-buffer-options.interface.js';
import {
  resolveWriteBufferOptions,
  WRITE_BUFFER_DEFAULTS,
} from './write-buffer-options.resolver.js';

describe('resolveWriteBufferOptions', () => {
  it('fills in every default', () => {
    expect(resolveWriteBufferOptions({})).toEqual({
      storage: { type: 'memory' },
      dataSources: ['default'],
      flush: {
        cron: '*/5 * * * * *',
        maxPending: 10_000,
        maxBatchRows: 10_000,
        leaseTtl: 30_000,
        onShutdown: true,
        shutdownTimeout: 8_000,
        retry: { baseDelay: 1_000, maxDelay: 60_000 },
      },
      ledger: { table: 'write_buffer_ledger', retention: 604_800_000 },
      limits: {
        maxPendingEntries: 1_000_000,
        policy: 'flush',
        waitTimeout: 5_000,
        maxDeadLetters: 10_000,
      },
      onMissingRow: 'dead-letter',
      metrics: { meterName: 'nestjs-write-buffer' },
      tracing: { tracerName: 'nestjs-write-buffer' },
      onDeadLetter: undefined,
    });
  });

  it('keeps what is given, and fills in the storage defaults', () => {
    const resolved = resolveWriteBufferOptions({
      storage: { type: 'redis', keyPrefix: 'app:' },
      dataSource: ['main', 'analytics', 'main'],
      flush: { cron: false, maxPending: 0, retry: { baseDelay: 5 } },
      limits: { maxDeadLetters: 0, policy: 'reject' },
    });
    expect(resolved.storage).toEqual({
      type: 'redis',
      url: WRITE_BUFFER_DEFAULTS.redis.url,
      client: undefined,
      keyPrefix: 'app:',
      timeout: 5_000,
    });
    expect(resolved.dataSources).toEqual(['main', 'analytics']);
    expect(resolved.flush).toMatchObject({ cron: false, maxPending: 0, retry: { baseDelay: 5 } });
    expect(resolved.limits).toMatchObject({ maxDeadLetters: 0, policy: 'reject' });
    expect(
      resolveWriteBufferOptions({ storage: { type: 'memory', journal: { path: 'j.mdb' } } })
        .storage,
    ).toEqual({ type: 'memory', journal: { path: 'j.mdb', durability: 'sync' } });
    expect(resolveWriteBufferOptions({ storage: { type: 'lmdb', path: 'b.mdb' } }).storage).toEqual(
      { type: 'lmdb', path: 'b.mdb', durability: 'sync' },
    );
  });

  it('takes a retry bound given alone that is below (or above) the other default, as the backoff always did', () => {
    // The backoff never waits longer than maxDelay: a lower maxDelay alone caps it.
    expect(resolveWriteBufferOptions({ flush: { retry: { maxDelay: 500 } } }).flush.retry).toEqual({
      baseDelay: 500,
      maxDelay: 500,
    });
    expect(
      resolveWriteBufferOptions({ flush: { retry: { baseDelay: 120_000 } } }).flush.retry,
    ).toEqual({ baseDelay: 60_000, maxDelay: 60_000 });
  });

  it('takes any ledger table name the database can quote', () => {
    for (const table of ['write-buffer-ledger', 'WriteBufferLedger', 'ledger; DROP TABLE posts']) {
      expect(resolveWriteBufferOptions({ ledger: { table } }).ledger.table).toBe(table);
    }
  });

  const bad: Array<[string, unknown, RegExp]> = [
    [
      'flush.cron',
      { flush: { cron: 'every 5 seconds' } },
      /^flush\.cron must be a cron expression/,
    ],
    ['flush.cron', { flush: { cron: true } }, /^flush\.cron must be .*or false/],
    [
      'flush.maxPending',
      { flush: { maxPending: -1 } },
      /^flush\.maxPending must be a whole number \(0 or more\), not -1\./,
    ],
    ['flush.maxPending', { flush: { maxPending: 1.5 } }, /^flush\.maxPending must be/],
    [
      'flush.maxBatchRows',
      { flush: { maxBatchRows: 0 } },
      /^flush\.maxBatchRows must be a whole number \(1 or more\), not 0\./,
    ],
    [
      'flush.leaseTtl',
      { flush: { leaseTtl: '30s' } },
      /^flush\.leaseTtl must be a whole number of milliseconds from 1 to 2147483647, not "30s"\./,
    ],
    [
      'flush.onShutdown',
      { flush: { onShutdown: 'yes' } },
      /^flush\.onShutdown must be one of true, false/,
    ],
    [
      'flush.shutdownTimeout',
      { flush: { shutdownTimeout: 0 } },
      /^flush\.shutdownTimeout must be a whole number of milliseconds/,
    ],
    [
      'flush.retry.baseDelay',
      { flush: { retry: { baseDelay: -5 } } },
      /^flush\.retry\.baseDelay must be a whole number of milliseconds/,
    ],
    [
      'flush.retry.maxDelay',
      { flush: { retry: { maxDelay: Infinity } } },
      /^flush\.retry\.maxDelay must be/,
    ],
    [
      'flush.retry (base > max)',
      { flush: { retry: { baseDelay: 2000, maxDelay: 1000 } } },
      /^flush\.retry\.baseDelay \(2000 ms\) must not be longer than flush\.retry\.maxDelay \(1000 ms\)/,
    ],
    [
      'ledger.table',
      { ledger: { table: 'ledger"; DROP TABLE posts; --' } },
      /^ledger\.table must be a table name without double quotes/,
    ],
    ['ledger.table', { ledger: { table: '' } }, /^ledger\.table must be/],
    [
      'ledger.retention',
      { ledger: { retention: 0 } },
      /^ledger\.retention must be a whole number of milliseconds \(1 or more\)/,
    ],
    [
      'limits.maxPendingEntries',
      { limits: { maxPendingEntries: 0 } },
      /^limits\.maxPendingEntries must be a whole number of entries \(1 or more\)/,
    ],
    [
      'limits.policy',
      { limits: { policy: 'drop' } },
      /^limits\.policy must be one of 'flush', 'reject', not "drop"\./,
    ],
    [
      'limits.waitTimeout',
      { limits: { waitTimeout: NaN } },
      /^limits\.waitTimeout must be a whole number of milliseconds/,
    ],
    [
      'limits.maxDeadLetters',
      { limits: { maxDeadLetters: -1 } },
      /^limits\.maxDeadLetters must be a whole number of letters \(0 or more\)/,
    ],
    [
      'onMissingRow',
      { onMissingRow: 'ignore' },
      /^onMissingRow must be one of 'dead-letter', 'drop'/,
    ],
    ['onDeadLetter', { onDeadLetter: 'log' }, /^onDeadLetter must be a function/],
    [
      'dataSource',
      { dataSource: [] },
      /^dataSource must be a TypeORM data source name or a non-empty array/,
    ],
    ['dataSource', { dataSource: ['default', 7] }, /^dataSource must be/],
    ['storage', { storage: 'memory' }, /^storage must be an object/],
    [
      'storage.type',
      { storage: { type: 'mongo' } },
      /^Unknown storage type "mongo" \(storage\.type\)\. Use 'memory', 'lmdb', 'redis' or 'custom'\./,
    ],
    [
      'storage.journal.path',
      { storage: { type: 'memory', journal: {} } },
      /^storage\.journal\.path is required/,
    ],
    [
      'storage.journal.durability',
      { storage: { type: 'memory', journal: { path: 'j', durability: 'fsync' } } },
      /^storage\.journal\.durability must be one of 'sync', 'relaxed'/,
    ],
    [
      'storage.journal.mapSize',
      { storage: { type: 'memory', journal: { path: 'j', mapSize: -1 } } },
      /^storage\.journal\.mapSize must be a whole number of bytes/,
    ],
    ['storage.path', { storage: { type: 'lmdb' } }, /^storage\.path must be the file path/],
    [
      'storage.durability',
      { storage: { type: 'lmdb', path: 'b', durability: 'fsync' } },
      /^storage\.durability must be one of 'sync', 'relaxed'/,
    ],
    [
      'storage.mapSize',
      { storage: { type: 'lmdb', path: 'b', mapSize: 0 } },
      /^storage\.mapSize must be a whole number of bytes/,
    ],
    [
      'storage.timeout',
      { storage: { type: 'redis', timeout: 0 } },
      /^storage\.timeout must be a whole number of milliseconds/,
    ],
    ['storage.url', { storage: { type: 'redis', url: '' } }, /^storage\.url must be a Redis URL/],
    [
      'storage.client',
      { storage: { type: 'redis', client: 'redis://x' } },
      /^storage\.client must be an ioredis Redis or Cluster/,
    ],
    [
      'storage.instance',
      { storage: { type: 'custom' } },
      /^storage\.instance must be an object implementing BufferStorage/,
    ],
  ];

  it.each(bad)(
    'refuses a bad %s with a WriteBufferConfigError naming it',
    (_option, options, message) => {
      let error: unknown;
      try {
        resolveWriteBufferOptions(options as WriteBufferModuleOptions);
      } catch (thrown) {
        error = thrown;
      }
      expect(error).toBeInstanceOf(WriteBufferConfigError);
      expect((error as Error).message).toMatch(message);
    },
  );

  it('refuses metrics and tracing options that cannot work, naming them', () => {
    expect(resolveWriteBufferOptions({ metrics: false }).metrics).toBe(false);
    expect(resolveWriteBufferOptions({ tracing: { tracerName: 't' } }).tracing).toEqual({
      tracerName: 't',
    });
    expect(() => resolveWriteBufferOptions({ metrics: 'yes' as never })).toThrow(
      'metrics must be true, false or { meterName?: string }, not "yes".',
    );
    expect(() => resolveWriteBufferOptions({ metrics: { meterName: '' } })).toThrow(
      WriteBufferConfigError,
    );
  });
});
