import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  EntitySchema,
  PrimaryColumn,
  PrimaryGeneratedColumn,
} from 'typeorm';

@Entity('post')
export class Post {
  @PrimaryColumn('int')
  id!: number;

  @Column('varchar', { length: 100, default: '' })
  title!: string;

  @Column('int', { default: 0 })
  views!: number;

  @Column('int', { default: 0 })
  likes!: number;

  @Column('float', { default: 0 })
  score!: number;
}

@Entity('app_user')
export class User {
  @PrimaryColumn('int')
  id!: number;

  // Milliseconds kept on MySQL/MariaDB too (their datetime defaults to whole seconds).
  @Column({ type: Date, nullable: true, precision: 3 })
  lastSeenAt!: Date | null;

  @Column('varchar', { length: 100, nullable: true })
  name!: string | null;

  @Column('boolean', { default: false })
  active!: boolean;

  @Column('simple-json', { nullable: true })
  profile!: Record<string, unknown> | null;

  @Column('int', { default: 0 })
  logins!: number;
}

@Entity('activity_log')
@Check('CHK_activity_log_post', '"postId" >= 0')
export class ActivityLog {
  @PrimaryGeneratedColumn()
  id!: number;

  @Column('int')
  postId!: number;

  @Column({ type: Date, precision: 3 })
  at!: Date;

  @Column('varchar', { length: 64, nullable: true })
  ip!: string | null;

  @CreateDateColumn()
  createdAt!: Date;
}

/** Composite primary key: (orgId, userId). */
@Entity('membership')
export class Membership {
  @PrimaryColumn('varchar', { length: 20 })
  orgId!: string;

  @PrimaryColumn('int')
  userId!: number;

  @Column('int', { default: 0 })
  points!: number;

  @Column('varchar', { length: 20, default: 'member' })
  role!: string;
}

/** An entity defined with EntitySchema instead of a class. */
export interface Download {
  id: number;
  count: number;
}
export const DownloadSchema = new EntitySchema<Download>({
  name: 'Download',
  tableName: 'download',
  columns: {
    id: { type: 'int', primary: true },
    count: { type: 'int', default: 0 },
  },
});

export const ENTITIES = [Post, User, ActivityLog, Membership, DownloadSchema];

/*
 * Entities of the column-type and row-key suites. They are not in ENTITIES:
 * their column types differ per database (bytea/blob, timestamptz,
 * uuid, enum and array columns exist only on PostgreSQL), so each suite
 * builds them for the database it runs on.
 */

type TypedKind = 'sqlite' | 'postgres' | 'mariadb';

/** One column of every type TypeORM maps on the database, keyed by an int. */
export interface TypedRow {
  id: number;
  small: number;
  big: string | number;
  num: string | number;
  dbl: number;
  rl: number;
  flag: boolean;
  day: string;
  clock: string;
  at: Date;
  label: string;
  body: string;
  doc: Record<string, unknown>;
  tags: string[];
  mood: 'happy' | 'sad' | 'meh';
  json: unknown;
  bytes: Buffer;
  // MariaDB only
  bin?: Buffer;
  // PostgreSQL only (uid, at3, status, price also on MariaDB)
  uid?: string;
  atz?: Date;
  at3?: Date;
  status?: string;
  level?: string;
  ints?: number[];
  texts?: string[];
  grid?: number[][];
  stamps?: Date[];
  statuses?: string[];
  jsonb?: unknown;
  code?: string;
  price?: string;
  bits?: string;
  span?: unknown;
  ip?: string;
  spot?: { x: number; y: number };
  clockTz?: string;
  markup?: string;
}

export const MOODS = ['happy', 'sad', 'meh'];
export const STATUSES = ['on', 'off', 'it\'s "quoted"'];

export function typedRowSchema(kind: TypedKind): EntitySchema<TypedRow> {
  const postgres = kind === 'postgres';
  const mariadb = kind === 'mariadb';
  return new EntitySchema<TypedRow>({
    name: 'TypedRow',
    tableName: 'typed_row',
    columns: {
      id: { type: 'int', primary: true },
      small: { type: 'smallint', nullable: true },
      big: { type: 'bigint', nullable: true },
      num: { type: 'decimal', precision: 12, scale: 4, nullable: true },
      // MySQL's float is single precision.
      dbl: { type: mariadb ? 'double' : 'float', nullable: true },
      rl: { type: 'real', nullable: true },
      flag: { type: 'boolean', nullable: true },
      day: { type: 'date', nullable: true },
      clock: { type: 'time', nullable: true },
      at: { type: Date, nullable: true, ...(mariadb ? { precision: 3 } : {}) },
      label: { type: 'varchar', length: 20, nullable: true },
      body: { type: 'text', nullable: true },
      doc: { type: 'simple-json', nullable: true },
      tags: { type: 'simple-array', nullable: true },
      mood: { type: 'simple-enum', enum: MOODS, nullable: true },
      json: { type: 'json', nullable: true },
      bytes: { type: postgres ? 'bytea' : 'blob', nullable: true },
      ...(mariadb
        ? {
            uid: { type: 'uuid', nullable: true },
            at3: { type: 'datetime', precision: 6, nullable: true },
            status: { type: 'enum', enum: STATUSES, nullable: true },
            price: { type: 'decimal', precision: 30, scale: 10, nullable: true },
            bin: { type: 'binary', length: 16, nullable: true },
          }
        : {}),
      ...(postgres
        ? {
            uid: { type: 'uuid', nullable: true },
            atz: { type: 'timestamptz', nullable: true },
            at3: { type: 'timestamp', precision: 3, nullable: true },
            status: { type: 'enum', enum: STATUSES, nullable: true },
            level: { type: 'enum', enum: ['low', 'high'], enumName: 'typed_level', nullable: true },
            ints: { type: 'int', array: true, nullable: true },
            texts: { type: 'text', array: true, nullable: true },
            grid: { type: 'int', array: true, nullable: true },
            stamps: { type: 'timestamptz', array: true, nullable: true },
            statuses: { type: 'enum', enum: STATUSES, array: true, nullable: true },
            jsonb: { type: 'jsonb', nullable: true },
            code: { type: 'char', length: 5, nullable: true },
            price: { type: 'numeric', precision: 30, scale: 10, nullable: true },
            bits: { type: 'bit', length: 3, nullable: true },
            span: { type: 'interval', nullable: true },
            ip: { type: 'inet', nullable: true },
            spot: { type: 'point', nullable: true },
            clockTz: { type: 'timetz', nullable: true },
            markup: { type: 'xml', nullable: true },
          }
        : {}),
    },
  } as never);
}

