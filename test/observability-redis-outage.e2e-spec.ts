import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { EventEmitter2, EventEmitterModule } from '@nestjs/event-emitter';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WriteBufferEvent, type FlushFailedEvent } from '../lib/index.js';
import { Post } from './support/entities.js';
import { createTestApp } from './support/test-app.js';

const hasRedis = spawnSync('redis-server', ['--version']).status === 0;
const port = 20_000 + Math.floor(Math.random() * 20_000);

/** A Redis server of this suite only (append-only, fsync always), so stopping it disturbs nothing else. */
function startRedis(dir: string): Promise<ChildProcess> {
  const server = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''].concat([
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
    ]),
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('Ready to accept connections')) resolve(server);
    });
  });
}

function stopRedis(server: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    server.once('exit', () => resolve());
    server.kill('SIGKILL');
  });
}

(hasRedis ? describe : describe.skip)('events and failure metrics through a Redis outage', () => {
  it('a flush that cannot reach Redis counts as failing: one flush.failed, then flush.recovered', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wb-redis-outage-'));
    let server = await startRedis(dir);
    const t = await createTestApp(
      'sqlite',
      {
        storage: { type: 'redis', url: `redis://127.0.0.1:${port}`, timeout: 500 },
        flush: { retry: { baseDelay: 100, maxDelay: 200 } },
      },
      { imports: [EventEmitterModule.forRoot()] },
    );
    const events: Array<[string, unknown]> = [];
    const emitter = t.app.get(EventEmitter2);
    for (const name of [WriteBufferEvent.FlushFailed, WriteBufferEvent.FlushRecovered]) {
      emitter.on(name, (payload: unknown) => events.push([name, payload]));
    }
    let down = false;
    try {
      await t.dataSource.getRepository(Post).insert({ id: 1 });
      await t.buffer.increment(Post, 1, 'views', 4);

      await stopRedis(server);
      down = true;
      await expect(t.buffer.flush()).rejects.toThrow();
      await expect(t.buffer.flush()).rejects.toThrow();
      const failed = events.filter(([name]) => name === WriteBufferEvent.FlushFailed);
      expect(failed).toHaveLength(1);
      expect((failed[0][1] as FlushFailedEvent).kind).toBe('transient');

      server = await startRedis(dir);
      down = false;
      for (let i = 0; ; i++) {
        try {
          await t.buffer.flush();
          break;
        } catch (error) {
          if (i > 50) throw error;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      expect(events.map(([name]) => name)).toEqual([
        WriteBufferEvent.FlushFailed,
        WriteBufferEvent.FlushRecovered,
      ]);
      expect((await t.buffer.stats()).consecutiveFailures).toBe(0);
      const row = await t.dataSource.getRepository(Post).findOneByOrFail({ id: 1 });
      expect(row.views).toBe(4);
    } finally {
      if (down) server = await startRedis(dir);
      await t.close();
      await stopRedis(server);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
