import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import type { WriteBufferStorageOptions } from '../../lib/index.js';
import { databaseKinds, type DatabaseKind } from './databases.js';

export type StorageKind = 'memory' | 'journal' | 'lmdb' | 'redis' | 'redis-cluster';

/** Redis server the tests use (test/servers.sh starts one on this port). */
export const REDIS_URL = process.env.WB_TEST_REDIS_URL ?? 'redis://127.0.0.1:63799';
/** Nodes of the test Redis Cluster (test/servers.sh starts three masters). */
export const REDIS_CLUSTER_NODES = (
  process.env.WB_TEST_REDIS_CLUSTER ?? '127.0.0.1:46381,127.0.0.1:46382,127.0.0.1:46383'
)
  .split(',')
  .map((node) => ({ host: node.split(':')[0], port: Number(node.split(':')[1]) }));

async function reachable(name: string, check: () => Promise<unknown>): Promise<boolean> {
  try {
    await check();
    return true;
  } catch (error) {
    if (process.env.CI)
      throw new Error(`${name} is required in CI but unreachable: ${(error as Error).message}`);
    console.warn(
      `\n*** SKIPPING ${name} tests: unreachable (${(error as Error).message}).\n` +
        `*** Start the test servers with: eval "$(test/servers.sh start)"\n`,
    );
    return false;
  }
}

let redisUp: Promise<boolean> | undefined;
let clusterUp: Promise<boolean> | undefined;

export function redisAvailable(): Promise<boolean> {
  redisUp ??= reachable(`Redis (${REDIS_URL})`, async () => {
    const client = new Redis(REDIS_URL, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      connectTimeout: 2000,
    });
    try {
      await client.connect();
      await client.ping();
    } finally {
      client.disconnect();
    }
  });
  return redisUp;
}

export function redisClusterAvailable(): Promise<boolean> {
  clusterUp ??= reachable('Redis Cluster', async () => {
    const cluster = new Cluster(REDIS_CLUSTER_NODES, {
      lazyConnect: true,
      clusterRetryStrategy: () => null,
    });
    try {
      await cluster.connect();
      const info = await cluster.cluster('INFO');
      if (!String(info).includes('cluster_state:ok')) throw new Error(String(info).split('\n')[0]);
    } finally {
      cluster.disconnect();
    }
  });
  return clusterUp;
}

/** Storages every contract test runs against. */
export async function storageKinds(): Promise<StorageKind[]> {
  const kinds: StorageKind[] = ['memory', 'journal', 'lmdb'];
  if (await redisAvailable()) kinds.push('redis');
  if (await redisClusterAvailable()) kinds.push('redis-cluster');
  return kinds;
}

const clusters: Cluster[] = [];
const journalDirs: string[] = [];

/** Options for a fresh, empty storage of one kind. */
export function storageOptions(kind: StorageKind): WriteBufferStorageOptions {
  const keyPrefix = `wbtest-${randomBytes(5).toString('hex')}:`;
  switch (kind) {
    case 'memory':
      return { type: 'memory' };
    case 'journal':
      return {
        type: 'memory',
        journal: { path: join(newJournalDir(), 'journal.mdb') },
      };
    case 'lmdb':
      return { type: 'lmdb', path: join(newJournalDir(), 'buffer.mdb') };
    case 'redis':
      return { type: 'redis', url: REDIS_URL, keyPrefix };
    case 'redis-cluster': {
      const client = new Cluster(REDIS_CLUSTER_NODES);
      clusters.push(client);
      return { type: 'redis', client, keyPrefix };
    }
  }
}

function newJournalDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'wb-j-'));
  journalDirs.push(dir);
  return dir;
}

/**
 * Closes the cluster clients tests created (the storage never closes a
 * client it was given) and removes the journal and LMDB directories they made.
 */
export async function closeTestClients() {
  while (clusters.length) clusters.pop()!.disconnect();
  while (journalDirs.length) rmSync(journalDirs.pop()!, { recursive: true, force: true });
}

/** Every database × storage pair the contract tests run on (those whose servers answer). */
export async function databaseStorageCombos(): Promise<Array<[DatabaseKind, StorageKind]>> {
  const storages = await storageKinds();
  return (await databaseKinds()).flatMap((db) =>
    storages.map((storage) => [db, storage] as [DatabaseKind, StorageKind]),
  );
}
