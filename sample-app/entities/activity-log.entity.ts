import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

@Entity('activity_log')
export class ActivityLog {
  @PrimaryGeneratedColumn()
  id!: number;

  @Column('int')
  postId!: number;

  @Column({ type: Date })
  at!: Date;

  @Column('varchar', { length: 64, nullable: true })
  ip!: string | null;
}
