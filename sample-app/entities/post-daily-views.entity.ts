import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * Views of a post per day (UTC). No row exists until the first flush of a
 * day's views creates it: the entity is registered with
 * `onMissingRow: 'insert'`.
 */
@Entity('post_daily_views')
export class PostDailyViews {
  @PrimaryColumn('varchar', { length: 10 })
  day!: string;

  @PrimaryColumn('int')
  postId!: number;

  @Column('int', { default: 0 })
  views!: number;
}

/** Today's key of {@link PostDailyViews}: the UTC date, `YYYY-MM-DD`. */
export function today(): string {
  return new Date().toISOString().slice(0, 10);
}
