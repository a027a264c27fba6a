import { describe, expect, it } from '@jest/globals';
import { LeaseLostError } from '../errors.js';
import type { FlushLease } from '../storage/buffer-batch.interface.js';
import { LeaseKeeper } from './lease-keeper.js';

/** A lease whose renewals answer `renewals` (true while held), counting calls. */
function leaseOf(renewals: () => Promise<boolean>) {
  const calls = { renew: 0, release: 0 };
  const lease: FlushLease = {
    token: 't',
    renew: () => (calls.renew++, renewals()),
    release: async () => void calls.release++,
  };
  return { lease, calls };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('LeaseKeeper', () => {
  it('waits while another flusher holds the lease', async () => {
    const { lease } = leaseOf(async () => true);
    let asked = 0;
    const storage = { lease: async () => (++asked < 3 ? null : lease) };
    const keeper = await LeaseKeeper.acquire(storage, 'default', 60_000);
    expect(asked).toBe(3);
    expect(keeper.lease).toBe(lease);
    await keeper.release();
  });

  it('renews every third of the TTL while held, and stops when released', async () => {
    const { lease, calls } = leaseOf(async () => true);
    const keeper = await LeaseKeeper.acquire({ lease: async () => lease }, 'default', 60);
    await sleep(110);
    expect(calls.renew).toBeGreaterThanOrEqual(3);
    await keeper.assertHeld('b1');
    expect(keeper.lost).toBe(false);
    await keeper.release();
    const renewed = calls.renew;
    expect(calls.release).toBe(1);
    await sleep(60);
    expect(calls.renew).toBe(renewed);
  });

  it('notes a renewal that fails, and refuses to commit after it', async () => {
    let held = true;
    const { lease, calls } = leaseOf(async () => held);
    const keeper = await LeaseKeeper.acquire({ lease: async () => lease }, 'default', 30);
    held = false;
    await sleep(40);
    expect(keeper.lost).toBe(true);
    held = true; // Taken over meanwhile: a renewal that succeeds again changes nothing.
    const before = calls.renew;
    await expect(keeper.assertHeld('b1')).rejects.toThrow(LeaseLostError);
    expect(calls.renew).toBe(before);
    await keeper.release();
  });

  it('checks the lease once more before a commit', async () => {
    let held = true;
    const { lease } = leaseOf(async () => held);
    const keeper = await LeaseKeeper.acquire({ lease: async () => lease }, 'default', 60_000);
    held = false;
    await expect(keeper.assertHeld('b7')).rejects.toThrow(
      "The flush lease of data source 'default' expired while applying batch b7",
    );
    expect(keeper.lost).toBe(true);
    await keeper.release();
  });

  it('counts a renewal that rejects as lost', async () => {
    const { lease } = leaseOf(() => Promise.reject(new Error('connection reset')));
    const keeper = await LeaseKeeper.acquire({ lease: async () => lease }, 'default', 30);
    await sleep(40);
    expect(keeper.lost).toBe(true);
    await keeper.release();
  });
});
