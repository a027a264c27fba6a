import { randomUUID } from 'node:crypto';
import { Redis, type Cluster } from 'ioredis';
import type { DeadLetter } from '../flush/dead-letter.interface.js';
import { LeaseLostError, RedisUnavailableError } from '../errors.js';
import type { BufferStorage, ClaimOptions } from './buffer-storage.interface.js';
import type {
  BatchTable,
  BufferTarget,
  CellLayer,
  CellSnapshot,
  ClaimedBatch,
  FlushLease,
  RowKey,
  StorageStats,
  StoredRow,
  StoredValue,
} from './buffer-batch.interface.js';
import {
  ACK_SCRIPT,
  ADOPT_SCRIPT,
  CLAIM_SCRIPT,
  READ_SCRIPT,
  RELEASE_SCRIPT,
  RENEW_SCRIPT,
  WRITE_SCRIPT,
} from './redis.scripts.js';
import { decodeJson, encodeJson } from './stored-value.codec.js';

export interface RedisStorageConfig {
  /** Client to use; the storage closes it only if `owned`. */
  client: Redis | Cluster;
  owned: boolean;
  keyPrefix: string;
  /** Most milliseconds a Redis call may take before it rejects. */
  timeout: number;
  /** Most coalesced cells plus rows one write call carries. */
  maxGroupSize?: number;
}

interface Group {
  tag: string;
  target: BufferTarget;
  cells: Map<string, { set?: string; delta: number }>;
  rows: string[];
  size: number;
  /** What every write of the group awaits. */
  done: Promise<void>;
  settle: { resolve: () => void; reject: (error: unknown) => void };
}

/** Names of one table's keys. */
interface TableKeys {
  tag: string;
  cnt: string;
  upd: string;
  ins: string;
  inflight: string;
  epoch: string;
  /** Prefix of its batches' keys. */
  batch: string;
}

type Scripts = {
  wbWrite(...args: (string | number)[]): Promise<number>;
  wbClaim(...args: (string | number)[]): Promise<number>;
  wbAdopt(...args: (string | number)[]): Promise<string[]>;
  wbAck(...args: (string | number)[]): Promise<number>;
  wbRead(...args: (string | number)[]): Promise<Array<string | null>>;
  wbRenew(...args: (string | number)[]): Promise<number>;
  wbRelease(...args: (string | number)[]): Promise<number>;
};

/**
 * Buffers in Redis, shared by every app instance. Concurrent writes from
 * this process to one table within an event-loop turn are coalesced and
 * sent as one script call (group commit); each write's promise resolves
 * once Redis has replied for it.
 */
export class RedisStorage implements BufferStorage {
  private readonly redis: (Redis | Cluster) & Scripts;
  private readonly groups = new Map<string, Group>();
  private readonly tableKeys = new Map<string, TableKeys>();
  private readonly keysOfTarget = new WeakMap<BufferTarget, TableKeys>();
  private readonly knownTables = new Set<string>();
  private readonly dataSources = new Set<string>();
  private readonly maxGroupSize: number;
  private batchCounter = 0;

  constructor(private readonly config: RedisStorageConfig) {
    this.maxGroupSize = config.maxGroupSize ?? 5000;
    const client = config.client;
    client.defineCommand('wbWrite', { numberOfKeys: 3, lua: WRITE_SCRIPT });
    client.defineCommand('wbClaim', { numberOfKeys: 9, lua: CLAIM_SCRIPT });
    client.defineCommand('wbAdopt', { numberOfKeys: 1, lua: ADOPT_SCRIPT });
    client.defineCommand('wbAck', { numberOfKeys: 5, lua: ACK_SCRIPT });
    client.defineCommand('wbRead', { numberOfKeys: 4, lua: READ_SCRIPT });
    client.defineCommand('wbRenew', { numberOfKeys: 1, lua: RENEW_SCRIPT });
    client.defineCommand('wbRelease', { numberOfKeys: 1, lua: RELEASE_SCRIPT });
    this.redis = client as (Redis | Cluster) & Scripts;
    // A Redis that comes back may have lost the table sets: register again.
    client.on('ready', () => this.knownTables.clear());
  }

  /**
   * Creates a storage with its own client from a URL (closed by `close()`),
   * once connected. If Redis is unreachable at start-up the app still
   * starts; writes reject with RedisUnavailableError until it is back.
   */
  static async connect(url: string, keyPrefix: string, timeout: number): Promise<RedisStorage> {
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
    return new RedisStorage({ client, owned: true, keyPrefix, timeout });
  }

