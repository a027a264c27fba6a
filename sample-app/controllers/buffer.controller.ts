import { Controller, Get, Post } from '@nestjs/common';
import { BufferService } from '../../lib/index.js';

@Controller('buffer')
export class BufferController {
  constructor(private readonly buffer: BufferService) {}

  @Get('stats')
  stats() {
    return this.buffer.stats();
  }

  @Post('flush')
  flush() {
    return this.buffer.flush();
  }
}
