import { Body, Controller, HttpCode, Ip, Post } from '@nestjs/common';
import { BufferService } from '../../lib/index.js';
import { ActivityLog } from '../entities/activity-log.entity.js';
import { type ActivityEvent, ActivityEventPipe } from '../pipes/activity-event.pipe.js';

@Controller('events')
export class EventsController {
  constructor(private readonly buffer: BufferService) {}

  /** Appends an activity log row; rows go out as multi-row INSERTs. */
  @Post()
  @HttpCode(202)
  async record(@Body(ActivityEventPipe) body: ActivityEvent, @Ip() ip: string) {
    await this.buffer.insert(ActivityLog, { postId: body.postId, at: new Date(), ip });
  }
}
