/**
 * The pools' metrics and spans in an OpenTelemetry SDK, through @effect/opentelemetry: one layer.
 *
 * A pool records its metrics as Effect metrics named after the OpenTelemetry semantic conventions for
 * database client connection pools (`db.client.connection.count` with `db.client.connection.state` idle or
 * used, `.max`, `.idle.min`, `.pending_requests`, `.timeouts`, `.create_time`, `.wait_time`, `.use_time`,
 * each with `db.client.connection.pool.name`), plus `dbpool.connection.leaks`, `dbpool.circuit.open` and,
 * for a pool sized by `PoolSizing.adaptive`, `dbpool.connection.target`.
 * A caller who has to wait for a connection does so in a `dbpool.acquire` span. This module hands them to
 * your OpenTelemetry metric readers and span processors, with the units of the conventions.
 *
 * @since 0.1.0
 */
import type * as Resource from "@effect/opentelemetry/Resource"
import type { MetricProducer, MetricReader } from "@opentelemetry/sdk-metrics"
import type { SpanProcessor, TracerConfig } from "@opentelemetry/sdk-trace-base"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type { LazyArg } from "effect/Function"
import type * as Layer from "effect/Layer"
import * as producer from "./internal/producer.js"
import * as internal from "./internal/telemetry.js"

/**
 * Which metrics reach the readers.
 *
 * @since 0.1.0
 * @category models
 */
export interface MetricsOptions {
  /**
   * `"pools"` (default): only the pools' metrics; `"all"`: every Effect metric of the program (yours are
   * exported as @effect/opentelemetry exports them).
   */
  readonly include?: "pools" | "all" | undefined
  /** How long the readers may take to shut down when the layer's scope closes. Default: 3 seconds. */
  readonly shutdownTimeout?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends MetricsOptions {
  /** The service these pools belong to. Default: from `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`. */
  readonly resource?: {
    readonly serviceName: string
    readonly serviceVersion?: string
    readonly attributes?: Record<string, string | number | boolean>
  } | undefined
  /** Where metrics go: a periodic OTLP reader, a Prometheus exporter, a reader of your own. */
  readonly metricReader?: MetricReader | NonEmptyReadonlyArray<MetricReader> | undefined
  /** Where spans go (a `BatchSpanProcessor` over an OTLP exporter, say). */
  readonly spanProcessor?: SpanProcessor | NonEmptyReadonlyArray<SpanProcessor> | undefined
  readonly tracerConfig?: Omit<TracerConfig, "resource"> | undefined
}

/**
 * The units of the pools' metrics, by metric name, as the semantic conventions give them
 * (`"s"` for the three times, `"{connection}"` for the counts…).
 *
 * @example
 * ```ts
 * import { PoolTelemetry } from "@dbpool/observability"
 *
 * const unit = PoolTelemetry.units["db.client.connection.wait_time"] // "s"
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const units: Readonly<Record<string, string>> = producer.units

/**
 * The OpenTelemetry SDK for the whole program: traces (every Effect span, the pool's `dbpool.acquire`
 * among them) to `spanProcessor`, the pools' metrics to `metricReader`. Use it instead of
 * @effect/opentelemetry's `NodeSdk.layer` (it is built on it), or beside it with no `metricReader` there.
 *
 * @example
 * ```ts
 * import { PoolTelemetry } from "@dbpool/observability"
 * import { PgPool } from "@dbpool/pg"
 * import { PeriodicExportingMetricReader, ConsoleMetricExporter } from "@opentelemetry/sdk-metrics"
 * import { BatchSpanProcessor, ConsoleSpanExporter } from "@opentelemetry/sdk-trace-base"
 * import { Layer, Redacted } from "effect"
 *
 * const TelemetryLive = PoolTelemetry.layer({
 *   resource: { serviceName: "orders" },
 *   metricReader: new PeriodicExportingMetricReader({ exporter: new ConsoleMetricExporter() }),
 *   spanProcessor: new BatchSpanProcessor(new ConsoleSpanExporter())
 * })
 * const Live = Layer.merge(PgPool.layer({ url: Redacted.make("postgres://postgres@127.0.0.1:5432/test") }), TelemetryLive)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options: Options) => Layer.Layer<Resource.Resource> = internal.layer

/**
 * Only the metrics, for a program that sets up tracing and its `Resource` elsewhere (e.g. with
 * `NodeSdk.layer` and no `metricReader` there).
 *
 * @example
 * ```ts
 * import { PoolTelemetry } from "@dbpool/observability"
 * import { NodeSdk } from "@effect/opentelemetry"
 * import { PeriodicExportingMetricReader, ConsoleMetricExporter } from "@opentelemetry/sdk-metrics"
 * import { Layer } from "effect"
 *
 * const MetricsLive = PoolTelemetry.layerMetrics(
 *   () => new PeriodicExportingMetricReader({ exporter: new ConsoleMetricExporter() })
 * ).pipe(Layer.provideMerge(NodeSdk.layer(() => ({ resource: { serviceName: "orders" } }))))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMetrics: (
  reader: LazyArg<MetricReader | NonEmptyReadonlyArray<MetricReader>>,
  options?: MetricsOptions
) => Layer.Layer<never, never, Resource.Resource> = internal.layerMetrics

/**
 * The pools' metrics as an OpenTelemetry `MetricProducer` (with their units), to register on a reader
 * yourself.
 *
 * @example
 * ```ts
 * import { PoolTelemetry } from "@dbpool/observability"
 * import { Resource } from "@effect/opentelemetry"
 * import { Effect } from "effect"
 *
 * const producer = PoolTelemetry.makeProducer().pipe(Effect.provide(Resource.layerEmpty))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeProducer: (
  options?: Pick<MetricsOptions, "include">
) => Effect.Effect<MetricProducer, never, Resource.Resource> = (options) => producer.makeProducer(options?.include)
