import { describe, expect, it, jest } from '@jest/globals';
import { newBatchId } from './batch-id.js';

describe('newBatchId', () => {
  it('gives unique ids', () => {
    const ids = Array.from({ length: 10_000 }, () => newBatchId());
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('sorts in the order ids were made, within one millisecond too', () => {
    const ids = Array.from({ length: 1000 }, () => newBatchId());
    expect([...ids].sort()).toEqual(ids);
  });

  it('sorts by the time it was made first', () => {
    jest.useFakeTimers({ now: new Date('2030-01-01T00:00:00Z') });
    try {
      const later = newBatchId();
      jest.setSystemTime(new Date('2029-12-31T23:59:59Z'));
      const earlier = newBatchId();
      expect(earlier < later).toBe(true);
    } finally {
      jest.useRealTimers();
    }
  });
});
