import { randomUUID } from 'node:crypto';
import { Redis, type Cluster } from 'ioredis';
import { byArrival, type DeadLetter } from '../flush/dead-letter.interface.js';
import { LeaseLostError, RedisUnavailableError, WriteBufferConfigError } from '../errors.js';
import type {
  BufferStorage,
  ClaimOptions,
  DiscardResult,
  PendingTableEntries,
  SetAside,
} from './buffer-storage.interface.js';
import type {
  BufferTarget,
  CellLayer,
  CellSnapshot,
  CellsSnapshot,
  ClaimedBatch,
  ColumnMerges,
  FlushLease,
  RowKey,
  StorageStats,
  StoredRow,
  StoredValue,
} from './buffer-batch.interface.js';
import { newBatchId } from './batch-id.js';
import {
  cellField,
  decodeInsertItem,
  decodeParts,
  encodeBatch,
  requeueOps,
} from './redis.entry-codec.js';
import {
  REDIS_FORMAT,
  RedisKeyLayout,
  tableName,
  tablePath,
  type TableKeys,
} from './redis.key-layout.js';
import { withScripts, type RedisScripts, type Reply } from './redis.scripts.js';
import { RedisWriteGroup } from './redis.write-group.js';
import { decodeJson, encodeJson } from './stored-value.codec.js';
import { insertLayer } from './cell-layers.js';

/**
 * How a {@link RedisStorage} talks to Redis; the same shape for the
 * constructor (with `client`) and for {@link RedisStorage.connect} (with
 * `url`).
 */
export interface RedisStorageConfig {
  /** Client to use (constructor); the storage closes it only if `owned`. */
  client?: Redis | Cluster;
  /** Whether `close()` closes `client`. Default: false. */
  owned?: boolean;
  /** URL of the Redis server `connect` creates a client for. */
  url?: string;
  /** Prefix of every key, before the data source's hash tag. */
  keyPrefix: string;
  /** Most milliseconds a Redis call may take before it rejects. */
  timeout: number;
  /** Most coalesced cells plus rows one write call carries. Default: 5000. */
  maxGroupSize?: number;
}

/**
 * Buffers in Redis, shared by every app instance. Concurrent writes from
 * this process to one table within an event-loop turn are coalesced and
 * sent as one script call (a {@link RedisWriteGroup}); each write's
 * promise resolves once Redis has replied for it. Keys follow
 * redis.key-layout.ts; the scripts are in redis.scripts.ts.
 */
export class RedisStorage implements BufferStorage {
  private readonly client: Redis | Cluster;
  private readonly redis: (Redis | Cluster) & RedisScripts;
  private readonly owned: boolean;
  private readonly timeout: number;
  private readonly maxGroupSize: number;
  private readonly layout: RedisKeyLayout;
  /** This turn's write group of each table. */
  private readonly groups = new Map<TableKeys, RedisWriteGroup>();
  private readonly dataSources = new Set<string>();

  constructor(config: RedisStorageConfig & { client: Redis | Cluster }) {
    this.client = config.client;
    this.redis = withScripts(config.client);
    this.owned = config.owned ?? false;
    this.timeout = config.timeout;
    this.maxGroupSize = config.maxGroupSize ?? 5000;
    this.layout = new RedisKeyLayout(config.keyPrefix);
  }

