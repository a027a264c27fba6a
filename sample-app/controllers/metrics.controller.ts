import { Controller, Get, Req, Res } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { prometheusExporter } from '../observability/metrics.js';

/** `GET /metrics`: the Prometheus text of every OpenTelemetry metric of the app. */
@Controller('metrics')
export class MetricsController {
  @Get()
  scrape(@Req() request: IncomingMessage, @Res() response: ServerResponse) {
    prometheusExporter.getMetricsRequestHandler(request, response);
  }
}
