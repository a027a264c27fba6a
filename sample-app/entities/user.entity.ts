import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity('app_user')
export class User {
  @PrimaryColumn('int')
  id!: number;

  // Milliseconds on MySQL/MariaDB too: a max-merged timestamp must keep what get() reads.
  @Column({ type: Date, nullable: true, precision: 3 })
  lastSeenAt!: Date | null;
}
