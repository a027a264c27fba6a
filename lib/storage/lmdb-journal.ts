import { open, type RootDatabase } from 'lmdb';
import { WriteBufferConfigError } from '../errors.js';
import type { DeadLetter } from '../flush/dead-letter.interface.js';
import { JournalLock } from './journal-lock.js';
import { decodeJson, encodeJson } from './stored-value.codec.js';
import { decodeInsert, encodeInsert } from './insert-entry.codec.js';
import type { RowState } from './row-state.js';
import type { BufferTarget, ClaimedBatch, RowKey, StoredRow } from './buffer-batch.interface.js';

export type { RowState };

/** How long a journaled write waits before its promise resolves. */
export type JournalDurability = 'sync' | 'relaxed';

export interface LmdbJournalOptions {
  path: string;
  durability?: JournalDurability;
  mapSize?: number;
}

/** What a journal held when it was opened. */
export interface JournalContents {
  rows: Array<{ dataSource: string; table: string; key: RowKey; state: RowState }>;
  inserts: Array<{
    dataSource: string;
    table: string;
    seq: number;
    row: StoredRow;
    key: RowKey | null;
  }>;
  /** In key order: claim order, and the parts of a split batch in their order. */
  batches: Array<{ seq: number; part: string; batch: ClaimedBatch }>;
  deadLetters: DeadLetter[];
}

/**
 * A table's pending inserts from position `from` up to `end` (exclusive),
 * written again as `rows` from `from` on (the rest of the range removed).
 */
export interface InsertRewrite {
  from: number;
  end: number;
  rows: StoredRow[];
  keys: Array<RowKey | null>;
}

/**
 * Format of what the journal holds (key layout and value encoding). A
 * journal of another format is refused at start, never misread. Bump it
 * whenever either changes.
 */
export const JOURNAL_FORMAT = 1;

type Key =
  | [kind: 'v']
  | [kind: 'p', dataSource: string, table: string, key: RowKey]
  | [kind: 'i', dataSource: string, table: string, seq: number]
  | [kind: 'b', dataSource: string, seq: number, part: string]
  | [kind: 'd', id: string];

/**
 * The memory storage's state, mirrored in an LMDB environment: one entry
 * per pending row (its whole current state), per pending insert, and per
 * in-flight batch. Entries are deleted when they are claimed or acked, so
 * the journal's size tracks what is buffered, not how much was written.
 *
 * lmdb-js commits all writes of one event turn in one transaction, so
 * concurrent writers share a commit (and its fsync).
 *
 * One process opens a journal at a time (see {@link JournalLock}), and
 * the key ['v'] holds the {@link JOURNAL_FORMAT} it was written in.
 */
export class LmdbJournal {
  private readonly db: RootDatabase<string, Key>;
  private readonly durability: JournalDurability;
  private readonly lock: JournalLock;

  constructor(options: LmdbJournalOptions) {
    this.durability = options.durability ?? 'sync';
    this.lock = JournalLock.acquire(options.path);
    try {
      this.db = open<string, Key>({
        path: options.path,
        mapSize: options.mapSize,
        compression: false,
        // Values are already text (tagged JSON): stored as UTF-8, no msgpack pass.
        encoding: 'string',
        // A claim (one transaction) must land in order with the row writes before it.
        strictAsyncOrder: true,
      });
    } catch (error) {
      this.lock.release();
      throw error;
    }
    try {
      this.checkFormat(options.path);
    } catch (error) {
      // Nothing was written: the journal is free for the next opener at once.
      this.lock.release();
      this.db.close().catch(() => undefined);
      throw error;
    }
  }

  /** Stamps a new journal with the format; refuses one written in another. */
  private checkFormat(path: string) {
    const found = this.db.get(['v']);
    if (found === String(JOURNAL_FORMAT)) return;
    if (found !== undefined) {
      throw WriteBufferConfigError.journalFormat(
        path,
        JSON.stringify(found.slice(0, 40)),
        JOURNAL_FORMAT,
      );
    }
    if (this.db.getKeysCount({ limit: 1 }) > 0) {
      throw WriteBufferConfigError.journalFormat(
        path,
        'none (it holds entries but no format key: it was written by a build from before format versions)',
        JOURNAL_FORMAT,
      );
    }
    this.db.putSync(['v'], String(JOURNAL_FORMAT));
  }

  /** Everything the journal holds, for rebuilding memory state after a restart. */
  load(): JournalContents {
    const contents: JournalContents = { rows: [], inserts: [], batches: [], deadLetters: [] };
    for (const { key, value: text } of this.db.getRange()) {
      // The format key (['v'] comes back as 'v'), checked at open.
      if (key[0] === 'v') continue;
      if (key[0] === 'i') {
        const { row, key: rowKey } = decodeInsert(text);
        contents.inserts.push({ dataSource: key[1], table: key[2], seq: key[3], row, key: rowKey });
        continue;
      }
      // Values are tagged JSON: Date and Buffer survive whatever realm reads them.
      const value = decodeJson<unknown>(text);
      if (key[0] === 'p') {
        contents.rows.push({
          dataSource: key[1],
          table: key[2],
          key: key[3],
          state: value as RowState,
        });
      } else if (key[0] === 'b') {
        contents.batches.push({ seq: key[2], part: key[3], batch: value as ClaimedBatch });
      } else if (key[0] === 'd') {
        contents.deadLetters.push(value as DeadLetter);
      }
    }
    // Keys sort by kind, data source, table, then sequence: inserts and
    // batches come back in the order they were written.
    return contents;
  }

