import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { EntitySchema, type DataSource, type EntitySchemaColumnOptions } from 'typeorm';
import { columnOf, metadataSource } from '../../test/support/entity-metadata.js';
import { columnKind, numericDefault, type ColumnKind } from './column-kind.js';

/** An entity with one column per case, named after the case. */
function entityOf(name: string, cases: Array<[string, EntitySchemaColumnOptions, ColumnKind]>) {
  return new EntitySchema({
    name,
    columns: {
      id: { type: 'int', primary: true },
      ...Object.fromEntries(cases.map(([column, options]) => [column, options])),
    },
  });
}

const POSTGRES: Array<[string, EntitySchemaColumnOptions, ColumnKind]> = [
  ['int4', { type: 'int' }, 'integer'],
  ['int2', { type: 'smallint' }, 'integer'],
  ['int8', { type: 'bigint' }, 'integer'],
  ['numeric', { type: 'numeric', precision: 10, scale: 2 }, 'number'],
  ['real', { type: 'real' }, 'number'],
  ['double', { type: 'double precision' }, 'number'],
  ['money', { type: 'money' }, 'number'],
  ['bool', { type: 'boolean' }, 'boolean'],
  ['day', { type: 'date' }, 'date'],
  ['stamp', { type: 'timestamp' }, 'date'],
  ['stamptz', { type: 'timestamptz' }, 'date'],
  ['clock', { type: 'time' }, 'date'],
  ['doc', { type: 'json' }, 'json'],
  ['docb', { type: 'jsonb' }, 'json'],
  ['simpleJson', { type: 'simple-json' }, 'json'],
  ['simpleArray', { type: 'simple-array' }, 'list'],
  ['name', { type: 'varchar', length: 20 }, 'string'],
  ['body', { type: 'text' }, 'string'],
  ['code', { type: 'char', length: 3 }, 'string'],
  ['ref', { type: 'uuid' }, 'string'],
  ['email', { type: 'citext' }, 'string'],
  ['mood', { type: 'enum', enum: ['happy', 'sad'] }, 'string'],
  ['bytes', { type: 'bytea' }, 'binary'],
  ['scores', { type: 'int', array: true }, 'integer'],
  ['tags', { type: 'text', array: true }, 'string'],
  ['address', { type: 'inet' }, 'other'],
  ['place', { type: 'point' }, 'other'],
];

const SQLITE: Array<[string, EntitySchemaColumnOptions, ColumnKind]> = [
  ['integer', { type: 'integer' }, 'integer'],
  ['int', { type: 'int' }, 'integer'],
  ['big', { type: 'bigint' }, 'integer'],
  ['real', { type: 'real' }, 'number'],
  ['float', { type: 'float' }, 'number'],
  ['decimal', { type: 'decimal', precision: 10, scale: 2 }, 'number'],
  ['bool', { type: 'boolean' }, 'boolean'],
  ['day', { type: 'date' }, 'date'],
  ['stamp', { type: 'datetime' }, 'date'],
  ['name', { type: 'varchar', length: 20 }, 'string'],
  ['body', { type: 'text' }, 'string'],
  ['mood', { type: 'simple-enum', enum: ['happy', 'sad'] }, 'string'],
  ['simpleJson', { type: 'simple-json' }, 'json'],
  ['simpleArray', { type: 'simple-array' }, 'list'],
  ['bytes', { type: 'blob' }, 'binary'],
];

describe.each([
  ['postgres', POSTGRES],
  ['sqlite', SQLITE],
] as const)('columnKind on %s', (kind, cases) => {
  const Sample = entityOf(`kind_${kind}`, cases);
  let dataSource: DataSource;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ dataSource, close } = await metadataSource(kind, [Sample]));
  });
  afterAll(() => close());

  it.each(cases)('classifies %s (%j) as %s', (column, _options, expected) => {
    expect(columnKind(dataSource, columnOf(dataSource, Sample, column))).toBe(expected);
  });
});

describe('numericDefault', () => {
  it.each([
    [0, 0],
    ['0.00', 0],
    ['-3', -3],
    [null, null],
    [undefined, null],
    [() => '(-1)', -1],
    [() => '((2))', 2],
    [() => "'7'", 7],
    [() => "('1.5')", 1.5],
    [() => 'NULL', null],
    [() => "'7'::integer", 7],
    [() => "('0.00'::numeric(10, 2))", 0],
    [() => '(-1)::bigint', -1],
    [() => 'NULL::integer', null],
    [() => "nextval('s'::regclass)", undefined],
    [() => '(1 + 1)', undefined],
    [() => "''", undefined],
    [() => 'now()', undefined],
    ["'7'", undefined],
    ['NULL', undefined],
  ])('reads the default %p as %p', (declared, expected) => {
    expect(numericDefault(declared)).toBe(expected);
  });
});
