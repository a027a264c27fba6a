import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Post } from './entities/post.entity.js';
import { User } from './entities/user.entity.js';

/** Seeds posts 1-100 and users 1-100 into an empty database. */
@Injectable()
export class SeedService implements OnModuleInit {
  constructor(private readonly dataSource: DataSource) {}

  async onModuleInit() {
    if ((await this.dataSource.getRepository(Post).count()) > 0) return;
    const ids = Array.from({ length: 100 }, (_, i) => i + 1);
    await this.dataSource
      .getRepository(Post)
      .insert(ids.map((id) => ({ id, title: `Post ${id}` })));
    await this.dataSource.getRepository(User).insert(ids.map((id) => ({ id, lastSeenAt: null })));
    new Logger('Seed').log('Seeded posts 1-100 and users 1-100');
  }
}
