import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { EventEmitter2, EventEmitterModule } from '@nestjs/event-emitter';
import {
  BufferFullError,
  WriteBufferEvent,
  type BufferFullEvent,
  type DeadLetter,
  type DeadLetterEvent,
  type FlushCompletedEvent,
  type RecoveredEvent,
} from '../lib/index.js';
import { createTestDatabase } from './support/databases.js';
import { ActivityLog, Post } from './support/entities.js';
import { scratchSpace } from './support/scratch.js';
import { createTestApp, type TestApp } from './support/test-app.js';

const { databases, journalPath } = scratchSpace('wb-events-');

/** Every event the app's EventEmitter2 sees, in order. */
function recordEvents(t: TestApp): Array<[string, unknown]> {
  const seen: Array<[string, unknown]> = [];
  const emitter = t.app.get(EventEmitter2);
  for (const name of Object.values(WriteBufferEvent)) {
    emitter.on(name, (payload: unknown) => seen.push([name, payload]));
  }
  return seen;
}

const of = <T>(seen: Array<[string, unknown]>, name: string) =>
  seen.filter(([n]) => n === name).map(([, payload]) => payload as T);

describe('write-buffer events (SQLite)', () => {
  it('a refused insert: one dead-letter event, onDeadLetter still called, a completed flush', async () => {
    const hooked: DeadLetter[] = [];
    const t = await createTestApp(
      'sqlite',
      { onDeadLetter: (letter) => hooked.push(letter) },
      { imports: [EventEmitterModule.forRoot()] },
    );
    const seen = recordEvents(t);
    try {
      // The CHECK constraint refuses postId -1; the other rows go in.
      await t.buffer.insert(ActivityLog, [
        { postId: 1, at: new Date() },
        { postId: -1, at: new Date() },
        { postId: 2, at: new Date() },
      ]);
      const report = await t.buffer.flush();
      expect(report).toMatchObject({ inserted: 2, deadLettered: 1 });
      const letters = of<DeadLetterEvent>(seen, WriteBufferEvent.DeadLetter);
      expect(letters).toHaveLength(1);
      expect(letters[0].letter).toMatchObject({ kind: 'insert', payload: { postId: -1 } });
      expect(hooked.map((l) => l.id)).toEqual([letters[0].letter.id]);
      const completed = of<FlushCompletedEvent>(seen, WriteBufferEvent.FlushCompleted);
      expect(completed).toHaveLength(1);
      expect(completed[0]).toMatchObject({ dataSource: 'default', report: { inserted: 2 } });
      expect(of(seen, WriteBufferEvent.FlushFailed)).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('a write past the limit with policy reject: one buffer-full event, nothing buffered', async () => {
    const t = await createTestApp(
      'sqlite',
      { limits: { maxPendingEntries: 2, policy: 'reject' } },
      { imports: [EventEmitterModule.forRoot()] },
    );
    const seen = recordEvents(t);
    try {
      await t.buffer.increment(Post, 1, 'views');
      await t.buffer.increment(Post, 2, 'views');
      await expect(t.buffer.increment(Post, 3, 'views')).rejects.toThrow(BufferFullError);
      expect(of<BufferFullEvent>(seen, WriteBufferEvent.BufferFull)).toEqual([
        { pendingEntries: 2, maxPendingEntries: 2, policy: 'reject' },
      ]);
      expect((await t.buffer.stats()).pending.counters).toBe(2);
    } finally {
      await t.close();
    }
  });

  it('a start that finds journaled writes: one recovered event with what it found', async () => {
    const path = journalPath();
    const database = await createTestDatabase('sqlite');
    databases.push(database);
    const options = {
      storage: { type: 'memory' as const, journal: { path } },
      flush: { onShutdown: false },
    };
    let t = await createTestApp('sqlite', options, { database });
    await t.dataSource.getRepository(Post).insert({ id: 1 });
    await t.buffer.increment(Post, 1, 'views', 4);
    await t.close(); // no final flush: the increment stays in the journal

    // The event comes during the start: the emitter has its listener before it.
    const seen: Array<[string, unknown]> = [];
    const emitter = new EventEmitter2();
    emitter.on(WriteBufferEvent.Recovered, (payload: unknown) =>
      seen.push([WriteBufferEvent.Recovered, payload]),
    );
    class ListeningEmitterModule {}
    t = await createTestApp('sqlite', options, {
      database,
      imports: [
        {
          module: ListeningEmitterModule,
          global: true,
          providers: [{ provide: EventEmitter2, useValue: emitter }],
          exports: [EventEmitter2],
        },
      ],
    });
    try {
      expect(of<RecoveredEvent>(seen, WriteBufferEvent.Recovered)).toEqual([
        {
          pending: { counters: 1, updates: 0, inserts: 0 },
          inFlightBatches: 0,
          deadLetters: 0,
        },
      ]);
      await t.buffer.flush();
      expect((await t.dataSource.getRepository(Post).findOneByOrFail({ id: 1 })).views).toBe(4);
    } finally {
      await t.close();
    }
  });
});
