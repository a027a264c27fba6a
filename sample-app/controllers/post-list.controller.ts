import { Controller, Get, Query } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, type Repository } from 'typeorm';
import { BufferService } from '../../lib/index.js';
import { Post } from '../entities/post.entity.js';
import { PostIdsPipe } from '../pipes/post-ids.pipe.js';

@Controller('posts')
export class PostListController {
  constructor(
    @InjectRepository(Post) private readonly posts: Repository<Post>,
    private readonly buffer: BufferService,
  ) {}

  /**
   * The posts `ids` names (those that exist, in that order) with live view
   * and like counts: one query of its own, and the buffered writes put on
   * top by `overlay` (no further query unless a flush is in flight).
   */
  @Get()
  async list(@Query('ids', PostIdsPipe) ids: number[]) {
    const found = await this.buffer.overlay(Post, await this.posts.findBy({ id: In(ids) }));
    const byId = new Map(found.map((post) => [post.id, post]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }
}
