import { randomUUID } from 'node:crypto';
import { Redis, type Cluster } from 'ioredis';
import { byArrival, type DeadLetter } from '../flush/dead-letter.interface.js';
import { LeaseLostError, RedisUnavailableError, WriteBufferConfigError } from '../errors.js';
import type { BufferStorage, ClaimOptions, SetAside } from './buffer-storage.interface.js';
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
  CLAIM_SCRIPT,
  FORMAT_SCRIPT,
  IN_FLIGHT_SCRIPT,
  READ_SCRIPT,
  RELEASE_SCRIPT,
  REDIS_FORMAT,
  REMOVE_DEAD_SCRIPT,
  RENEW_SCRIPT,
  REQUEUE_SCRIPT,
  SETTLE_SCRIPT,
  STATS_SCRIPT,
  WRITE_SCRIPT,
} from './redis.scripts.js';
import { newBatchId } from './batch-id.js';
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

/** Names of one data source's keys (see redis.scripts.ts). */
interface SourceKeys {
  /** `<keyPrefix>{<data source>}`: the prefix of every key, with the hash tag. */
  p: string;
  format: string;
  lease: string;
  tables: string;
  inflight: string;
  epoch: string;
  dead: string;
  deadOps: string;
  dropped: string;
}

/** Names of one table's pending keys. */
interface TableKeys {
  source: SourceKeys;
  /** The table path as the scripts see it (URI-encoded). */
  name: string;
  cnt: string;
  upd: string;
  ins: string;
  ink: string;
}