  increment(target: BufferTarget, key: RowKey, column: string, delta: number): Promise<void> {
    const group = this.group(target);
    const field = cellField(key, column);
    const cell = group.cells.get(field);
    if (cell) cell.delta += delta;
    else {
      group.cells.set(field, { delta });
      group.size++;
    }
    return this.joined(group);
  }

  update(target: BufferTarget, key: RowKey, values: StoredRow): Promise<void> {
    const group = this.group(target);
    for (const column of Object.keys(values)) {
      const field = cellField(key, column);
      const cell = group.cells.get(field);
      // The set overrides the deltas counted before it in this group.
      if (cell) Object.assign(cell, { set: encodeJson(values[column]), delta: 0 });
      else {
        group.cells.set(field, { set: encodeJson(values[column]), delta: 0 });
        group.size++;
      }
    }
    return this.joined(group);
  }

  insert(target: BufferTarget, rows: StoredRow[]): Promise<void> {
    const group = this.group(target);
    for (const row of rows) group.rows.push(encodeJson(row));
    group.size += rows.length;
    return this.joined(group);
  }

  async read(target: BufferTarget, key: RowKey, column: string): Promise<CellSnapshot> {
    const k = this.keys(target);
    const reply = await this.call(() =>
      this.redis.wbRead(k.cnt, k.upd, k.inflight, k.epoch, cellField(key, column), k.batch),
    );
    const layers: CellLayer[] = [];
    const push = (batchId: string | undefined, delta: string | null, value: string | null) => {
      if (delta === null && value === null) return;
      layers.push({
        batchId,
        isSet: value !== null,
        value: value === null ? undefined : decodeJson<StoredValue>(value),
        delta: delta === null ? 0 : Number(delta),
      });
    };
    for (let i = 3; i < reply.length; i += 3) push(reply[i]!, reply[i + 1], reply[i + 2]);
    push(undefined, reply[1], reply[2]);
    return { epoch: Number(reply[0]), layers };
  }

  async claim(dataSource: string, options: ClaimOptions): Promise<ClaimedBatch | null> {
    this.dataSources.add(dataSource);
    const id = this.batchId();
    const lease = options.lease.token;
    const tables: BatchTable[] = [];
    for (const table of await this.tables(dataSource)) {
      if (options.tables && !options.tables.includes(table)) continue;
      const k = this.keys({ dataSource, table });
      const b = this.batchKeys(k, id);
      const claimed = await this.call(() =>
        this.redis.wbClaim(
          k.cnt,
          k.upd,
          k.ins,
          k.inflight,
          k.epoch,
          b.cnt,
          b.upd,
          b.ins,
          b.owner,
          id,
          options.maxRows,
          lease,
        ),
      );
      if (claimed) tables.push(await this.part(table, b));
    }
    return tables.length ? { id, dataSource, tables } : null;
  }

