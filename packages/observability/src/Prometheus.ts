/**
 * The pools' metrics in the Prometheus text format, for a Prometheus server to scrape: every pool of the
 * program in one scrape, each series labelled with its pool's name (`db_client_connection_pool_name`).
 *
 * The pools' Effect metrics reach an OpenTelemetry `MetricReader` of @opentelemetry/exporter-prometheus
 * through @effect/opentelemetry; that library writes the text. Mount `scrape` at `/metrics` in your own
 * HTTP server (with `contentType`), or let `layerServer` serve it.
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/prometheus.js"
import type { PrometheusServerError } from "./PrometheusError.js"

/**
 * What the exporter includes and how it names things.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * `"pools"` (default): only the pools' metrics; `"all"`: every Effect metric of the program (your own
   * `Metric.counter`s too).
   */
  readonly include?: "pools" | "all" | undefined
  /** A prefix for every metric name. Default: none. */
  readonly prefix?: string | undefined
  /** Leave out the `otel_scope_name` label of every series. Default: true. */
  readonly withoutScopeInfo?: boolean | undefined
  /** Leave out the `target_info` series (the OpenTelemetry resource's attributes). Default: false. */
  readonly withoutTargetInfo?: boolean | undefined
  /** The OpenTelemetry resource (`target_info`). Default: read from `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`. */
  readonly resource?: {
    readonly serviceName: string
    readonly serviceVersion?: string
    readonly attributes?: Record<string, string | number | boolean>
  } | undefined
}

/**
 * Where the standalone endpoint listens.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerConfig {
  /** Default: `"127.0.0.1"` (only this machine; say `"0.0.0.0"` to be scraped from elsewhere). */
  readonly host?: string | undefined
  /** Default: 9464, the port registered for OpenTelemetry's Prometheus exporter. */
  readonly port?: number | undefined
  /** The path of the scrape. Default: `"/metrics"`. */
  readonly endpoint?: string | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ServerOptions extends Options, ServerConfig {}

/**
 * The exporter's service: `scrape` collects every pool's metrics now and returns them in the Prometheus
 * text format.
 *
 * @since 0.1.0
 * @category models
 */
export interface Prometheus {
  readonly scrape: Effect.Effect<string>
}

/**
 * The exporter: `scrape` collects every pool's metrics now and returns them in the Prometheus text format.
 *
 * @example
 * ```ts
 * import { Prometheus } from "@dbpool/observability"
 * import { Effect } from "effect"
 *
 * const text = Effect.gen(function*() {
 *   const prometheus = yield* Prometheus.Prometheus
 *   return yield* prometheus.scrape
 * })
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export const Prometheus: Context.Tag<Prometheus, Prometheus> = internal.tag

/**
 * The `Content-Type` of a scrape's response (the text format, version 0.0.4).
 *
 * @since 0.1.0
 * @category constants
 */
export const contentType: string = internal.contentType

/**
 * The text of one scrape: every pool's metrics, now. This is what to answer on `/metrics`.
 *
 * @example
 * ```ts
 * import { Prometheus } from "@dbpool/observability"
 * import { Effect } from "effect"
 * import * as Http from "node:http"
 *
 * // Your own HTTP server: answer GET /metrics with the scrape.
 * const handle = (res: Http.ServerResponse) =>
 *   Effect.map(Prometheus.scrape, (text) => {
 *     res.writeHead(200, { "content-type": Prometheus.contentType })
 *     res.end(text)
 *   })
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const scrape: Effect.Effect<string, never, Prometheus> = internal.scrape

/**
 * Makes the exporter in the current scope (no server: call `scrape` yourself).
 *
 * @example
 * ```ts
 * import { Prometheus } from "@dbpool/observability"
 * import { Effect } from "effect"
 *
 * const once = Effect.scoped(Effect.flatMap(Prometheus.make(), (exporter) => exporter.scrape))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: Options) => Effect.Effect<Prometheus, never, Scope.Scope> = internal.make

/**
 * The exporter as a layer, without a server: for an HTTP server of your own (the dashboard's `/metrics`).
 *
 * @example
 * ```ts
 * import { Prometheus } from "@dbpool/observability"
 *
 * const PrometheusLive = Prometheus.layer({ include: "all" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options?: Options) => Layer.Layer<Prometheus> = internal.layer

/**
 * The exporter and a small HTTP server of its own answering `GET <endpoint>` with the scrape (404
 * elsewhere), for programs without an HTTP server. It stops with the layer's scope; it fails with
 * `PrometheusServerError` if it cannot listen.
 *
 * @example
 * ```ts
 * import { Prometheus } from "@dbpool/observability"
 * import { PgPool } from "@dbpool/pg"
 * import { Layer, Redacted } from "effect"
 *
 * const Live = Layer.mergeAll(
 *   PgPool.layer({ url: Redacted.make("postgres://postgres@127.0.0.1:5432/test") }),
 *   Prometheus.layerServer({ port: 9464 }) // http://127.0.0.1:9464/metrics
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerServer: (options?: ServerOptions) => Layer.Layer<Prometheus, PrometheusServerError> =
  internal.layerServer

/**
 * `layerServer` with its host, port and endpoint read from `Config` (environment variables by default).
 *
 * @example
 * ```ts
 * import { Prometheus } from "@dbpool/observability"
 * import { Config } from "effect"
 *
 * const PrometheusLive = Prometheus.layerServerConfig({
 *   host: Config.string("METRICS_HOST").pipe(Config.withDefault("127.0.0.1")),
 *   port: Config.integer("METRICS_PORT").pipe(Config.withDefault(9464))
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerServerConfig: (
  config: Config.Config.Wrap<ServerConfig>,
  options?: Options
) => Layer.Layer<Prometheus, PrometheusServerError | ConfigError.ConfigError> = internal.layerServerConfig
