import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  InvalidIdError,
  InvalidValueError,
  UnknownColumnError,
  UnknownEntityError,
  UnsuitableColumnError,
  WriteBufferError,
} from '../lib/index.js';
import { databaseKinds } from './support/databases.js';
import { ActivityLog, Membership, Post, User } from './support/entities.js';
import { createTestApp, type TestApp } from './support/test-app.js';

class NotAnEntity {}

describe.each(await databaseKinds())('bad input on %s', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(kind);
  });
  afterAll(() => t.close());

  const cases: Array<
    [string, () => Promise<unknown>, new (...args: any[]) => WriteBufferError, RegExp]
  > = [
    [
      'unknown entity class',
      () => t.buffer.increment(NotAnEntity, 1, 'views' as never),
      UnknownEntityError,
      /Class NotAnEntity is not an entity.*Add it to the "entities"/,
    ],
    [
      'unknown entity name',
      () => t.buffer.increment('Nope', 1, 'views'),
      UnknownEntityError,
      /'Nope' is not an entity/,
    ],
    [
      'unknown column',
      () => t.buffer.increment(Post, 1, 'veiws' as never),
      UnknownColumnError,
      /Column 'veiws' is not a column of entity Post\. Known columns: 'views', 'likes', 'score'/,
    ],
    [
      'non-numeric column',
      () => t.buffer.increment(Post, 1, 'title'),
      UnsuitableColumnError,
      /'title' of entity Post is not numeric.*Known numeric columns: 'views', 'likes', 'score'/,
    ],
    [
      'primary column as counter',
      () => t.buffer.increment(Post, 1, 'id'),
      UnsuitableColumnError,
      /not numeric|Known numeric/,
    ],
    [
      'missing id',
      () => t.buffer.increment(Post, undefined, 'views'),
      InvalidIdError,
      /An id is required for entity Post/,
    ],
    [
      'non-integer id',
      () => t.buffer.increment(Post, 'abc', 'views'),
      InvalidIdError,
      /^Primary column 'id' of entity Post is an integer, and "abc" is not a valid integer key\. Pass /,
    ],
    [
      'fractional id',
      () => t.buffer.increment(Post, 1.5, 'views'),
      InvalidIdError,
      /is an integer/,
    ],
    [
      'composite id missing a column',
      () => t.buffer.increment(Membership, { orgId: 'eu' }, 'points'),
      InvalidIdError,
      /missing: 'userId'/,
    ],
    [
      'composite id with an extra column',
      () => t.buffer.increment(Membership, { orgId: 'eu', userId: 1, x: 1 }, 'points'),
      InvalidIdError,
      /not primary columns: 'x'/,
    ],
    [
      'scalar id for a composite key',
      () => t.buffer.increment(Membership, 1, 'points'),
      InvalidIdError,
      /object naming every primary column/,
    ],
    [
      'NaN delta',
      () => t.buffer.increment(Post, 1, 'views', NaN),
      InvalidValueError,
      /by NaN.*finite integer/,
    ],
    [
      'Infinity delta',
      () => t.buffer.increment(Post, 1, 'score', Infinity),
      InvalidValueError,
      /by Infinity/,
    ],
    [
      'fractional delta on an integer column',
      () => t.buffer.increment(Post, 1, 'views', 0.5),
      InvalidValueError,
      /holds integers/,
    ],
    [
      'string delta',
      () => t.buffer.increment(Post, 1, 'views', '1' as never),
      InvalidValueError,
      /by "1"/,
    ],
    [
      'non-object patch',
      () => t.buffer.update(User, 1, 'x' as never),
      InvalidValueError,
      /patch for entity User must be a plain object/,
    ],
    [
      'array patch',
      () => t.buffer.update(User, 1, [] as never),
      InvalidValueError,
      /must be a plain object/,
    ],
    [
      'empty patch',
      () => t.buffer.update(User, 1, {}),
      InvalidValueError,
      /patch for entity User is empty/,
    ],
    [
      'patch with an unknown column',
      () => t.buffer.update(User, 1, { nmae: 'x' } as never),
      UnknownColumnError,
      /'nmae' is not a column of entity User/,
    ],
    [
      'patch naming the primary key',
      () => t.buffer.update(User, 1, { id: 2 }),
      UnsuitableColumnError,
      /part of the primary key/,
    ],
    [
      'patch with a wrong type',
      () => t.buffer.update(User, 1, { active: 'yes' } as never),
      InvalidValueError,
      /User\.active expects a boolean/,
    ],
    [
      'patch with an invalid Date',
      () => t.buffer.update(User, 1, { lastSeenAt: new Date('nope') }),
      InvalidValueError,
      /expects a valid Date/,
    ],
    [
      'null for a non-nullable column',
      () => t.buffer.update(User, 1, { active: null } as never),
      InvalidValueError,
      /not nullable/,
    ],
    [
      'insert row with an unknown column',
      () => t.buffer.insert(ActivityLog, { postId: 1, at: new Date(), bogus: 1 } as never),
      UnknownColumnError,
      /'bogus' is not a column of entity ActivityLog/,
    ],
    [
      'insert row missing a required column',
      () => t.buffer.insert(ActivityLog, { at: new Date() }),
      InvalidValueError,
      /need a value for 'postId'/,
    ],
    [
      'insert of a non-object',
      () => t.buffer.insert(ActivityLog, [42] as never),
      InvalidValueError,
      /row for entity ActivityLog must be a plain object/,
    ],
    [
      'getMany of an unknown entity',
      () => t.buffer.getMany(NotAnEntity, [1]),
      UnknownEntityError,
      /Class NotAnEntity is not an entity/,
    ],
    [
      'getMany of a column that is not numeric',
      () => t.buffer.getMany(Post, [1], ['title']),
      UnsuitableColumnError,
      /Known numeric columns: 'views', 'likes', 'score'/,
    ],
    [
      'getMany of an empty column list',
      () => t.buffer.getMany(Post, [1], []),
      InvalidValueError,
      /The columns to read of entity Post are an empty list: name at least one of 'views', 'likes', 'score', or leave them out/,
    ],
    [
      'overlay of a composite-key row missing a key column',
      () => t.buffer.overlay(Membership, [{ orgId: 'eu', points: 1 } as Membership]),
      InvalidIdError,
      /Row 0 given to overlay\(\) for entity Membership has no value for its primary column\(s\) 'orgId', 'userId'/,
    ],
  ];

  it.each(cases)(
    '%s: rejects with a clear error and buffers nothing',
    async (_name, call, type, message) => {
      const error = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(type);
      expect(error).toBeInstanceOf(WriteBufferError);
      expect((error as Error).message).toMatch(message);
      expect(await t.buffer.stats()).toMatchObject({
        pending: { counters: 0, updates: 0, inserts: 0 },
      });
    },
  );

  it('rejects a whole insert call when one of its rows is bad', async () => {
    const rows = [
      { postId: 1, at: new Date() },
      { postId: 'x', at: new Date() },
    ];
    await expect(t.buffer.insert(ActivityLog, rows as never)).rejects.toBeInstanceOf(
      InvalidValueError,
    );
    expect((await t.buffer.stats()).pending.inserts).toBe(0);
  });
});
