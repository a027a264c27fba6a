import {
  Controller,
  Get,
  HttpCode,
  NotFoundException,
  Param,
  ParseIntPipe,
  Post as HttpPost,
} from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { Repository } from 'typeorm';
import { BufferedCounter, BufferService } from '../../lib/index.js';
import { Post } from '../entities/post.entity.js';

@Controller('posts')
export class PostsController {
  constructor(
    @InjectRepository(Post) private readonly posts: Repository<Post>,
    private readonly buffer: BufferService,
  ) {}

  /** Reads a post; each successful read counts one view, buffered. */
  @Get(':id')
  @BufferedCounter(Post, 'views')
  async findOne(@Param('id', ParseIntPipe) id: number) {
    return this.find(id);
  }

  /** The same read without counting: the baseline of `npm run bench`. */
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

  /** Exact view count: the database value plus what is buffered. */
  @Get(':id/views')
  async views(@Param('id', ParseIntPipe) id: number) {
    return { id, views: await this.buffer.get(Post, id, 'views') };
  }

  private async find(id: number) {
    const post = await this.posts.findOneBy({ id });
    if (!post) throw new NotFoundException(`Post ${id} does not exist`);
    return post;
  }

  @HttpPost(':id/like')
  @HttpCode(204)
  async like(@Param('id', ParseIntPipe) id: number) {
    await this.buffer.increment(Post, id, 'likes');
  }
}
