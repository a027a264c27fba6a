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

  @Column({ type: Date, nullable: true })
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

  @Column({ type: Date })
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
