import { Controller, Get, HttpCode, Post } from '@nestjs/common';
import { BufferService } from '../../lib/index.js';

@Controller('buffer')
export class BufferController {
  constructor(private readonly buffer: BufferService) {}

  @Get('stats')
  stats() {
    return this.buffer.stats();
  }

  /** Flushes now and answers the `FlushReport` (200: nothing is created). */
  @Post('flush')
  @HttpCode(200)
  flush() {
    return this.buffer.flush();
  }
}
