import { Controller, Get, Param, ParseIntPipe } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { Repository } from 'typeorm';
import { BufferService } from '../../lib/index.js';
import { PostDailyViews, today } from '../entities/post-daily-views.entity.js';

/** Views per post per day, counted by `GET /posts/:id` (see `PostsController`). */
@Controller('posts')
export class PostDailyViewsController {
  constructor(
    @InjectRepository(PostDailyViews) private readonly daily: Repository<PostDailyViews>,
    private readonly buffer: BufferService,
  ) {}

  /** The post's views per day, oldest first, exact (the database plus what is buffered). */
  @Get(':id/daily')
  async list(@Param('id', ParseIntPipe) postId: number) {
    const rows = await this.daily.find({ where: { postId }, order: { day: 'ASC' } });
    // Today's row may exist only in the buffer until the next flush creates it.
    const days = [...new Set([...rows.map((row) => row.day), today()])].sort();
    const counted = await Promise.all(
      days.map(async (day) => ({
        day,
        views: await this.buffer.get(PostDailyViews, { day, postId }, 'views'),
      })),
    );
    return counted.filter((row) => row.views > 0);
  }
}
