import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { DataSource } from 'typeorm';
import { metadataSource } from '../../test/support/entity-metadata.js';
import { SqlMembership, SqlPost } from '../../test/support/sql-entities.js';
import { BufferedEntity } from '../metadata/buffered-entity.js';
import { MysqlDialect } from './mysql.dialect.js';
import type { Statement } from './sql-dialect.js';

/** The text and parameters of statements, without the keys they carry. */
const text = (statements: Statement[]) => statements.map(({ sql, params }) => ({ sql, params }));

describe('MysqlDialect', () => {
  let dataSource: DataSource;
  let close: () => Promise<void>;
  let dialect: MysqlDialect;
  let post: BufferedEntity;
  let membership: BufferedEntity;
  beforeAll(async () => {
    ({ dataSource, close } = await metadataSource('mariadb', [SqlPost, SqlMembership]));
    dialect = new MysqlDialect(dataSource);
    post = new BufferedEntity(dataSource, 'default', dataSource.getMetadata(SqlPost));
    membership = new BufferedEntity(dataSource, 'default', dataSource.getMetadata(SqlMembership));
  });
  afterAll(() => close());

  it('adds deltas with one UPDATE (SELECT … UNION ALL SELECT …) STRAIGHT_JOIN t, absent deltas as NULL (the column stays as it is)', () => {
    const statements = dialect.counters(post, [
      [post.key(1), { views: 2 }],
      [post.key(2), { likes: 1, views: 3 }],
    ]);
    expect(text(statements)).toEqual([
      {
        sql:
          'UPDATE (SELECT ? AS `wb_c0`, ? AS `wb_c1`, ? AS `wb_c2` ' +
          'UNION ALL SELECT ?, ?, ?) AS `v` STRAIGHT_JOIN `post` AS `t` ON `t`.`id` = `v`.`wb_c0` ' +
          'SET `likes` = COALESCE(COALESCE(`t`.`likes`, 0) + `v`.`wb_c1`, `t`.`likes`), `views` = COALESCE(COALESCE(`t`.`views`, 0) + `v`.`wb_c2`, `t`.`views`)',
        params: [1, null, 2, 2, 1, 3],
      },
    ]);
    expect(statements[0].keys).toEqual([post.key(1), post.key(2)]);
  });

  it('binds the rows as a VALUES list on MariaDB 10.3 and later, a row of NULLs naming the columns', () => {
    const mariadb = new MysqlDialect({
      ...dataSource,
      driver: Object.assign(Object.create(dataSource.driver), { version: '10.11.6' }),
    } as DataSource);
    const statements = mariadb.counters(post, [
      [post.key(1), { views: 2 }],
      [post.key(2), { views: '9007199254740993' as never }],
    ]);
    expect(text(statements)).toEqual([
      {
        sql:
          'UPDATE (SELECT NULL AS `wb_c0`, NULL AS `wb_c1` FROM DUAL WHERE FALSE ' +
          'UNION ALL VALUES (?, ?), (?, CAST(? AS DECIMAL(65, 0)))) AS `v` STRAIGHT_JOIN `post` AS `t` ON `t`.`id` = `v`.`wb_c0` ' +
          'SET `views` = COALESCE(COALESCE(`t`.`views`, 0) + `v`.`wb_c1`, `t`.`views`)',
        params: [1, 2, 2, '9007199254740993'],
      },
    ]);
  });

  it('casts integers given as strings, so sums beyond 2^53 stay exact', () => {
    expect(
      text(dialect.counters(post, [[post.key(3), { views: '9007199254740993' as never }]])),
    ).toEqual([
      {
        sql:
          'UPDATE (SELECT ? AS `wb_c0`, CAST(? AS DECIMAL(65, 0)) AS `wb_c1`) AS `v` ' +
          'STRAIGHT_JOIN `post` AS `t` ON `t`.`id` = `v`.`wb_c0` SET `views` = COALESCE(COALESCE(`t`.`views`, 0) + `v`.`wb_c1`, `t`.`views`)',
        params: [3, '9007199254740993'],
      },
    ]);
  });

  it('matches a composite key on every primary column', () => {
    expect(
      text(
        dialect.counters(membership, [[membership.key({ orgId: 'a', userId: 1 }), { points: 5 }]]),
      ),
    ).toEqual([
      {
        sql:
          'UPDATE (SELECT ? AS `wb_c0`, ? AS `wb_c1`, ? AS `wb_c2`) AS `v` ' +
          'STRAIGHT_JOIN `membership` AS `t` ON `t`.`orgId` = `v`.`wb_c0` AND `t`.`userId` = `v`.`wb_c1` ' +
          'SET `points` = COALESCE(COALESCE(`t`.`points`, 0) + `v`.`wb_c2`, `t`.`points`)',
        params: ['a', 1, 5],
      },
    ]);
  });

  it('sets columns with one UPDATE per set of columns', () => {
    expect(
      text(
        dialect.updates(post, [
          [post.key(1), { title: 'x' }],
          [post.key(2), { views: 4, title: 'y' }],
          [post.key(3), { title: 'z' }],
        ]),
      ),
    ).toEqual([
      {
        sql:
          'UPDATE (SELECT ? AS `wb_c0`, ? AS `wb_c1` UNION ALL SELECT ?, ?) AS `v` ' +
          'STRAIGHT_JOIN `post` AS `t` ON `t`.`id` = `v`.`wb_c0` SET `title` = `v`.`wb_c1`',
        params: [1, 'x', 3, 'z'],
      },
      {
        sql:
          'UPDATE (SELECT ? AS `wb_c0`, ? AS `wb_c1`, ? AS `wb_c2`) AS `v` ' +
          'STRAIGHT_JOIN `post` AS `t` ON `t`.`id` = `v`.`wb_c0` SET `title` = `v`.`wb_c1`, `views` = `v`.`wb_c2`',
        params: [2, 'y', 4],
      },
    ]);
  });

  it('inserts consecutive rows naming the same columns with one multi-row INSERT, in order', () => {
    expect(
      dialect.inserts(post, [{ id: 3, title: 'a' }, { title: 'b', id: 4 }, { id: 5 }, {}]),
    ).toEqual([
      { sql: 'INSERT INTO `post` (`id`, `title`) VALUES (?, ?), (?, ?)', params: [3, 'a', 4, 'b'] },
      { sql: 'INSERT INTO `post` (`id`) VALUES (?)', params: [5] },
      { sql: 'INSERT INTO `post` () VALUES ()', params: [] },
    ]);
  });

  it('chunks rows at 5,000 per statement, and under 65,535 placeholders for wide rows', () => {
    const rows = Array.from({ length: 10_001 }, (_, i) => ({ id: i, title: 't' }));
    const statements = dialect.inserts(post, rows);
    expect(statements.map((s) => s.params.length)).toEqual([10_000, 10_000, 2]);
    expect(statements.flatMap((s) => s.params.filter((_, i) => i % 2 === 0))).toEqual(
      rows.map((row) => row.id),
    );
    const wide = (dialect as unknown as { maxRows(width: number): number }).maxRows(40);
    expect(wide).toBe(1638);
    expect(wide * 40).toBeLessThanOrEqual(65_535);
  });

  it('records batch ids with INSERT IGNORE, claimed when one row was added', () => {
    expect(dialect.ledgerSchema('wb_ledger')).toBe(
      'CREATE TABLE IF NOT EXISTS `wb_ledger` (`batch_id` varchar(200) NOT NULL PRIMARY KEY, ' +
        '`applied_at` bigint NOT NULL, `missed` text NULL)',
    );
    expect(dialect.ledgerClaim('wb_ledger', 'b1', 123)).toEqual({
      sql: 'INSERT IGNORE INTO `wb_ledger` (`batch_id`, `applied_at`) VALUES (?, ?)',
      params: ['b1', 123],
    });
    expect(dialect.claimed({ records: [], affected: 1 })).toBe(true);
    expect(dialect.claimed({ records: [], affected: 0 })).toBe(false);
    expect(dialect.ledgerSetMissed('wb_ledger', 'b1', '[]')).toEqual({
      sql: 'UPDATE `wb_ledger` SET `missed` = ? WHERE `batch_id` = ?',
      params: ['[]', 'b1'],
    });
    expect(dialect.ledgerPrune('wb_ledger', 100, 'format')).toEqual({
      sql: 'DELETE FROM `wb_ledger` WHERE `applied_at` < ? AND `batch_id` <> ?',
      params: [100, 'format'],
    });
  });

  it('reads a cell and the applied batch ids in one statement', () => {
    expect(dialect.readCell(post, post.key(7), 'views', 'wb_ledger', ['b1', 'b2'])).toEqual({
      sql:
        'SELECT 0 AS `kind`, CAST(`t`.`views` AS CHAR CHARACTER SET utf8mb4) COLLATE utf8mb4_bin AS `value` ' +
        'FROM `post` `t` WHERE `t`.`id` = ? ' +
        'UNION ALL SELECT 1, CONVERT(`batch_id` USING utf8mb4) COLLATE utf8mb4_bin FROM `wb_ledger` ' +
        'WHERE `batch_id` IN (?, ?)',
      params: [7, 'b1', 'b2'],
    });
  });

  it('reads the cells of many rows and the applied batch ids in one statement', () => {
    const [statement] = dialect.readCells(
      post,
      [post.key(7), post.key(9)],
      ['views'],
      'wb_ledger',
      ['b1'],
    );
    expect(statement.sql).toBe(
      'SELECT 0 AS `kind`, `v`.`wb_n` AS `n`, CAST(`t`.`views` AS CHAR CHARACTER SET utf8mb4) COLLATE utf8mb4_bin AS `c0` ' +
        'FROM (SELECT ? AS `wb_c0`, 1 AS `wb_n` UNION ALL SELECT ?, 2) AS `v` JOIN `post` `t` ON `t`.`id` = `v`.`wb_c0` ' +
        'UNION ALL SELECT 1, 0, CONVERT(`batch_id` USING utf8mb4) COLLATE utf8mb4_bin FROM `wb_ledger` WHERE `batch_id` IN (?)',
    );
    expect(statement.params).toEqual([7, 9, 'b1']);
  });

  it('runs the flush transaction at READ COMMITTED', () => {
    expect(dialect.isolation).toBe('READ COMMITTED');
  });
});
