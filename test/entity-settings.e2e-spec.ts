import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Entity, PrimaryColumn } from 'typeorm';
import {
  UnknownEntityError,
  WriteBufferConfigError,
  type WriteBufferEntityOptions,
} from '../lib/index.js';
import { Post, User } from './support/entities.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import { featureModule } from './support/feature-module.js';

@Entity('not_in_the_data_source')
class Unregistered {
  @PrimaryColumn()
  id!: number;
}

const apps: TestApp[] = [];
afterEach(async () => {
  while (apps.length) await apps.pop()!.close();
});

async function open(...features: WriteBufferEntityOptions[][]) {
  const t = await createTestApp('sqlite', {}, { imports: features.map(featureModule) });
  apps.push(t);
  return t;
}

describe('WriteBufferModule.forFeature', () => {
  it("overrides the module's onMissingRow for the entities it names, and only for them", async () => {
    const t = await open([{ entity: Post, onMissingRow: 'drop' }]);
    await t.buffer.increment(Post, 2, 'views', 4);
    await t.buffer.update(User, 9, { name: 'nobody' });
    const report = await t.buffer.flush();
    expect(report).toMatchObject({ deadLettered: 1 });
    expect(report.missing.map((m) => m.entity).sort()).toEqual(['Post', 'User']);
    const letters = await t.buffer.deadLetters();
    expect(letters.map((l) => [l.entity, l.key])).toEqual([['User', { id: 9 }]]);
  });

  it('takes the same settings for one entity from two modules', async () => {
    const t = await open(
      [{ entity: Post, onMissingRow: 'drop' }],
      [{ entity: Post, onMissingRow: 'drop' }],
    );
    await t.buffer.increment(Post, 2, 'views', 4);
    expect(await t.buffer.flush()).toMatchObject({ deadLettered: 0 });
  });

  it.each([
    [
      'an entity no data source has',
      [{ entity: Unregistered }],
      UnknownEntityError,
      /Unregistered is not an entity of the TypeORM data source\(s\) 'default'/,
    ],
    [
      'an option it does not take',
      [{ entity: Post, onMisingRow: 'drop' }],
      WriteBufferConfigError,
      /forFeature\(\) has no option 'onMisingRow' \(entity Post\)\. Known options: 'onMissingRow'/,
    ],
    [
      'a value that cannot work',
      [{ entity: Post, onMissingRow: 'skip' }],
      WriteBufferConfigError,
      /forFeature\(Post\)\.onMissingRow must be one of 'dead-letter', 'drop', 'insert', not "skip"/,
    ],
    [
      'a batch size that is not a whole number of entries',
      [{ entity: Post, maxBatchRows: 0 }],
      WriteBufferConfigError,
      /forFeature\(Post\)\.maxBatchRows must be a whole number of entries \(1 or more\), not 0/,
    ],
    [
      'a fractional batch size',
      [{ entity: Post, maxBatchRows: 2.5 }],
      WriteBufferConfigError,
      /forFeature\(Post\)\.maxBatchRows must be a whole number of entries \(1 or more\), not 2\.5/,
    ],
    [
      'a list that is not an array',
      { entity: Post } as unknown,
      WriteBufferConfigError,
      /WriteBufferModule\.forFeature\(\) must be an array of \{ entity, \.\.\.settings \}/,
    ],
  ])('fails start-up on %s, naming it', async (_, entities, type, message) => {
    const failure = open(entities as WriteBufferEntityOptions[]);
    await expect(failure).rejects.toBeInstanceOf(type);
    await expect(failure).rejects.toThrow(message);
  });

  it('fails start-up when two modules give one entity different settings', async () => {
    await expect(
      open(
        [{ entity: Post, onMissingRow: 'drop' }],
        [{ entity: Post, onMissingRow: 'dead-letter' }],
      ),
    ).rejects.toThrow(/registers entity Post twice with different settings/);
  });
});
