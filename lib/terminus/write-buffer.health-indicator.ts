import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { BufferService } from '../buffer.service.js';
import type { BufferStats } from '../buffer-stats.interface.js';

/**
 * When the write buffer counts as down. Each threshold is checked on its
 * own; any one passed makes it `down`.
 * @publicApi
 */
export interface WriteBufferHealthThresholds {
  /**
   * Oldest write not yet applied, in milliseconds.
   * @default 300_000 (5 minutes)
   */
  maxLagMs?: number;
  /**
   * Entries held over `limits.maxPendingEntries` (0–1).
   * @default 0.9
   */
  maxFillRatio?: number;
  /**
   * Flushes failed in a row.
   * @default 5
   */
  maxConsecutiveFailures?: number;
  /**
   * Backoff of scheduled flushes after failures, in milliseconds.
   * @default 30_000
   */
  maxBackoffMs?: number;
  /**
   * Dead letters held.
   * @default Infinity (reported, never down)
   */
  maxDeadLetters?: number;
}

/** Defaults of {@link WriteBufferHealthThresholds}. */
export const WRITE_BUFFER_HEALTH_DEFAULTS: Required<WriteBufferHealthThresholds> = {
  maxLagMs: 300_000,
  maxFillRatio: 0.9,
  maxConsecutiveFailures: 5,
  maxBackoffMs: 30_000,
  maxDeadLetters: Infinity,
};

/**
 * A `@nestjs/terminus` health indicator of the write buffer. Provide it
 * next to `TerminusModule` (with `BufferService` in scope) and call
 * `isHealthy('write-buffer')` in a `HealthCheckService.check([...])`.
 * @publicApi
 */
@Injectable()
export class WriteBufferHealthIndicator {
  constructor(
    private readonly health: HealthIndicatorService,
    private readonly buffer: BufferService,
  ) {}

  /**
   * `up` or `down` under `key`, with details: `lagMs`, `fillRatio`,
   * `pendingEntries`, `inFlightBatches`, `consecutiveFailures`,
   * `backoffMs`, `deadLetters`, `flushing` (lease held by this process),
   * `lastFlush`, and when down, `reasons`.
   */
  async isHealthy<const Key extends string>(
    key: Key,
    thresholds: WriteBufferHealthThresholds = {},
  ): Promise<HealthIndicatorResult<Key>> {
    const limits = { ...WRITE_BUFFER_HEALTH_DEFAULTS, ...thresholds };
    const session = this.health.check(key);
    let stats: BufferStats;
    try {
      stats = await this.buffer.stats();
    } catch (error) {
      return session.down({ reasons: [`stats() failed: ${(error as Error).message}`] });
    }
    const pendingEntries = stats.pending.counters + stats.pending.updates + stats.pending.inserts;
    const fillRatio = stats.fillRatio;
    const lagMs = stats.oldestPendingAgeMs ?? 0;
    const reasons: string[] = [];
    if (lagMs > limits.maxLagMs) reasons.push(`lag ${lagMs} ms > ${limits.maxLagMs} ms`);
    if (fillRatio > limits.maxFillRatio) {
      reasons.push(`fill ratio ${fillRatio.toFixed(3)} > ${limits.maxFillRatio}`);
    }
    if (stats.consecutiveFailures >= limits.maxConsecutiveFailures) {
      reasons.push(
        `${stats.consecutiveFailures} consecutive flush failure(s) >= ${limits.maxConsecutiveFailures}` +
          (stats.lastFlush?.error ? `: ${stats.lastFlush.error}` : ''),
      );
    }
    if (stats.backoffMs > limits.maxBackoffMs) {
      reasons.push(`backoff ${stats.backoffMs} ms > ${limits.maxBackoffMs} ms`);
    }
    if (stats.deadLetters > limits.maxDeadLetters) {
      reasons.push(`${stats.deadLetters} dead letters > ${limits.maxDeadLetters}`);
    }
    const details = {
      lagMs,
      fillRatio,
      pendingEntries,
      inFlightBatches: stats.inFlightBatches,
      consecutiveFailures: stats.consecutiveFailures,
      backoffMs: stats.backoffMs,
      deadLetters: stats.deadLetters,
      flushing: stats.flushing,
      lastFlush: stats.lastFlush,
    };
    return reasons.length ? session.down({ ...details, reasons }) : session.up(details);
  }
}
