import { beforeAll, describe, expect, it } from '@jest/globals';
import { EntitySchema, type DataSource } from 'typeorm';
import { metadataSource } from '../../test/support/entity-metadata.js';
import { InvalidIdError } from '../errors.js';
import { BufferedEntity } from './buffered-entity.js';

const Membership = new EntitySchema({
  name: 'Membership',
  columns: {
    orgId: { type: 'uuid', primary: true },
    userId: { type: 'bigint', primary: true },
    points: { type: 'int', default: 0 },
  },
});
const Post = new EntitySchema({
  name: 'Post',
  columns: { id: { type: 'int', primary: true }, views: { type: 'int', default: 0 } },
});

const ORG = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11';

describe('BufferedEntity row keys (postgres)', () => {
  let dataSource: DataSource;
  let membership: BufferedEntity;
  let post: BufferedEntity;
  beforeAll(async () => {
    ({ dataSource } = await metadataSource('postgres', [Membership, Post]));
    membership = new BufferedEntity(dataSource, 'default', dataSource.getMetadata(Membership));
    post = new BufferedEntity(dataSource, 'default', dataSource.getMetadata(Post));
  });

  it('gives every spelling of one row one key', () => {
    expect(post.key('+42')).toBe(post.key(42));
    expect(post.key(42n)).toBe(post.key(42));
    expect(post.key({ id: '42' })).toBe(post.key(42));
    expect(post.key(42)).not.toBe(post.key(43));
  });

  it('keys a composite id by column, in any property order and spelling', () => {
    const key = membership.key({ orgId: ORG, userId: 9 });
    expect(membership.key({ userId: '9', orgId: ORG.toUpperCase() })).toBe(key);
    expect(membership.key({ orgId: ORG, userId: 10 })).not.toBe(key);
    expect(membership.keyObject(key)).toEqual({ orgId: ORG, userId: 9 });
  });

  it('keeps bigint keys beyond 2^53 exact', () => {
    const key = membership.key({ orgId: ORG, userId: 9007199254740993n });
    expect(membership.key({ orgId: ORG, userId: '9007199254740993' })).toBe(key);
    expect(membership.keyObject(key)).toEqual({ orgId: ORG, userId: '9007199254740993' });
  });

  it('returns the primary values of many keys column by column', () => {
    const keys = [
      membership.key({ orgId: ORG, userId: 1 }),
      membership.key({ orgId: ORG, userId: 2 }),
    ];
    expect(membership.keyColumns(keys)).toEqual([
      [ORG, ORG],
      [1, 2],
    ]);
    expect(post.keyColumns([post.key(5), post.key('-6')])).toEqual([[5, -6]]);
  });

  it.each([
    [{ orgId: ORG }, /userId/],
    [{ orgId: ORG, userId: 1, extra: 2 }, /extra/],
    [{ orgId: 'nope', userId: 1 }, /orgId/],
    [{ orgId: ORG, userId: 1.5 }, /userId/],
    [{ orgId: ORG, userId: null }, /userId/],
    [42, /orgId/],
  ])('refuses the id %p', (id, names) => {
    expect(() => membership.key(id)).toThrow(InvalidIdError);
    expect(() => membership.key(id)).toThrow(names);
  });

  it('refuses an id that is not a valid key of a single column', () => {
    expect(() => post.key('abc')).toThrow(InvalidIdError);
    expect(() => post.key(null)).toThrow(InvalidIdError);
    expect(() => post.key(2 ** 31)).toThrow(InvalidIdError);
  });

  it('keys an insert row only when it names its whole, valid primary key', () => {
    expect(membership.insertKey({ orgId: ORG, userId: 1, points: 3 })).toBe(
      membership.key({ orgId: ORG, userId: 1 }),
    );
    expect(membership.insertKey({ orgId: ORG, points: 3 })).toBeNull();
    expect(membership.insertKey({ orgId: 'nope', userId: 1 })).toBeNull();
  });
});
