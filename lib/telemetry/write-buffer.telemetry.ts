import type { Provider } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import {
  WRITE_BUFFER_RESOLVED_OPTIONS,
  type ResolvedWriteBufferOptions,
} from '../write-buffer-options.resolver.js';
import { FlushTracer } from './flush.tracer.js';
import { loadOpenTelemetryApi } from './open-telemetry-api.js';
import { WriteBufferEvents, type EventEmitterLike } from './write-buffer.events.js';
import { WriteBufferMetrics } from './write-buffer.metrics.js';

/** The module's metrics, spans and events, each a no-op when its package is absent or it is off. */
export class WriteBufferTelemetry {
  constructor(
    readonly metrics: WriteBufferMetrics = WriteBufferMetrics.none,
    readonly tracer: FlushTracer = FlushTracer.none,
    readonly events: WriteBufferEvents = WriteBufferEvents.none,
  ) {}
}

/**
 * Loads the optional peers the options ask for (`@opentelemetry/api`,
 * `@nestjs/event-emitter`) with `import()`, so an app without them starts
 * and records nothing.
 */
export const writeBufferTelemetryProvider: Provider = {
  provide: WriteBufferTelemetry,
  inject: [WRITE_BUFFER_RESOLVED_OPTIONS, ModuleRef],
  useFactory: async (options: ResolvedWriteBufferOptions, moduleRef: ModuleRef) => {
    const api = options.metrics || options.tracing ? await loadOpenTelemetryApi() : undefined;
    const metrics =
      api && options.metrics
        ? new WriteBufferMetrics(api.metrics.getMeter(options.metrics.meterName))
        : undefined;
    const tracer =
      api && options.tracing
        ? new FlushTracer(api.trace.getTracer(options.tracing.tracerName))
        : undefined;
    const emitterClass = await import('@nestjs/event-emitter').then(
      (module) => module.EventEmitter2,
      () => undefined,
    );
    const events = emitterClass
      ? new WriteBufferEvents(
          () => moduleRef.get(emitterClass, { strict: false }) as EventEmitterLike | undefined,
        )
      : undefined;
    return new WriteBufferTelemetry(metrics, tracer, events);
  },
};
