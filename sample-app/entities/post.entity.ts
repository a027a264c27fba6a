import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity('post')
export class Post {
  @PrimaryColumn('int')
  id!: number;

  @Column('varchar', { length: 200 })
  title!: string;

  @Column('int', { default: 0 })
  views!: number;

  @Column('int', { default: 0 })
  likes!: number;
}
