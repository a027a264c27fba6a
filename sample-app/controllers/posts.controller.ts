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
import { PostDailyViews, today } from '../entities/post-daily-views.entity.js';
import { Post } from '../entities/post.entity.js';

@Controller('posts')
export class PostsController {
  constructor(
    @InjectRepository(Post) private readonly posts: Repository<Post>,
    private readonly buffer: BufferService,
  ) {}

  /**
   * Reads a post; each successful read counts one view, buffered, and one
   * view of today in `PostDailyViews` (a row the flush creates).
   */
  @Get(':id')
  @BufferedCounter(Post, 'views')
  async findOne(@Param('id', ParseIntPipe) id: number) {
    const post = await this.posts.findOneBy({ id });
    if (!post) throw new NotFoundException(`Post ${id} does not exist`);
    await this.buffer.increment(PostDailyViews, { day: today(), postId: id }, 'views');
    return post;
  }

  /** Exact view count: the database value plus what is buffered. */
  @Get(':id/views')
  async views(@Param('id', ParseIntPipe) id: number) {
    return { id, views: await this.buffer.get(Post, id, 'views') };
  }

  @HttpPost(':id/like')
  @HttpCode(204)
  async like(@Param('id', ParseIntPipe) id: number) {
    await this.buffer.increment(Post, id, 'likes');
  }
}