/** The same columns in a schema of its own (PostgreSQL): enums are created in it. */
export function schemaTypedRowSchema(): EntitySchema<Pick<TypedRow, 'id' | 'status'>> {
  return new EntitySchema<Pick<TypedRow, 'id' | 'status'>>({
    name: 'SchemaTypedRow',
    tableName: 'typed_row',
    schema: 'wb_types',
    columns: {
      id: { type: 'int', primary: true },
      status: { type: 'enum', enum: STATUSES, nullable: true },
    },
  });
}

/** Rows keyed by a uuid (PostgreSQL `uuid`; text on SQLite). */
export interface UuidRow {
  id: string;
  hits: number;
}
export const UuidRowSchema = new EntitySchema<UuidRow>({
  name: 'UuidRow',
  tableName: 'uuid_row',
  columns: {
    id: { type: 'uuid', primary: true, generated: 'uuid' },
    hits: { type: 'int', default: 0 },
  },
});

/** Rows keyed by a bigint. */
export interface BigRow {
  id: string;
  hits: number;
}
export const BigRowSchema = new EntitySchema<BigRow>({
  name: 'BigRow',
  tableName: 'big_row',
  columns: {
    id: { type: 'bigint', primary: true },
    hits: { type: 'int', default: 0 },
  },
});

/** Rows keyed by a calendar day and an instant (and a small integer). */
export interface DayRow {
  day: string;
  at: Date;
  slot: number;
  hits: number;
}
export function dayRowSchema(kind: TypedKind): EntitySchema<DayRow> {
  return new EntitySchema<DayRow>({
    name: 'DayRow',
    tableName: 'day_row',
    columns: {
      day: { type: 'date', primary: true },
      at: {
        type: kind === 'postgres' ? 'timestamptz' : Date,
        primary: true,
        ...(kind === 'mariadb' ? { precision: 3 } : {}),
      },
      slot: { type: 'smallint', primary: true },
      hits: { type: 'int', default: 0 },
    },
  });
}

/** Rows keyed by a decimal and a string. */
export interface PriceRow {
  price: string | number;
  code: string;
  hits: number;
}
export function priceRowSchema(kind: TypedKind): EntitySchema<PriceRow> {
  return new EntitySchema<PriceRow>({
    name: 'PriceRow',
    tableName: 'price_row',
    columns: {
      price: { type: 'decimal', precision: 10, scale: 2, primary: true },
      // Case-sensitive on MariaDB too (its default collations ignore letter case).
      code: {
        type: 'varchar',
        length: 10,
        primary: true,
        ...(kind === 'mariadb' ? { collation: 'utf8mb4_bin' } : {}),
      },
      hits: { type: 'int', default: 0 },
    },
  });
}

/** Entities of the column-type and row-key suites on one database. */
export function typedEntities(kind: TypedKind): EntitySchema<any>[] {
  return [
    typedRowSchema(kind),
    UuidRowSchema,
    BigRowSchema,
    dayRowSchema(kind),
    priceRowSchema(kind),
    ...(kind === 'postgres' ? [schemaTypedRowSchema()] : []),
  ];
}

/**
 * An aggregate row a flush creates (`onMissingRow: 'insert'`): views per
 * page per day, composite key (day, pageId); `credits` defaults to 100.
 */
@Entity('page_daily_views')
export class PageDailyViews {
  @PrimaryColumn('varchar', { length: 10 })
  day!: string;

  @PrimaryColumn('int')
  pageId!: number;

  @Column('int', { default: 0 })
  views!: number;

  @Column('int', { default: 100 })
  credits!: number;

  @Column('varchar', { length: 50, nullable: true })
  referrer!: string | null;
}

/** An aggregate with a stored computed column. */
@Entity('rv_computed')
export class Computed {
  @PrimaryColumn('int')
  id!: number;

  @Column('int', { default: 0 })
  hits!: number;

  @Column({ type: 'int', generatedType: 'STORED', asExpression: 'hits * 2', nullable: false })
  double!: number;
}

/** Counters, one nullable without a default. */
@Entity('rv_nullable')
export class NullableCounter {
  @PrimaryColumn('int')
  id!: number;

  @Column('int', { nullable: true })
  maybe!: number | null;

  @Column('int', { default: 0 })
  hits!: number;
}