type Reply = string | null | Reply[];
type Scripts = {
  wbFormat(...args: (string | number)[]): Promise<string>;
  wbWrite(...args: (string | number)[]): Promise<number>;
  wbClaim(...args: (string | number)[]): Promise<Reply[]>;
  wbInFlight(...args: (string | number)[]): Promise<Reply[]>;
  wbSettle(...args: (string | number)[]): Promise<number>;
  wbRead(...args: (string | number)[]): Promise<Array<string | null>>;
  wbRequeue(...args: (string | number)[]): Promise<number>;
  wbRemoveDead(...args: (string | number)[]): Promise<number>;
  wbStats(...args: (string | number)[]): Promise<number[]>;
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
  private readonly sourceKeys = new Map<string, SourceKeys>();
  private readonly dataSources = new Set<string>();
  private readonly maxGroupSize: number;

  constructor(private readonly config: RedisStorageConfig) {
    this.maxGroupSize = config.maxGroupSize ?? 5000;
    const client = config.client;
    const scripts: Array<[keyof Scripts, number, string]> = [
      ['wbFormat', 2, FORMAT_SCRIPT],
      ['wbWrite', 5, WRITE_SCRIPT],
      ['wbClaim', 4, CLAIM_SCRIPT],
      ['wbInFlight', 2, IN_FLIGHT_SCRIPT],
      ['wbSettle', 6, SETTLE_SCRIPT],
      ['wbRead', 5, READ_SCRIPT],
      ['wbRequeue', 3, REQUEUE_SCRIPT],
      ['wbRemoveDead', 2, REMOVE_DEAD_SCRIPT],
      ['wbStats', 4, STATS_SCRIPT],
      ['wbRenew', 1, RENEW_SCRIPT],
      ['wbRelease', 1, RELEASE_SCRIPT],
    ];
    for (const [name, numberOfKeys, lua] of scripts) {
      client.defineCommand(name, { numberOfKeys, lua });
    }
    this.redis = client as (Redis | Cluster) & Scripts;
  }

  /** Refuses a key layout this version does not know (written by another version). */
  async open(dataSources: readonly string[]): Promise<void> {
    for (const dataSource of dataSources) {
      this.dataSources.add(dataSource);
      const k = this.source(dataSource);
      const found = await this.call(() => this.redis.wbFormat(k.format, k.tables, REDIS_FORMAT));
      if (found !== String(REDIS_FORMAT)) {
        throw new WriteBufferConfigError(
          `Redis keys under '${k.p}' are in layout version ${found}, and this version of the write buffer reads layout ${REDIS_FORMAT}. ` +
            `Let the processes of the version that wrote them flush everything (stats() shows nothing pending or in flight) and stop them, ` +
            `then delete the keys '${k.p}:*'; or use another storage.keyPrefix.`,
        );
      }
    }
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

  insert(target: BufferTarget, rows: StoredRow[], keys?: Array<RowKey | null>): Promise<void> {
    const group = this.group(target);
    rows.forEach((row, i) => group.rows.push(insertItem(row, keys?.[i])));
    group.size += rows.length;
    return this.joined(group);
  }

  async read(target: BufferTarget, key: RowKey, column: string): Promise<CellSnapshot> {
    const k = this.keys(target);
    const reply = await this.call(() =>
      this.redis.wbRead(
        k.source.epoch,
        k.source.inflight,
        k.cnt,
        k.upd,
        k.ink,
        k.source.p,
        k.name,
        cellField(key, column),
        key,
      ),
    );
    const layers: CellLayer[] = [];
    const push = (
      batchId: string | undefined,
      delta: string | null,
      value: string | null,
      inserted: string | null,
    ) => {
      if (inserted !== null) {
        const { row } = decodeInsertItem(inserted);
        layers.push({ batchId, inserted: true, isSet: true, value: row[column], delta: 0 });
      }
      if (delta === null && value === null) return;
      layers.push({
        batchId,
        isSet: value !== null,
        value: value === null ? undefined : decodeJson<StoredValue>(value),
        delta: delta === null ? 0 : Number(delta),
      });
    };
    for (let i = 4; i < reply.length; i += 4) {
      push(reply[i]!, reply[i + 1], reply[i + 2], reply[i + 3]);
    }
    push(undefined, reply[1], reply[2], reply[3]);
    return { epoch: Number(reply[0]), layers };
  }

  async claim(dataSource: string, options: ClaimOptions): Promise<ClaimedBatch | null> {
    this.dataSources.add(dataSource);
    const k = this.source(dataSource);
    const id = newBatchId();
    const only = options.tables ? JSON.stringify(options.tables.map(encodeURIComponent)) : '';
    const reply = await this.fenced(() =>
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
      ),
    );
    return reply.length ? { id, dataSource, tables: decodeParts(reply) } : null;
  }

  async inFlight(dataSource: string, lease?: FlushLease): Promise<ClaimedBatch[]> {
    this.dataSources.add(dataSource);
    const k = this.source(dataSource);
    const reply = await this.fenced(() =>
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

  private settle(
    batch: ClaimedBatch,
    lease: FlushLease,
    parts: string,
    setAside?: SetAside,
  ): Promise<number> {
    const k = this.source(batch.dataSource);
    const letters = (setAside?.letters ?? []).flatMap((letter) => [
      letter.id,
      encodeJson(letter),
      requeueOps(letter),
    ]);
    return this.fenced(() =>
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
    const key = this.source(dataSource).lease;
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
    const all = await this.call(() => this.redis.hvals(this.source(dataSource).dead));
    return all.map((text) => decodeJson<DeadLetter>(text)).sort(byArrival);
  }

  async requeueDeadLetters(dataSource: string, ids?: readonly string[]): Promise<number> {
    // In arrival order; the script moves each letter that is still held, once.
    const wanted = ids && new Set(ids);
    const ordered = (await this.deadLetters(dataSource))
      .filter((letter) => !wanted || wanted.has(letter.id))
      .map((letter) => letter.id);
    if (ordered.length === 0) return 0;
    const k = this.source(dataSource);
    return this.call(() => this.redis.wbRequeue(k.dead, k.deadOps, k.tables, k.p, ...ordered));
  }

  removeDeadLetters(dataSource: string, ids?: readonly string[]): Promise<number> {
    if (ids?.length === 0) return Promise.resolve(0);
    const k = this.source(dataSource);
    return this.call(() => this.redis.wbRemoveDead(k.dead, k.deadOps, ...(ids ?? [])));
  }

  async stats(): Promise<StorageStats> {
    const stats: StorageStats = {
      pending: { counters: 0, updates: 0, inserts: 0 },
      inFlightBatches: 0,
      deadLetters: 0,
      deadLettersDropped: 0,
    };
    for (const dataSource of this.dataSources) {
      const k = this.source(dataSource);
      const [counters, updates, inserts, inFlight, dead, dropped] = await this.call(() =>
        this.redis.wbStats(k.tables, k.inflight, k.dead, k.dropped, k.p),
      );
      stats.pending.counters += counters;
      stats.pending.updates += updates;
      stats.pending.inserts += inserts;
      stats.inFlightBatches += inFlight;
      stats.deadLetters += dead;
      stats.deadLettersDropped += dropped;
    }
    return stats;
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
    this.call(() =>
      this.redis.wbWrite(
        k.cnt,
        k.upd,
        k.ins,
        k.source.tables,
        k.ink,
        k.name,
        JSON.stringify(sets),
        JSON.stringify(integers),
        JSON.stringify(others),
        ...group.rows,
      ),
    ).then(group.settle.resolve, group.settle.reject);
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

  /** Runs a fenced script call: a refusal becomes LeaseLostError. */
  private async fenced<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await this.call(run);
    } catch (error) {
      if (error instanceof Error && error.message.includes('WBFENCED')) {
        throw new LeaseLostError(
          `The flush lease is no longer held by this flusher (${error.message.replace(/^.*WBFENCED /, '')}); it changed nothing.`,
        );
      }
      throw error;
    }
  }

  /** Names a table's write group: one per table (its counter hash key is unique to it). */
  private tag(target: BufferTarget): string {
    return this.keys(target).cnt;
  }

  private source(dataSource: string): SourceKeys {
    let keys = this.sourceKeys.get(dataSource);
    if (!keys) {
      const p = `${this.config.keyPrefix}{${encodeURIComponent(dataSource)}}`;
      keys = {
        p,
        format: `${p}:format`,
        lease: `${p}:lease`,
        tables: `${p}:tables`,
        inflight: `${p}:inflight`,
        epoch: `${p}:epoch`,
        dead: `${p}:dead`,
        deadOps: `${p}:dead:ops`,
        dropped: `${p}:dead:dropped`,
      };
      this.sourceKeys.set(dataSource, keys);
    }
    return keys;
  }

  private keys(target: BufferTarget): TableKeys {
    // Writes pass their entity's target object: found without building a string.
    const known = this.keysOfTarget.get(target);
    if (known) return known;
    const id = `${target.dataSource}\u0000${target.table}`;
    let keys = this.tableKeys.get(id);
    if (!keys) {
      const source = this.source(target.dataSource);
      const name = encodeURIComponent(target.table);
      const t = `${source.p}:t:${name}`;
      keys = { source, name, cnt: `${t}:cnt`, upd: `${t}:upd`, ins: `${t}:ins`, ink: `${t}:ink` };
      this.tableKeys.set(id, keys);
    }
    this.keysOfTarget.set(target, keys);
    return keys;
  }
}

/** Table parts as the claim and in-flight scripts return them: table, inserts, counters, updates. */
function decodeParts(reply: Reply[]): BatchTable[] {
  const tables: BatchTable[] = [];
  for (let i = 0; i < reply.length; i += 4) {
    const updates = new Map<RowKey, StoredRow>();
    const upd = reply[i + 3] as string[];
    for (let j = 0; j < upd.length; j += 2) {
      const [key, column] = JSON.parse(upd[j]) as [RowKey, string];
      let row = updates.get(key);
      if (!row) updates.set(key, (row = {}));
      row[column] = decodeJson<StoredValue>(upd[j + 1]);
    }
    const counters = new Map<RowKey, Record<string, number>>();
    const cnt = reply[i + 2] as string[];
    for (let j = 0; j < cnt.length; j += 2) {
      const [key, column] = JSON.parse(cnt[j]) as [RowKey, string];
      let deltas = counters.get(key);
      if (!deltas) counters.set(key, (deltas = {}));
      deltas[column] = Number(cnt[j + 1]);
    }
    const items = (reply[i + 1] as string[]).map(decodeInsertItem);
    const keyed = items.some((item) => item.key !== null);
    tables.push({
      table: decodeURIComponent(reply[i] as string),
      inserts: items.map((item) => item.row),
      ...(keyed && { insertKeys: items.map((item) => item.key) }),
      // Hash fields come back in an order Redis may change: sorted, a batch is the same batch every time it is read.
      updates: [...updates].sort(byKey),
      counters: [...counters].sort(byKey),
    });
  }
  return tables;
}

function byKey(a: [RowKey, unknown], b: [RowKey, unknown]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

/** A batch as the settle script stores the parts of a split: fields and encoded values, as claimed. */
function encodeBatch(batch: ClaimedBatch) {
  return {
    id: batch.id,
    tables: batch.tables.map((part) => ({
      table: encodeURIComponent(part.table),
      inserts: part.inserts.map((row, i) => insertItem(row, part.insertKeys?.[i])),
      counters: part.counters.flatMap(([key, deltas]) =>
        Object.entries(deltas).flatMap(([column, delta]) => [
          cellField(key, column),
          String(delta),
        ]),
      ),
      updates: part.updates.flatMap(([key, values]) =>
        Object.entries(values).flatMap(([column, value]) => [
          cellField(key, column),
          encodeJson(value),
        ]),
      ),
    })),
  };
}

/**
 * An insert row as the insert lists hold it: prefixed with its row key and
 * a newline when it names its whole primary key (a row key is JSON: it has
 * no raw newline), so the scripts can index it.
 */
function insertItem(row: StoredRow, key: RowKey | null | undefined): string {
  return key ? `${key}\n${encodeJson(row)}` : encodeJson(row);
}

function decodeInsertItem(item: string): { row: StoredRow; key: RowKey | null } {
  if (item.charCodeAt(0) !== 0x5b) return { row: decodeJson<StoredRow>(item), key: null };
  const newline = item.indexOf('\n');
  return { row: decodeJson<StoredRow>(item.slice(newline + 1)), key: item.slice(0, newline) };
}

/** What re-buffering a dead letter writes, ready for the requeue script. */
function requeueOps(letter: DeadLetter): string {
  const cells = (encode: (value: StoredRow[string]) => string) =>
    Object.entries(letter.payload).flatMap(([column, value]) => [
      cellField(letter.rowKey!, column),
      encode(value),
    ]);
  return JSON.stringify({
    table: encodeURIComponent(letter.table),
    sets: letter.kind === 'update' ? cells(encodeJson) : [],
    deltas: letter.kind === 'counter' ? cells(String) : [],
    inserts: letter.kind === 'insert' ? [insertItem(letter.payload, letter.rowKey)] : [],
  });
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