  /**
   * Writes the current state of rows (issued now, in order); resolves per
   * the durability. With no rows it still resolves only once the writes
   * issued before it (a claim that took the rows) are durable.
   */
  putRows(rows: Array<{ target: BufferTarget; key: RowKey; row: RowState }>): Promise<void> {
    if (rows.length === 0) return this.settle();
    let last!: Promise<boolean>;
    for (const { target, key, row } of rows) {
      last = this.db.put(['p', target.dataSource, target.table, key], encodeJson(row));
    }
    return this.settle(last);
  }

  putInserts(
    target: BufferTarget,
    firstSeq: number,
    rows: StoredRow[],
    keys?: Array<RowKey | null>,
  ): Promise<void> {
    let last!: Promise<boolean>;
    rows.forEach((row, i) => {
      last = this.db.put(
        ['i', target.dataSource, target.table, firstSeq + i],
        encodeInsert(row, keys?.[i]),
      );
    });
    return this.settle(last);
  }

  /**
   * Records a claim in one transaction: the batch goes in, the entries it
   * took go out. Always durable before it resolves: a batch must never be
   * applied while the journal could still bring its entries back as pending.
   */
  async claim(
    seq: number,
    batch: ClaimedBatch,
    rows: Array<[table: string, key: RowKey]>,
    inserts: Array<[table: string, from: number, count: number]>,
  ): Promise<void> {
    await this.db.transaction(() => {
      void this.db.put(['b', batch.dataSource, seq, ''], encodeJson(batch));
      for (const [table, key] of rows) void this.db.remove(['p', batch.dataSource, table, key]);
      for (const [table, from, count] of inserts) {
        for (let i = 0; i < count; i++)
          void this.db.remove(['i', batch.dataSource, table, from + i]);
      }
    });
    await this.db.flushed;
  }

  /**
   * In one transaction: an in-flight batch goes, the parts it was split
   * into (if any) and its dead letters come in. Durable before it resolves
   * when it splits, since a part may be applied next; an ack alone is not
   * waited for (lost, it only means a re-apply that the ledger skips).
   */
  async replace(
    dataSource: string,
    [seq, part]: [number, string],
    parts: Array<{ seq: number; part: string; batch: ClaimedBatch }>,
    letters: DeadLetter[],
  ): Promise<void> {
    await this.db.transaction(() => {
      void this.db.remove(['b', dataSource, seq, part]);
      for (const added of parts) {
        void this.db.put(['b', dataSource, added.seq, added.part], encodeJson(added.batch));
      }
      for (const letter of letters) void this.db.put(['d', letter.id], encodeJson(letter));
    });
    if (parts.length) await this.db.flushed;
  }

  /** In one transaction, durably: dead letters leave and what they held is pending again. */
  async requeue(
    rows: Array<{ target: BufferTarget; key: RowKey; row: RowState }>,
    inserts: Array<{ target: BufferTarget; seq: number; row: StoredRow; key: RowKey | null }>,
    ids: string[],
  ): Promise<void> {
    if (ids.length === 0) return;
    await this.db.transaction(() => {
      for (const { target, key, row } of rows) {
        void this.db.put(['p', target.dataSource, target.table, key], encodeJson(row));
      }
      for (const { target, seq, row, key } of inserts) {
        void this.db.put(['i', target.dataSource, target.table, seq], encodeInsert(row, key));
      }
      for (const id of ids) void this.db.remove(['d', id]);
    });
    await this.db.flushed;
  }

  /**
   * In one transaction, durably: a row's pending state goes, and with
   * `inserts`, the table's pending inserts are written again without its own.
   */
  async discard(target: BufferTarget, key: RowKey, inserts?: InsertRewrite): Promise<void> {
    const { dataSource: ds, table } = target;
    await this.db.transaction(() => {
      void this.db.remove(['p', ds, table, key]);
      if (!inserts) return;
      for (let seq = inserts.from; seq < inserts.end; seq++)
        void this.db.remove(['i', ds, table, seq]);
      inserts.rows.forEach((row, i) => {
        void this.db.put(['i', ds, table, inserts.from + i], encodeInsert(row, inserts.keys[i]));
      });
    });
    await this.db.flushed;
  }

  async removeDeadLetters(ids: string[]): Promise<void> {
    for (const id of ids) void this.db.remove(['d', id]);
    await this.db.flushed;
  }

  /** Entries held (not counting the format key) and bytes of pages in use. */
  size(): { entries: number; bytes: number } {
    const stats = this.db.getStats() as Record<string, number>;
    const pages =
      (stats.treeBranchPageCount ?? 0) +
      (stats.treeLeafPageCount ?? 0) +
      (stats.overflowPages ?? 0);
    return {
      entries: Math.max(0, (stats.entryCount ?? 0) - 1),
      bytes: pages * (stats.pageSize ?? 4096),
    };
  }

  async close(): Promise<void> {
    try {
      await this.db.flushed;
      await this.db.close();
    } finally {
      this.lock.release();
    }
  }

  private async settle(write?: Promise<boolean>): Promise<void> {
    if (this.durability === 'relaxed') {
      // Acknowledged before the commit; a failure can only be logged.
      write?.catch(() => undefined);
      return;
    }
    // `flushed` is taken now, with the writes just issued: taken once they
    // commit, it would also wait for the sync of writes begun since.
    const flushed = new Promise<void>((resolve, reject) =>
      this.db.flushed.then(() => resolve(), reject),
    );
    await Promise.all([write, flushed]);
  }
}
