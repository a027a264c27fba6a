import { LeaseLostError } from '../errors.js';
import type { BufferStorage } from '../storage/buffer-storage.interface.js';
import type { FlushLease } from '../storage/buffer-batch.interface.js';

/**
 * Holds a data source's flush lease for one flush: takes it (waiting for
 * another holder to give it up), renews it every third of its TTL, notes
 * when a renewal fails (`lost`), and gives it up at the end.
 */
export class LeaseKeeper {
  private lostLease = false;
  private readonly renewal: ReturnType<typeof setInterval>;

  private constructor(
    private readonly dataSource: string,
    /** The lease itself, the fencing value storage calls take. */
    readonly lease: FlushLease,
    ttl: number,
  ) {
    this.renewal = setInterval(() => {
      lease.renew().then(
        (ok) => (this.lostLease ||= !ok),
        () => (this.lostLease = true),
      );
    }, ttl / 3);
    this.renewal.unref();
  }

  /** Takes the flush lease of `dataSource` for `ttl` milliseconds, retrying (10 ms, doubling up to 1 s) while another flusher holds it. */
  static async acquire(
    storage: Pick<BufferStorage, 'lease'>,
    dataSource: string,
    ttl: number,
  ): Promise<LeaseKeeper> {
    for (let wait = 10; ; wait = Math.min(wait * 2, 1000)) {
      const lease = await storage.lease(dataSource, ttl);
      if (lease) return new LeaseKeeper(dataSource, lease, ttl);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  /** Whether a renewal found the lease taken over (or failed): nothing may commit under it any more. */
  get lost(): boolean {
    return this.lostLease;
  }

  /**
   * Fencing before a commit: renews the lease, and throws `LeaseLostError`
   * if it is lost, so the caller rolls back and leaves the batch to the
   * new holder.
   */
  async assertHeld(batchId: string): Promise<void> {
    if (this.lostLease || !(await this.lease.renew())) {
      this.lostLease = true;
      throw LeaseLostError.expired(this.dataSource, batchId);
    }
  }

  /** Stops renewing and gives the lease up (the storage releases it only if still ours). */
  async release(): Promise<void> {
    clearInterval(this.renewal);
    await this.lease.release();
  }
}
