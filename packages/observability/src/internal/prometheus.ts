import * as Resource from "@effect/opentelemetry/Resource"
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Prometheus from "../Prometheus.js"
import { makeProducer } from "./producer.js"
import { registerProducer } from "./register.js"

export const contentType = "text/plain; version=0.0.4; charset=utf-8"

export const tag = Context.GenericTag<Prometheus.Prometheus>("@dbpool/observability/Prometheus")

export class PrometheusServerError extends Data.TaggedError("PrometheusServerError")<{
  readonly host: string
  readonly port: number
  readonly cause: unknown
}> {
  override get message(): string {
    const reason = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `the Prometheus endpoint could not listen on ${this.host}:${this.port}: ${reason}`
  }
}

export const defaultHost = "127.0.0.1"
export const defaultPort = 9464
export const defaultEndpoint = "/metrics"

const resourceLayer = (options: Prometheus.Options | undefined) =>
  options?.resource === undefined ? Resource.layerFromEnv() : Resource.layer(options.resource)

/**
 * The exporter is an OpenTelemetry `MetricReader` fed by the pools' metric producer; its serializer writes
 * the text. Both come from @opentelemetry/exporter-prometheus: nothing here formats a metric.
 */
const makeExporter = (options: Prometheus.ServerOptions | undefined, serve: boolean) =>
  Effect.gen(function*() {
    const producer = yield* makeProducer(options?.include ?? "pools")
    const exporterOptions = {
      preventServerStart: true,
      host: options?.host ?? defaultHost,
      port: options?.port ?? defaultPort,
      endpoint: options?.endpoint ?? defaultEndpoint,
      prefix: options?.prefix ?? "",
      withoutScopeInfo: options?.withoutScopeInfo ?? true,
      withoutTargetInfo: options?.withoutTargetInfo ?? false
    }
    const exporter = new PrometheusExporter(exporterOptions)
    // Registered in the scope: closing it shuts the exporter down (and its server, if it serves).
    yield* registerProducer(producer, () => exporter)
    if (serve) {
      yield* Effect.tryPromise({
        try: () => exporter.startServer(),
        catch: (cause) => new PrometheusServerError({ host: exporterOptions.host, port: exporterOptions.port, cause })
      })
    }
    const serializer = new PrometheusSerializer(
      exporterOptions.prefix,
      false,
      undefined,
      exporterOptions.withoutTargetInfo,
      exporterOptions.withoutScopeInfo
    )
    const scrape = Effect.map(
      Effect.promise(() => exporter.collect()),
      ({ resourceMetrics }) => serializer.serialize(resourceMetrics)
    )
    return tag.of({ scrape })
  }).pipe(Effect.provide(resourceLayer(options)))

export const make = (options?: Prometheus.Options): Effect.Effect<Prometheus.Prometheus, never, Scope.Scope> =>
  makeExporter(options, false) as Effect.Effect<Prometheus.Prometheus, never, Scope.Scope>

export const layer = (options?: Prometheus.Options): Layer.Layer<Prometheus.Prometheus> =>
  Layer.scoped(tag, make(options))

export const layerServer = (
  options?: Prometheus.ServerOptions
): Layer.Layer<Prometheus.Prometheus, PrometheusServerError> => Layer.scoped(tag, makeExporter(options, true))

export const layerServerConfig = (
  config: Config.Config.Wrap<Prometheus.ServerConfig>,
  options?: Prometheus.Options
): Layer.Layer<Prometheus.Prometheus, PrometheusServerError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(Config.unwrap(config), (server) => layerServer({ ...options, ...server })))

export const scrape: Effect.Effect<string, never, Prometheus.Prometheus> = Effect.flatMap(tag, (p) => p.scrape)
