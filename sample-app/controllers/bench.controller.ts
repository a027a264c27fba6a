import { Controller, Get, NotFoundException, Param, ParseIntPipe } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { Repository } from 'typeorm';
import { Post } from '../entities/post.entity.js';

/** The baselines `npm run bench` measures `GET /posts/:id` against; not part of the example. */
@Controller('posts')
export class BenchController {
  constructor(@InjectRepository(Post) private readonly posts: Repository<Post>) {}

  /** The same read as `GET /posts/:id`, without counting. */
  @Get(':id/uncounted')
  async findUncounted(@Param('id', ParseIntPipe) id: number) {
    return this.find(id);
  }

  /** The same read counting with one UPDATE per request: what the buffer replaces. */
  @Get(':id/direct')
  async findDirect(@Param('id', ParseIntPipe) id: number) {
    const post = await this.find(id);
    await this.posts.increment({ id }, 'views', 1);
    return post;
  }

  private async find(id: number) {
    const post = await this.posts.findOneBy({ id });
    if (!post) throw new NotFoundException(`Post ${id} does not exist`);
    return post;
  }
}
