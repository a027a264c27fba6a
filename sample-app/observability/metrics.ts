import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';

/**
 * The OpenTelemetry SDK of the sample app, registered when this module is
 * first imported (before the write buffer asks for its meter): a
 * MeterProvider whose only reader is a Prometheus exporter that starts no
 * server of its own; `MetricsController` serves what it collects.
 */
export const prometheusExporter = new PrometheusExporter({ preventServerStart: true });

metrics.setGlobalMeterProvider(new MeterProvider({ readers: [prometheusExporter] }));
