import { Logger } from '@nestjs/common';
import { FlushError } from '../errors.js';

/** How flushing a data source is going. */
export interface FlusherHealth {
  consecutiveFailures: number;
  /** Delay before the next scheduled attempt, in milliseconds (0 when healthy). */
  backoffMs: number;
  nextAttemptAt: number;
}

/** Delays of the retries after failed flushes, in milliseconds. */
export interface RetryDelays {
  /** Delay after the first failure (doubling with each further one). */
  baseDelay: number;
  /** Longest delay. */
  maxDelay: number;
}

/**
 * When the scheduled flushes of one data source may run again after
 * failures: exponential backoff with jitter, reset by a success. Logs only
 * when the state changes (the first failure, the recovery), so an outage
 * is two log lines however long it lasts.
 */
export class Backoff {
  private readonly logger = new Logger('WriteBuffer');
  readonly health: FlusherHealth = { consecutiveFailures: 0, backoffMs: 0, nextAttemptAt: 0 };

  constructor(
    private readonly dataSource: string,
    private readonly retry: RetryDelays,
    /** Source of the jitter, in [0, 1). */
    private readonly random: () => number = Math.random,
  ) {}

  /** Whether a scheduled flush should run now (not backing off after failures). */
  due(now = Date.now()): boolean {
    return now >= this.health.nextAttemptAt;
  }

  /** A flush succeeded: no more backoff. */
  succeeded(): void {
    if (this.health.consecutiveFailures > 0) {
      this.logger.log(
        `Flushing data source '${this.dataSource}' recovered after ${this.health.consecutiveFailures} failed attempt(s).`,
      );
    }
    Object.assign(this.health, { consecutiveFailures: 0, backoffMs: 0, nextAttemptAt: 0 });
  }

  /**
   * A flush failed with `error`: waits between half and all of
   * `baseDelay × 2^(failures − 1)`, capped at `maxDelay`.
   */
  failed(error: unknown): void {
    const { baseDelay, maxDelay } = this.retry;
    const failures = ++this.health.consecutiveFailures;
    const ceiling = Math.min(maxDelay, baseDelay * 2 ** (failures - 1));
    this.health.backoffMs = Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
    this.health.nextAttemptAt = Date.now() + this.health.backoffMs;
    if (failures === 1) {
      // A FlushError's own message already says "nothing was lost": log what it wraps.
      const reason = error instanceof FlushError ? error.cause : error;
      this.logger.error(
        `Flushing data source '${this.dataSource}' is failing: ${String((reason as Error)?.message ?? reason).replace(/\.$/, '')}. ` +
          `Nothing is lost; retrying with backoff (up to ${maxDelay} ms). The next line will say when it recovers.`,
      );
    }
  }
}
