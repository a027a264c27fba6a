import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { FlushError } from '../errors.js';
import { Backoff } from './backoff.js';

const retry = { baseDelay: 100, maxDelay: 1000 };
const failure = new Error('connection refused');

/** The delays after `failures` consecutive failures, with the jitter fixed at `random`. */
function delays(failures: number, random: number): number[] {
  const backoff = new Backoff('default', retry, () => random);
  return Array.from({ length: failures }, () => {
    backoff.failed(failure);
    return backoff.health.backoffMs;
  });
}

describe('Backoff', () => {
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(new Logger()));

  it('waits between half and all of a ceiling that doubles up to maxDelay', () => {
    expect(delays(6, 0)).toEqual([50, 100, 200, 400, 500, 500]);
    expect(delays(6, 0.999999)).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(delays(2, 0.5)).toEqual([75, 150]);
  });

  it('stays within the bounds with the real jitter', () => {
    const backoff = new Backoff('default', retry);
    for (let failures = 1; failures <= 8; failures++) {
      backoff.failed(failure);
      const ceiling = Math.min(retry.maxDelay, retry.baseDelay * 2 ** (failures - 1));
      expect(backoff.health.backoffMs).toBeGreaterThanOrEqual(ceiling / 2);
      expect(backoff.health.backoffMs).toBeLessThanOrEqual(ceiling);
    }
  });

  it('is not due until the delay has passed, and is due again after a success', () => {
    const backoff = new Backoff('default', retry, () => 0);
    expect(backoff.due()).toBe(true);
    const before = Date.now();
    backoff.failed(failure);
    const { nextAttemptAt } = backoff.health;
    expect(nextAttemptAt).toBeGreaterThanOrEqual(before + 50);
    expect(nextAttemptAt).toBeLessThanOrEqual(Date.now() + 50);
    expect(backoff.due(nextAttemptAt - 1)).toBe(false);
    expect(backoff.due(nextAttemptAt)).toBe(true);

    backoff.failed(failure);
    expect(backoff.health.consecutiveFailures).toBe(2);
    backoff.succeeded();
    expect(backoff.health).toEqual({ consecutiveFailures: 0, backoffMs: 0, nextAttemptAt: 0 });
    expect(backoff.due()).toBe(true);
    backoff.failed(failure);
    expect(backoff.health.backoffMs).toBe(50);
  });

  it('logs what a FlushError wraps, so "nothing was lost" is said once', () => {
    const lines: string[] = [];
    const capture = {
      log() {},
      warn() {},
      debug() {},
      verbose() {},
      error: (m: unknown) => lines.push(String(m)),
    };
    Logger.overrideLogger(capture);
    try {
      new Backoff('default', retry).failed(
        FlushError.failed('default', new Error('database is locked')),
      );
    } finally {
      Logger.overrideLogger(false);
    }
    expect(lines).toEqual([
      "Flushing data source 'default' is failing: database is locked. " +
        'Nothing is lost; retrying with backoff (up to 1000 ms). The next line will say when it recovers.',
    ]);
  });
});
