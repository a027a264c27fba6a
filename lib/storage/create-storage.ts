import type { Cluster, Redis } from 'ioredis';
import { WriteBufferConfigError } from '../errors.js';
import type { WriteBufferStorageOptions } from '../write-buffer-options.interface.js';
import { resolveStorageOptions } from '../write-buffer-options.resolver.js';
import type { BufferStorage } from './buffer-storage.interface.js';
import { MemoryStorage } from './memory.storage.js';

/**
 * The storage the `storage` options describe (validated and defaulted by
 * `resolveStorageOptions`, a no-op for options resolved already).
 */
export async function createStorage(given?: WriteBufferStorageOptions): Promise<BufferStorage> {
  const options = resolveStorageOptions(given);
  switch (options.type) {
    case 'memory': {
      if (!options.journal) return new MemoryStorage();
      // lmdb is an optional dependency: load it only when a journal is asked for.
      const { LmdbJournal } = await import('./lmdb-journal.js').catch((error: unknown) => {
        throw WriteBufferConfigError.missingPackage('lmdb', 'storage.journal', error);
      });
      return new MemoryStorage(new LmdbJournal(options.journal));
    }
    case 'lmdb': {
      // lmdb is an optional dependency: load it only when this storage is asked for.
      const { LmdbStorage } = await import('./lmdb.storage.js').catch((error: unknown) => {
        throw WriteBufferConfigError.missingPackage('lmdb', `storage { type: 'lmdb' }`, error);
      });
      return new LmdbStorage(options);
    }
    case 'redis': {
      const { RedisStorage } = await import('./redis.storage.js').catch((error: unknown) => {
        throw WriteBufferConfigError.missingPackage('ioredis', `storage { type: 'redis' }`, error);
      });
      const { keyPrefix, timeout } = options;
      if (options.client) {
        // The resolver checked it is an object; the Redis storage works with what ioredis clients have.
        const client = options.client as Redis | Cluster;
        return new RedisStorage({ client, owned: false, keyPrefix, timeout });
      }
      return RedisStorage.connect({ url: options.url, keyPrefix, timeout });
    }
    case 'custom':
      return options.instance;
  }
}
