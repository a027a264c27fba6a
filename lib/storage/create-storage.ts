import { WriteBufferConfigError } from '../errors.js';
import type { WriteBufferStorageOptions } from '../write-buffer-options.interface.js';
import type { BufferStorage } from './buffer-storage.interface.js';
import { MemoryStorage } from './memory.storage.js';

/** The storage `storage` options describe. */
export async function createStorage(
  options: WriteBufferStorageOptions = { type: 'memory' },
): Promise<BufferStorage> {
  switch (options.type) {
    case 'memory': {
      if (!options.journal) return new MemoryStorage();
      if (!options.journal.path) {
        throw new WriteBufferConfigError(
          `storage.journal.path is required: give the file path of the LMDB journal, e.g. { path: '.write-buffer/journal.mdb' }.`,
        );
      }
      // lmdb is an optional dependency: load it only when a journal is asked for.
      const { LmdbJournal } = await import('./lmdb-journal.js').catch((error: unknown) => {
        throw new WriteBufferConfigError(
          `storage.journal needs the 'lmdb' package: npm install lmdb (${(error as Error).message}).`,
        );
      });
      return new MemoryStorage(new LmdbJournal(options.journal));
    }
    case 'redis': {
      const { RedisStorage } = await import('./redis.storage.js').catch((error: unknown) => {
        throw new WriteBufferConfigError(
          `storage { type: 'redis' } needs the 'ioredis' package: npm install ioredis (${(error as Error).message}).`,
        );
      });
      const keyPrefix = options.keyPrefix ?? 'write-buffer:';
      const timeout = options.timeout ?? 5000;
      if (options.client) {
        return new RedisStorage({ client: options.client, owned: false, keyPrefix, timeout });
      }
      return RedisStorage.connect({
        url: options.url ?? 'redis://127.0.0.1:6379',
        keyPrefix,
        timeout,
      });
    }
    case 'custom':
      return options.instance;
    default:
      throw new WriteBufferConfigError(
        `Unknown storage type '${(options as { type: string }).type}'. Use 'memory', 'redis' or 'custom'.`,
      );
  }
}
