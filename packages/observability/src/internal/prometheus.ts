import * as Resource from "@effect/opentelemetry/Resource"
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Prometheus from "../Prometheus.js"
import { PrometheusServerError } from "../PrometheusError.js"
import { makeProducer } from "./producer.js"
import { registerProducer } from "./register.js"

export const contentType = "text/plain; version=0.0.4; charset=utf-8"

export const tag = Context.GenericTag<Prometheus.Prometheus>("@dbpool/observability/Prometheus")

export const defaultHost = "127.0.0.1"
export const defaultPort = 9464
export const defaultEndpoint = "/metrics"

const resourceLayer = (options: Prometheus.Options | undefined) =>
  options?.resource === undefined ? Resource.layerFromEnv() : Resource.layer(options.resource)

/**
 * The exporter is an OpenTelemetry `MetricReader` fed by the pools' metric producer; its serializer writes
 * the text. Both come from @opentelemetry/exporter-prometheus: nothing here formats a metric. `listen`
 * starts the exporter's own HTTP server (shut down with the scope, as the reader is).
 */
const makeExporter = (options: Prometheus.ServerOptions | undefined) =>
  Effect.gen(function*() {
    const producer = yield* makeProducer(options?.include ?? "pools")
    const settings = {
      preventServerStart: true,
      host: options?.host ?? defaultHost,
      port: options?.port ?? defaultPort,
      endpoint: options?.endpoint ?? defaultEndpoint,
      prefix: options?.prefix ?? "",
      withoutScopeInfo: options?.withoutScopeInfo ?? true,
      withoutTargetInfo: options?.withoutTargetInfo ?? false
    }
    const exporter = new PrometheusExporter(settings)
    yield* registerProducer(producer, () => exporter)
    const serializer = new PrometheusSerializer(
      settings.prefix,
      false,
      undefined,
      settings.withoutTargetInfo,
      settings.withoutScopeInfo
    )
    const scrape = Effect.map(
      Effect.promise(() => exporter.collect()),
      ({ resourceMetrics }) => serializer.serialize(resourceMetrics)
    )
    const listen = Effect.tryPromise({
      try: () => exporter.startServer(),
      catch: (cause) => new PrometheusServerError({ host: settings.host, port: settings.port, cause })
    })
    return { service: tag.of({ scrape }), listen }
  }).pipe(Effect.provide(resourceLayer(options)))

export const make = (options?: Prometheus.Options): Effect.Effect<Prometheus.Prometheus, never, Scope.Scope> =>
  Effect.map(makeExporter(options), (exporter) => exporter.service)

export const layer = (options?: Prometheus.Options): Layer.Layer<Prometheus.Prometheus> =>
  Layer.scoped(tag, make(options))

export const layerServer = (
  options?: Prometheus.ServerOptions
): Layer.Layer<Prometheus.Prometheus, PrometheusServerError> =>
  Layer.scoped(tag, Effect.flatMap(makeExporter(options), (exporter) => Effect.as(exporter.listen, exporter.service)))

export const layerServerConfig = (
  config: Config.Config.Wrap<Prometheus.ServerConfig>,
  options?: Prometheus.Options
): Layer.Layer<Prometheus.Prometheus, PrometheusServerError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(Config.unwrap(config), (server) => layerServer({ ...options, ...server })))

export const scrape: Effect.Effect<string, never, Prometheus.Prometheus> = Effect.flatMap(tag, (p) => p.scrape)