  /**
   * Creates a storage with its own client from a URL (closed by `close()`),
   * once connected. If Redis is unreachable at start-up the app still
   * starts; writes reject with RedisUnavailableError until it is back.
   */
  static async connect(config: RedisStorageConfig & { url: string }): Promise<RedisStorage> {
    const { url, timeout } = config;
    const client = new Redis(url, {
      commandTimeout: timeout,
      connectTimeout: timeout,
      // Fail at once while disconnected instead of queueing writes that
      // could reach Redis after their caller was told they failed.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
    });
    // Connection errors surface on writes; keep them off the process's error path.
    client.on('error', () => undefined);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeout);
      client.once('ready', () => (clearTimeout(timer), resolve()));
    });
    return new RedisStorage({ ...config, client, owned: true });
  }

  /** Refuses a key layout this version does not know (written by another version). */
  async open(dataSources: readonly string[]): Promise<void> {
    for (const dataSource of dataSources) {
      this.dataSources.add(dataSource);
      const k = this.layout.source(dataSource);
      const found = await this.call(() => this.redis.wbFormat(k.format, k.tables, REDIS_FORMAT));
      if (found !== String(REDIS_FORMAT)) {
        throw WriteBufferConfigError.redisLayout(k.p, String(found), REDIS_FORMAT);
      }
    }
  }

  increment(target: BufferTarget, key: RowKey, column: string, delta: number): Promise<void> {
    const group = this.group(target);
    group.increment(key, column, delta);
    return this.joined(group);
  }

  update(
    target: BufferTarget,
    key: RowKey,
    values: StoredRow,
    merges?: ColumnMerges,
  ): Promise<void> {
    const group = this.group(target);
    group.update(key, values, merges);
    return this.joined(group);
  }

  insert(target: BufferTarget, rows: StoredRow[], keys?: Array<RowKey | null>): Promise<void> {
    const group = this.group(target);
    group.insert(rows, keys);
    return this.joined(group);
  }

  async read(target: BufferTarget, key: RowKey, column: string): Promise<CellSnapshot> {
    const { epoch, layers } = await this.readMany(target, [key], [column]);
    return { epoch, layers: layers[0][0] };
  }

  /** One script call, on the slot of the table's data source (a Redis Cluster included). */
  async readMany(target: BufferTarget, keys: RowKey[], columns: string[]): Promise<CellsSnapshot> {
    const k = this.layout.table(target);
    const fields = keys.flatMap((key) => columns.map((column) => cellField(key, column)));
    const reply = await this.call(() =>
      this.redis.wbRead(
        k.source.epoch,
        k.source.inflight,
        k.cnt,
        k.upd,
        k.ink,
        k.source.p,
        k.name,
        fields.length,
        ...fields,
        ...keys,
      ),
    );
    const layers = keys.map(() => columns.map((): CellLayer[] => []));
    const push = (batchId: string | undefined, deltas: Reply, values: Reply, inserts: Reply) => {
      keys.forEach((_, r) => {
        const inserted = (inserts as Array<string | null>)[r];
        const row = inserted === null ? undefined : decodeInsertItem(inserted).row;
        columns.forEach((column, c) => {
          const cell = layers[r][c];
          if (row) cell.push(insertLayer(row, column, batchId));
          const delta = (deltas as Array<string | null>)[r * columns.length + c];
          const value = (values as Array<string | null>)[r * columns.length + c];
          if (delta === null && value === null) return;
          cell.push({
            batchId,
            isSet: value !== null,
            value: value === null ? undefined : decodeJson<StoredValue>(value),
            delta: delta === null ? 0 : Number(delta),
          });
        });
      });
    };
    const batches: string[] = [];
    for (let i = 4; i < reply.length; i += 4) {
      batches.push(reply[i] as string);
      push(reply[i] as string, reply[i + 1], reply[i + 2], reply[i + 3]);
    }
    push(undefined, reply[1], reply[2], reply[3]);
    return { epoch: Number(reply[0]), layers, batches };
  }

  async claim(dataSource: string, options: ClaimOptions): Promise<ClaimedBatch | null> {
    this.dataSources.add(dataSource);
    const k = this.layout.source(dataSource);
    const id = newBatchId();
    const only = options.tables ? JSON.stringify(options.tables.map(tableName)) : '';
    const limits = options.tableMaxRows
      ? JSON.stringify(
          Object.fromEntries(
            Object.entries(options.tableMaxRows).map(([table, max]) => [tableName(table), max]),
          ),
        )
      : '';
    const reply = await this.fenced(dataSource, () =>
      this.redis.wbClaim(
        k.lease,
        k.tables,
        k.inflight,
        k.epoch,
        k.p,
        id,
        options.maxRows,
        options.lease.token,
        only,
        limits,
      ),
    );
    return reply.length ? { id, dataSource, tables: decodeParts(reply) } : null;
  }

  async inFlight(dataSource: string, lease?: FlushLease): Promise<ClaimedBatch[]> {
    this.dataSources.add(dataSource);
    const k = this.layout.source(dataSource);
    const reply = await this.fenced(dataSource, () =>
      this.redis.wbInFlight(k.lease, k.inflight, k.p, lease?.token ?? ''),
    );
    const batches: ClaimedBatch[] = [];
    for (let i = 0; i < reply.length; i += 2) {
      batches.push({
        id: reply[i] as string,
        dataSource,
        tables: decodeParts(reply[i + 1] as Reply[]),
      });
    }
    return batches;
  }

  ack(batch: ClaimedBatch, lease: FlushLease, setAside?: SetAside): Promise<number> {
    return this.settle(batch, lease, '', setAside);
  }

  split(
    batch: ClaimedBatch,
    lease: FlushLease,
    parts: ClaimedBatch[],
    setAside?: SetAside,
  ): Promise<number> {
    return this.settle(batch, lease, JSON.stringify(parts.map(encodeBatch)), setAside);
  }

  /** `ack` and `split`: the batch goes, its parts (if any) and dead letters come in, at once. */
  private settle(
    batch: ClaimedBatch,
    lease: FlushLease,
    parts: string,
    setAside?: SetAside,
  ): Promise<number> {
    const k = this.layout.source(batch.dataSource);
    const letters = (setAside?.letters ?? []).flatMap((letter) => [
      letter.id,
      encodeJson(letter),
      requeueOps(letter),
    ]);
    return this.fenced(batch.dataSource, () =>
      this.redis.wbSettle(
        k.lease,
        k.inflight,
        k.epoch,
        k.dead,
        k.deadOps,
        k.dropped,
        k.p,
        batch.id,
        lease.token,
        setAside?.max ?? 0,
        parts,
        ...letters,
      ),
    );
  }

  async lease(dataSource: string, ttl: number): Promise<FlushLease | null> {
    const key = this.layout.source(dataSource).lease;
    const token = randomUUID();
    const got = await this.call(() => this.redis.set(key, token, 'PX', ttl, 'NX'));
    if (got !== 'OK') return null;
    return {
      token,
      renew: async () => (await this.call(() => this.redis.wbRenew(key, token, ttl))) === 1,
      release: async () => {
        await this.call(() => this.redis.wbRelease(key, token)).catch(() => undefined);
      },
    };
  }

  async deadLetters(dataSource: string): Promise<DeadLetter[]> {
    const all = await this.call(() => this.redis.hvals(this.layout.source(dataSource).dead));
    return all.map((text) => decodeJson<DeadLetter>(text)).sort(byArrival);
  }

  async requeueDeadLetters(dataSource: string, ids?: readonly string[]): Promise<number> {
    // In arrival order; the script moves each letter that is still held, once.
    const wanted = ids && new Set(ids);
    const ordered = (await this.deadLetters(dataSource))
      .filter((letter) => !wanted || wanted.has(letter.id))
      .map((letter) => letter.id);
    if (ordered.length === 0) return 0;
    const k = this.layout.source(dataSource);
    return this.call(() => this.redis.wbRequeue(k.dead, k.deadOps, k.tables, k.p, ...ordered));
  }

  removeDeadLetters(dataSource: string, ids?: readonly string[]): Promise<number> {
    if (ids?.length === 0) return Promise.resolve(0);
    const k = this.layout.source(dataSource);
    return this.call(() => this.redis.wbRemoveDead(k.dead, k.deadOps, ...(ids ?? [])));
  }

  /**
   * One stats script per data source, all sent at once: one round trip
   * (each data source has its own hash tag, so on a cluster their scripts
   * may run on different nodes, in parallel).
   */
  async stats(): Promise<StorageStats> {
    const stats: StorageStats = {
      pending: { counters: 0, updates: 0, inserts: 0 },
      inFlightBatches: 0,
      deadLetters: 0,
      deadLettersDropped: 0,
    };
    const replies = await Promise.all(
      [...this.dataSources].map((dataSource) => {
        const k = this.layout.source(dataSource);
        return this.call(() => this.redis.wbStats(k.tables, k.inflight, k.dead, k.dropped, k.p));
      }),
    );
    for (const [counters, updates, inserts, inFlight, dead, dropped, oldest] of replies) {
      stats.pending.counters += counters;
      stats.pending.updates += updates;
      stats.pending.inserts += inserts;
      stats.inFlightBatches += inFlight;
      stats.deadLetters += dead;
      stats.deadLettersDropped += dropped;
      if (oldest >= 0) stats.oldestPendingAt = Math.min(stats.oldestPendingAt ?? Infinity, oldest);
    }
    return stats;
  }

  async pendingByTable(): Promise<PendingTableEntries[]> {
    const sources = [...this.dataSources];
    const replies = await Promise.all(
      sources.map((dataSource) => {
        const k = this.layout.source(dataSource);
        return this.call(() => this.redis.wbPendingByTable(k.tables, k.p));
      }),
    );
    const result: PendingTableEntries[] = [];
    sources.forEach((dataSource, i) => {
      const reply = replies[i];
      for (let j = 0; j < reply.length; j += 4) {
        const table = tablePath(String(reply[j]));
        result.push(
          { dataSource, table, kind: 'counter', count: Number(reply[j + 1]) },
          { dataSource, table, kind: 'update', count: Number(reply[j + 2]) },
          { dataSource, table, kind: 'insert', count: Number(reply[j + 3]) },
        );
      }
    });
    return result;
  }

  async oldestPending(): Promise<Array<{ dataSource: string; at: number }>> {
    const sources = [...this.dataSources];
    const replies = await Promise.all(
      sources.map((dataSource) => {
        const k = this.layout.source(dataSource);
        return this.call(() => this.redis.wbOldest(k.since, k.inflight, k.p));
      }),
    );
    return sources.flatMap((dataSource, i) =>
      replies[i] === null ? [] : [{ dataSource, at: Number(replies[i]) }],
    );
  }

  async discard(target: BufferTarget, key: RowKey): Promise<DiscardResult> {
    const k = this.layout.table(target);
    // This turn's writes of the table go first, in order on the connection: they are dropped
    // and resolve before the discard does.
    const group = this.groups.get(k);
    if (group) this.send(group);
    // Every cell field of the row starts so: the field of column '' without '"")'.
    const prefix = cellField(key, '').slice(0, -3);
    const [counters, cells, inserts, inFlight] = await this.call(() =>
      this.redis.wbDiscard(
        k.cnt,
        k.upd,
        k.ins,
        k.ink,
        k.source.inflight,
        k.source.tables,
        k.source.since,
        k.source.p,
        k.name,
        prefix,
        key,
      ),
    );
    // An update is one entry however many columns it sets.
    return { discarded: counters + (cells > 0 ? 1 : 0) + inserts, inFlight };
  }

  close(): Promise<void> {
    // Closing twice waits for the first close: a second QUIT on a closing
    // client fails, and the disconnect after it holds the process for 2 s.
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private closing?: Promise<void>;

  private async closeOnce(): Promise<void> {
    // Let writes already handed to the group commit finish first.
    while (this.groups.size) await new Promise((resolve) => setImmediate(resolve));
    if (this.owned) await this.client.quit().catch(() => this.client.disconnect());
  }

  /** The write group of this turn for a table, opened (and scheduled) by its first write. */
  private group(target: BufferTarget): RedisWriteGroup {
    const keys = this.layout.table(target);
    let group = this.groups.get(keys);
    if (!group) {
      const created = new RedisWriteGroup(keys);
      this.groups.set(keys, (group = created));
      setImmediate(() => this.send(created));
    }
    return group;
  }

  /** What a write added to `group` awaits; a full group goes at once. */
  private joined(group: RedisWriteGroup): Promise<void> {
    if (group.size >= this.maxGroupSize) this.send(group);
    return group.done;
  }

  private send(group: RedisWriteGroup) {
    if (this.groups.get(group.keys) !== group) return; // already sent
    this.groups.delete(group.keys);
    group.settleWith(this.call(() => this.redis.wbWrite(...group.scriptArguments())));
  }

  /** Runs a Redis call, turning connection failures and slowness into RedisUnavailableError. */
  private async call<T>(run: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no reply')), this.timeout);
    });
    try {
      return await Promise.race([run(), timeout]);
    } catch (error) {
      // Errors Redis replied with are bugs or fencing, not unavailability.
      if (error instanceof Error && error.name === 'ReplyError') throw error;
      throw RedisUnavailableError.of(error, this.timeout);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs a script call fenced by the lease of `dataSource`: a refusal becomes LeaseLostError. */
  private async fenced<T>(dataSource: string, run: () => Promise<T>): Promise<T> {
    try {
      return await this.call(run);
    } catch (error) {
      if (error instanceof Error && error.message.includes('WBFENCED')) {
        const reason = error.message.replace(/^.*WBFENCED /, '');
        throw LeaseLostError.fenced(dataSource, reason, error);
      }
      throw error;
    }
  }
}
