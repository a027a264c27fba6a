/**
 * The few parts of `@opentelemetry/api` the module uses, typed here so that
 * the package's declarations never depend on the optional peer's types.
 * The real package is loaded with `import()` at start; when it is missing
 * (or metrics and tracing are off) nothing is recorded.
 */

/** Attribute values as OpenTelemetry takes them. */
export type Attributes = Record<string, string | number | boolean | string[]>;

export interface OtelCounter {
  add(value: number, attributes?: Attributes): void;
}

export interface OtelHistogram {
  record(value: number, attributes?: Attributes): void;
}

export interface OtelObservableResult {
  observe(observable: OtelObservable, value: number, attributes?: Attributes): void;
}

// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface OtelObservable {}

export interface OtelMeter {
  createCounter(name: string, options?: InstrumentOptions): OtelCounter;
  createHistogram(name: string, options?: InstrumentOptions): OtelHistogram;
  createObservableGauge(name: string, options?: InstrumentOptions): OtelObservable;
  addBatchObservableCallback(
    callback: (result: OtelObservableResult) => Promise<void> | void,
    observables: OtelObservable[],
  ): void;
  removeBatchObservableCallback(
    callback: (result: OtelObservableResult) => Promise<void> | void,
    observables: OtelObservable[],
  ): void;
}

export interface InstrumentOptions {
  description?: string;
  unit?: string;
  advice?: { explicitBucketBoundaries?: number[] };
}

export interface OtelSpan {
  setAttributes(attributes: Attributes): OtelSpan;
  setStatus(status: { code: number; message?: string }): OtelSpan;
  recordException(exception: unknown): void;
  end(): void;
}

export interface OtelTracer {
  startActiveSpan<T>(
    name: string,
    options: { attributes?: Attributes; kind?: number },
    fn: (span: OtelSpan) => T,
  ): T;
}

/** `@opentelemetry/api`'s entry points the module calls. */
export interface OpenTelemetryApi {
  metrics: { getMeter(name: string, version?: string): OtelMeter };
  trace: { getTracer(name: string, version?: string): OtelTracer };
}

/** `SpanStatusCode.ERROR` of `@opentelemetry/api`. */
export const SPAN_STATUS_ERROR = 2;

/** `@opentelemetry/api`, or `undefined` when it is not installed. */
export async function loadOpenTelemetryApi(): Promise<OpenTelemetryApi | undefined> {
  try {
    const api = (await import('@opentelemetry/api')) as unknown as OpenTelemetryApi;
    return api;
  } catch {
    return undefined;
  }
}