  async inFlight(dataSource: string, lease?: FlushLease): Promise<ClaimedBatch[]> {
    this.dataSources.add(dataSource);
    const batches = new Map<string, ClaimedBatch>();
    for (const table of await this.tables(dataSource)) {
      const k = this.keys({ dataSource, table });
      const ids = await this.call(() =>
        lease
          ? this.redis.wbAdopt(k.inflight, k.batch, lease.token)
          : (this.redis.lrange(k.inflight, 0, -1) as Promise<string[]>),
      );
      for (const id of ids) {
        let batch = batches.get(id);
        if (!batch) batches.set(id, (batch = { id, dataSource, tables: [] }));
        batch.tables.push(await this.part(table, this.batchKeys(k, id)));
      }
    }
    // Batch ids start with their claim time: sorting restores claim order.
    return [...batches.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async ack(batch: ClaimedBatch, lease: FlushLease): Promise<void> {
    for (const part of batch.tables) {
      const k = this.keys({ dataSource: batch.dataSource, table: part.table });
      const b = this.batchKeys(k, batch.id);
      try {
        await this.call(() =>
          this.redis.wbAck(k.inflight, b.cnt, b.upd, b.ins, b.owner, batch.id, lease.token),
        );
      } catch (error) {
        if (error instanceof Error && error.message.includes('WBFENCED')) {
          throw new LeaseLostError(
            `The flush lease of data source '${batch.dataSource}' was lost and another flusher owns batch ${batch.id}; not acknowledging it.`,
          );
        }
        throw error;
      }
    }
  }

  async lease(dataSource: string, ttl: number): Promise<FlushLease | null> {
    const key = this.leaseKey(dataSource);
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

  async putDeadLetters(letters: DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    const fields = letters.flatMap((letter) => [letter.id, encodeJson(letter)]);
    await this.call(() => this.redis.hset(this.deadLettersKey(), ...fields));
  }

  async deadLetters(): Promise<DeadLetter[]> {
    const all = await this.call(() => this.redis.hvals(this.deadLettersKey()));
    return all
      .map((text) => decodeJson<DeadLetter>(text))
      .sort((a, b) => a.at.getTime() - b.at.getTime());
  }

  async removeDeadLetters(ids: string[]): Promise<void> {
    if (ids.length) await this.call(() => this.redis.hdel(this.deadLettersKey(), ...ids));
  }

  async stats(): Promise<StorageStats> {
    const stats: StorageStats = {
      pending: { counters: 0, updates: 0, inserts: 0 },
      inFlightBatches: 0,
      deadLetters: await this.call(() => this.redis.hlen(this.deadLettersKey())),
    };
    const batches = new Set<string>();
    for (const dataSource of this.dataSources) {
      for (const table of await this.tables(dataSource)) {
        const k = this.keys({ dataSource, table });
        const [counters, updates, inserts, inflight] = await this.call(() =>
          Promise.all([
            this.redis.hlen(k.cnt),
            this.redis.hkeys(k.upd),
            this.redis.llen(k.ins),
            this.redis.lrange(k.inflight, 0, -1),
          ]),
        );
        stats.pending.counters += counters;
        stats.pending.updates += new Set(
          updates.map((field) => (JSON.parse(field) as [RowKey])[0]),
        ).size;
        stats.pending.inserts += inserts;
        inflight.forEach((id) => batches.add(id));
      }
    }
    stats.inFlightBatches = batches.size;
    return stats;
  }

  async close(): Promise<void> {
    // Let writes already handed to the group commit finish first.
    while (this.groups.size) await new Promise((resolve) => setImmediate(resolve));
    if (this.config.owned)
      await this.config.client.quit().catch(() => this.config.client.disconnect());
  }

  /** Adds a write to this turn's group for its table; the group goes out in one call. */
  /** The write group of this turn for a table, opened (and scheduled) by its first write. */
  private group(target: BufferTarget): Group {
    const tag = this.tag(target);
    let group = this.groups.get(tag);
    if (!group) {
      const created = { tag, target, cells: new Map(), rows: [], size: 0 } as unknown as Group;
      created.done = new Promise<void>((resolve, reject) => (created.settle = { resolve, reject }));
      this.groups.set(tag, (group = created));
      setImmediate(() => this.send(created));
    }
    return group;
  }

  /** What a write added to `group` awaits; a full group goes at once. */
  private joined(group: Group): Promise<void> {
    const done = group.done;
    if (group.size >= this.maxGroupSize) this.send(group);
    return done;
  }

  private send(group: Group) {
    if (this.groups.get(group.tag) !== group) return; // already sent
    this.groups.delete(group.tag);
    const sets: string[] = [];
    const integers: string[] = [];
    const others: string[] = [];
    for (const [field, cell] of group.cells) {
      if (cell.set !== undefined) sets.push(field, cell.set);
      if (cell.delta !== 0) {
        (Number.isInteger(cell.delta) ? integers : others).push(field, String(cell.delta));
      }
    }
    const k = this.keys(group.target);
    const write = async () => {
      await this.registerTable(group.target);
      await this.redis.wbWrite(
        k.cnt,
        k.upd,
        k.ins,
        JSON.stringify(sets),
        JSON.stringify(integers),
        JSON.stringify(others),
        ...group.rows,
      );
    };
    this.call(write).then(group.settle.resolve, group.settle.reject);
  }

  /** Remembers the table in the data source's table set (once per process). */
  private async registerTable(target: BufferTarget) {
    const id = JSON.stringify([target.dataSource, target.table]);
    if (this.knownTables.has(id)) return;
    await this.redis.sadd(this.tablesKey(target.dataSource), target.table);
    this.knownTables.add(id);
    this.dataSources.add(target.dataSource);
  }

  private async tables(dataSource: string): Promise<string[]> {
    return (await this.call(() => this.redis.smembers(this.tablesKey(dataSource)))).sort();
  }

  private async part(table: string, b: ReturnType<RedisStorage['batchKeys']>): Promise<BatchTable> {
    const [cnt, upd, ins] = await this.call(() =>
      Promise.all([
        this.redis.hgetall(b.cnt),
        this.redis.hgetall(b.upd),
        this.redis.lrange(b.ins, 0, -1),
      ]),
    );
    const updates = new Map<RowKey, StoredRow>();
    for (const [field, value] of Object.entries(upd)) {
      const [key, column] = JSON.parse(field) as [RowKey, string];
      let row = updates.get(key);
      if (!row) updates.set(key, (row = {}));
      row[column] = decodeJson<StoredValue>(value);
    }
    const counters = new Map<RowKey, Record<string, number>>();
    for (const [field, value] of Object.entries(cnt)) {
      const [key, column] = JSON.parse(field) as [RowKey, string];
      let deltas = counters.get(key);
      if (!deltas) counters.set(key, (deltas = {}));
      deltas[column] = Number(value);
    }
    return {
      table,
      inserts: ins.map((text) => decodeJson<StoredRow>(text)),
      updates: [...updates],
      counters: [...counters],
    };
  }

  /** Runs a Redis call, turning connection failures and slowness into RedisUnavailableError. */
  private async call<T>(run: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no reply')), this.config.timeout);
    });
    try {
      return await Promise.race([run(), timeout]);
    } catch (error) {
      // Errors Redis replied with are bugs or fencing, not unavailability.
      if (error instanceof Error && error.name === 'ReplyError') throw error;
      throw RedisUnavailableError.of(error, this.config.timeout);
    } finally {
      clearTimeout(timer);
    }
  }

  private batchId(): string {
    // Sortable by claim time, unique across instances.
    const time = Date.now().toString(36).padStart(10, '0');
    const counter = (this.batchCounter++ % 1_000_000).toString(36).padStart(4, '0');
    return `${time}-${counter}-${randomUUID()}`;
  }

  /** The hash tag of a table: all its keys live in one slot. */
  private tag(target: BufferTarget): string {
    return this.keys(target).tag;
  }

  private keys(target: BufferTarget): TableKeys {
    // Writes pass their entity's target object: found without building a string.
    const known = this.keysOfTarget.get(target);
    if (known) return known;
    const id = `${target.dataSource}\u0000${target.table}`;
    let keys = this.tableKeys.get(id);
    if (!keys) {
      const tag = `{${encodeURIComponent(target.dataSource)}/${encodeURIComponent(target.table)}}`;
      const p = `${this.config.keyPrefix}${tag}`;
      keys = {
        tag,
        cnt: `${p}:cnt`,
        upd: `${p}:upd`,
        ins: `${p}:ins`,
        inflight: `${p}:inflight`,
        epoch: `${p}:epoch`,
        batch: `${p}:b:`,
      };
      this.tableKeys.set(id, keys);
    }
    this.keysOfTarget.set(target, keys);
    return keys;
  }

  private batchKeys(k: TableKeys, id: string) {
    return {
      cnt: `${k.batch}${id}:cnt`,
      upd: `${k.batch}${id}:upd`,
      ins: `${k.batch}${id}:ins`,
      owner: `${k.batch}${id}:owner`,
    };
  }

  private leaseKey(dataSource: string): string {
    return `${this.config.keyPrefix}{${encodeURIComponent(dataSource)}}:lease`;
  }

  private deadLettersKey(): string {
    return `${this.config.keyPrefix}dead-letters`;
  }

  private tablesKey(dataSource: string): string {
    return `${this.config.keyPrefix}{${encodeURIComponent(dataSource)}}:tables`;
  }
}

/** The hash field of one cell: the JSON array `[rowKey, column]`. */
function cellField(key: RowKey, column: string): string {
  // A key without quotes or escapes (numbers only) is its own JSON string body.
  if (key.indexOf('"') < 0 && key.indexOf('\\') < 0) return `["${key}",${columnJson(column)}]`;
  return JSON.stringify([key, column]);
}

/** JSON strings of column names (entity columns: a handful), made once. */
const columnJsons = new Map<string, string>();
function columnJson(column: string): string {
  let json = columnJsons.get(column);
  if (json === undefined) columnJsons.set(column, (json = JSON.stringify(column)));
  return json;
}
