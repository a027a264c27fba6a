import { beforeAll, describe, expect, it } from '@jest/globals';
import { POSTGRES_URL, postgresAvailable } from '../support/databases.js';
import { REDIS_URL, redisAvailable } from '../support/storages.js';
import {
  buildCrashApp,
  runCrashHarness,
  runSharedCrash,
  runShutdownWithDatabaseDown,
} from './crash-harness.js';

const outages: Array<[string, string | undefined]> = [
  ['SQLite is locked by another process', undefined],
  ...((await postgresAvailable())
    ? [['PostgreSQL refuses connections', POSTGRES_URL] as [string, string]]
    : []),
];

const log = (line: string) => process.stdout.write(`${line}\n`);

describe('crash safety of the journaled memory storage (real processes, SIGKILL)', () => {
  let entry: string;
  beforeAll(() => {
    entry = buildCrashApp();
  }, 180_000);

  it('loses and doubles nothing acknowledged over 12 kills on SQLite', async () => {
    const result = await runCrashHarness({ kills: 12, entry, log });
    log(
      `crash: kills=${result.kills} acked=${result.acked} lost=${result.lost} doubled=${result.doubled}`,
    );
    expect(result.killedAt).toEqual({ random: 3, statement: 3, commit: 3, recovery: 3 });
    expect(result.acked).toBeGreaterThan(1000);
    expect({ lost: result.lost, doubled: result.doubled }).toEqual({ lost: 0, doubled: 0 });
  }, 600_000);

  it.each(outages)(
    'keeps everything through a SIGTERM while %s',
    async (_outage, postgresUrl) => {
      const result = await runShutdownWithDatabaseDown({ entry, postgresUrl, log });
      expect(result.reported).toBe(true);
      expect(result.acked).toBeGreaterThan(100);
      expect({ lost: result.lost, doubled: result.doubled }).toEqual({ lost: 0, doubled: 0 });
    },
    300_000,
  );

  it('3 instances share one Redis; a flusher SIGKILLed mid-flush is taken over, nothing lost or doubled', async () => {
    if (!(await redisAvailable())) return;
    const postgresUrl = (await postgresAvailable()) ? POSTGRES_URL : undefined;
    const result = await runSharedCrash({
      storage: { redisUrl: REDIS_URL },
      postgresUrl,
      entry,
      log,
    });
    log(`shared redis: acked=${result.acked} lost=${result.lost} doubled=${result.doubled}`);
    // Traffic ran through both kills (how much follows the machine's load: 75 on a busy one).
    expect(result.acked).toBeGreaterThan(20);
    expect(result).toMatchObject({ lost: 0, doubled: 0, inFlight: 0, pending: 0 });
  }, 300_000);
});
