import { Controller, Get, HttpCode, Param, ParseIntPipe, Post } from '@nestjs/common';
import { BufferService } from '../../lib/index.js';
import { User } from '../entities/user.entity.js';

@Controller('users')
export class UsersController {
  constructor(private readonly buffer: BufferService) {}

  /** Marks the user as seen now; many touches between flushes become one UPDATE. */
  @Post(':id/touch')
  @HttpCode(204)
  async touch(@Param('id', ParseIntPipe) id: number) {
    await this.buffer.update(User, id, { lastSeenAt: new Date() });
  }

  /** When the user was last seen: the latest of the database's and every buffered touch. */
  @Get(':id/last-seen')
  async lastSeen(@Param('id', ParseIntPipe) id: number) {
    return { id, lastSeenAt: await this.buffer.get(User, id, 'lastSeenAt') };
  }
}
