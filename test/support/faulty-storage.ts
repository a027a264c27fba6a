import type { BufferStorage, ClaimedBatch } from '../../lib/index.js';

/** Storage calls a test can make fail, as if the process died just before them. */
export type FaultyCall = 'ack' | 'split' | 'claim';

/**
 * Wraps a storage so that chosen calls fail once, before reaching it: the
 * state a process killed at that point leaves behind (what it committed to
 * the database stays; the storage never hears of it).
 */
export function faultyStorage(inner: BufferStorage) {
  const faults = new Map<FaultyCall, (batch: ClaimedBatch) => boolean>();
  const storage = new Proxy(inner, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const fault = faults.get(name as FaultyCall);
        if (fault?.(args[0] as ClaimedBatch)) {
          faults.delete(name as FaultyCall);
          return Promise.reject(new Error(`simulated crash before ${String(name)}`));
        }
        return (value as (...args: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return {
    storage,
    /** Makes the next `call` whose batch matches `when` (any batch by default) fail once. */
    failNext(call: FaultyCall, when: (batch: ClaimedBatch) => boolean = () => true) {
      faults.set(call, when);
    },
  };
}
