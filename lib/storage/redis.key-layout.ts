import type { BufferTarget } from './buffer-batch.interface.js';
import { tableIdOf } from './table-id.js';

/**
 * Version of the key layout below; a process meeting another refuses to
 * start. Bump it whenever a key name or what a key holds changes.
 *
 * Per data source (P = `<keyPrefix>{<data source>}`, the data source
 * URI-encoded; T = a table path, URI-encoded, as the scripts see it):
 * - `P:format`  the layout version
 * - `P:lease`   the flush lease: a random token with an expiry
 * - `P:tables`  set of tables with pending entries (a claim that takes a
 *   table's last pending entry removes it; a write adds it back)
 * - `P:since`   hash  T → when the table's oldest pending write arrived (ms
 *   since the epoch, Redis' clock), for the lag metric only; a claim that
 *   takes the table's last entry deletes it. Written by this version on;
 *   a version that does not write it only leaves the lag unreported.
 * - `P:t:T:cnt` hash  [rowKey, column] → pending delta
 * - `P:t:T:upd` hash  [rowKey, column] → pending value (encoded)
 * - `P:t:T:ins` list  pending insert rows (encoded), in order; a row that
 *   names its whole primary key is prefixed with its row key and a newline
 * - `P:t:T:ink` hash  row key → the first pending insert item of that key
 *   (the one the database keeps; later inserts of the key fail on it)
 * - `P:t:T:inx` set (to 1) when a claim taking part of the pending inserts
 *   unindexed a key a later pending insert may name: the claim that takes
 *   the rest indexes its batch from its rows (and deletes it)
 * - `P:inflight` list of in-flight batch ids, in apply order
 * - `P:epoch`   changes on every claim and split
 * - `P:b:<id>`  hash: owner (lease token), tables (JSON array of T), since
 *   (the oldest arrival time of its writes, for the lag metric)
 * - `P:b:<id>:T:cnt|upd|ins|ink` the batch's part of table T
 * - `P:dead`    hash  letter id → letter (encoded)
 * - `P:dead:ops` hash letter id → what re-buffering it writes (JSON)
 * - `P:dead:dropped` letters dropped because the store was full
 *
 * All keys of one data source share the hash tag `{<data source>}` (one
 * slot on a cluster), so one script can cover all of them. The scripts
 * build the batch and table keys themselves (`batchKey`, `partKey`,
 * `tableKey` in redis.scripts.ts) from P, in this same layout.
 */
export const REDIS_FORMAT = 2;

/** Names of one data source's keys. */
export interface SourceKeys {
  /** `<keyPrefix>{<data source>}`: the prefix of every key, with the hash tag. */
  readonly p: string;
  readonly format: string;
  readonly lease: string;
  readonly tables: string;
  readonly since: string;
  readonly inflight: string;
  readonly epoch: string;
  readonly dead: string;
  readonly deadOps: string;
  readonly dropped: string;
}

/** Names of one table's pending keys. */
export interface TableKeys {
  readonly source: SourceKeys;
  /** The table path as the scripts see it (URI-encoded). */
  readonly name: string;
  readonly cnt: string;
  readonly upd: string;
  readonly ins: string;
  readonly ink: string;
}

/** Builds (once each) the names of every key of the layout under one key prefix. */
export class RedisKeyLayout {
  private readonly sources = new Map<string, SourceKeys>();
  private readonly tables = new Map<string, TableKeys>();
  // Writes pass their entity's target object: found without building a string.
  private readonly byTarget = new WeakMap<BufferTarget, TableKeys>();

  constructor(private readonly keyPrefix: string) {}

  /** The keys of a data source. */
  source(dataSource: string): SourceKeys {
    let keys = this.sources.get(dataSource);
    if (!keys) {
      const p = `${this.keyPrefix}{${encodeURIComponent(dataSource)}}`;
      keys = {
        p,
        format: `${p}:format`,
        lease: `${p}:lease`,
        tables: `${p}:tables`,
        since: `${p}:since`,
        inflight: `${p}:inflight`,
        epoch: `${p}:epoch`,
        dead: `${p}:dead`,
        deadOps: `${p}:dead:ops`,
        dropped: `${p}:dead:dropped`,
      };
      this.sources.set(dataSource, keys);
    }
    return keys;
  }

  /** The pending keys of a table. */
  table(target: BufferTarget): TableKeys {
    const known = this.byTarget.get(target);
    if (known) return known;
    const id = tableIdOf(target);
    let keys = this.tables.get(id);
    if (!keys) {
      const source = this.source(target.dataSource);
      const name = tableName(target.table);
      const t = `${source.p}:t:${name}`;
      keys = { source, name, cnt: `${t}:cnt`, upd: `${t}:upd`, ins: `${t}:ins`, ink: `${t}:ink` };
      this.tables.set(id, keys);
    }
    this.byTarget.set(target, keys);
    return keys;
  }
}

/** A table path as keys and scripts name it (T above). */
export function tableName(table: string): string {
  return encodeURIComponent(table);
}

/** The table path a script names T. */
export function tablePath(name: string): string {
  return decodeURIComponent(name);
}
