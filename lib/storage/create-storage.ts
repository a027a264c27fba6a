import type { WriteBufferStorageOptions } from '../write-buffer-options.interface.js';
import type { BufferStorage } from './buffer-storage.interface.js';
import { MemoryStorage } from './memory.storage.js';
import { WriteBufferConfigError } from '../errors.js';

/** The storage `storage` options describe. */
export function createStorage(
  options: WriteBufferStorageOptions = { type: 'memory' },
): BufferStorage {
  switch (options.type) {
    case 'memory':
      return new MemoryStorage();
    case 'custom':
      return options.instance;
    default:
      throw new WriteBufferConfigError(
        `Unknown storage type '${(options as { type: string }).type}'. Use { type: 'memory' } or { type: 'custom', instance }.`,
      );
  }
}
