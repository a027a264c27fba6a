import { EntitySchema } from 'typeorm';

/** A small entity for the dialect specs: `post (id int, title varchar, views int, likes int)`. */
export const SqlPost = new EntitySchema({
  name: 'SqlPost',
  tableName: 'post',
  columns: {
    id: { type: 'int', primary: true },
    title: { type: 'varchar', length: 100, default: '' },
    views: { type: 'int', default: 0 },
    likes: { type: 'int', default: 0 },
  },
});

/** A composite-key entity for the dialect specs: `membership (orgId varchar, userId int, points int)`. */
export const SqlMembership = new EntitySchema({
  name: 'SqlMembership',
  tableName: 'membership',
  columns: {
    orgId: { type: 'varchar', length: 20, primary: true },
    userId: { type: 'int', primary: true },
    points: { type: 'int', default: 0 },
  },
});
