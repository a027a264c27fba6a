import {
  SPAN_STATUS_ERROR,
  type Attributes,
  type OtelSpan,
  type OtelTracer,
} from './open-telemetry-api.js';

/** The part of a span the flush sets: attributes at its end. */
export interface FlushSpan {
  setAttributes(attributes: Attributes): void;
}

const NO_SPAN: FlushSpan = { setAttributes: () => undefined };

/**
 * Spans of the flush: `write-buffer.flush` per data source and
 * `write-buffer.batch` per batch. Each runs its work as the active span,
 * so the ORM's and driver's own spans nest under it; an error is recorded
 * on the span and rethrown. Without `@opentelemetry/api` (or with tracing
 * off) it only runs the work.
 */
export class FlushTracer {
  /** A tracer that records nothing. */
  static readonly none = new FlushTracer();

  constructor(private readonly tracer?: OtelTracer) {}

  /** Runs `work` inside a span named `name`. */
  inSpan<T>(
    name: string,
    attributes: Attributes,
    work: (span: FlushSpan) => Promise<T>,
  ): Promise<T> {
    if (!this.tracer) return work(NO_SPAN);
    return this.tracer.startActiveSpan(name, { attributes }, async (span: OtelSpan) => {
      try {
        return await work(span);
      } catch (error) {
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({
          code: SPAN_STATUS_ERROR,
          message: error instanceof Error ? error.message : String(error),
        });
        throw error;
      } finally {
        span.end();
      }
    });
  }
}
