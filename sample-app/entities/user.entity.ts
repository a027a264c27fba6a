import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity('app_user')
export class User {
  @PrimaryColumn('int')
  id!: number;

  @Column({ type: Date, nullable: true })
  lastSeenAt!: Date | null;
}
