import { Controller, Delete, NotFoundException, Param, ParseIntPipe } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { Repository } from 'typeorm';
import { BufferService } from '../../lib/index.js';
import { Post } from '../entities/post.entity.js';

@Controller('posts')
export class PostDeletionController {
  constructor(
    @InjectRepository(Post) private readonly posts: Repository<Post>,
    private readonly buffer: BufferService,
  ) {}

  /**
   * Deletes a post: its pending views and likes are dropped first, and a
   * flush already holding some of them finishes before the row goes.
   */
  @Delete(':id')
  async remove(@Param('id', ParseIntPipe) id: number) {
    const { discarded, inFlight } = await this.buffer.discard(Post, id);
    if (inFlight > 0) await this.buffer.flush(Post);
    const { affected } = await this.posts.delete({ id });
    if (!affected) throw new NotFoundException(`Post ${id} does not exist`);
    return { id, discarded, inFlight };
  }
}
