import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { WriteBufferHealthIndicator } from '../../lib/terminus/index.js';

/** `GET /health`: the database and the write buffer (503 when either is down). */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly database: TypeOrmHealthIndicator,
    private readonly buffer: WriteBufferHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([
      () => this.database.pingCheck('database'),
      () => this.buffer.isHealthy('write-buffer'),
    ]);
  }
}
