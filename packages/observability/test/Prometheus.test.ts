import { ResourcePool } from "@dbpool/core"
import { Prometheus, PrometheusError } from "@dbpool/observability"
import { SparePort } from "@dbpool/testing"
import { describe, expect, it } from "@effect/vitest"
import { Config, ConfigProvider, Effect, Exit, Layer, Metric, Scope } from "effect"
import * as Net from "node:net"

const get = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(url)
    return { status: response.status, type: response.headers.get("content-type"), body: await response.text() }
  })

const lines = (text: string, pool: string) =>
  text.split("\n").filter((l) => l.includes(`="${pool}"`) && !l.includes("_bucket"))

describe("Prometheus", () => {
  it.scoped("scrape: every pool's series in the text format, labelled by pool name, only the pools' by default", () =>
    Effect.gen(function*() {
      const id = `${process.pid}-${Date.now()}`
      const a = yield* ResourcePool.make({
        acquire: Effect.succeed(1),
        config: { name: `scrape-a-${id}`, minConnections: 2, maxConnections: 4 }
      })
      yield* ResourcePool.make({
        acquire: Effect.succeed(1),
        config: { name: `scrape-b-${id}`, minConnections: 1, maxConnections: 7 }
      })
      yield* a.use(() => Effect.void)
      yield* Metric.increment(Metric.counter(`app_requests_${process.pid}`))
      const text = yield* Effect.scoped(Effect.flatMap(Prometheus.make(), (p) => p.scrape))
      expect(lines(text, `scrape-a-${id}`)).toEqual(expect.arrayContaining([
        `db_client_connection_max{db_client_connection_pool_name="scrape-a-${id}"} 4`,
        `db_client_connection_idle_min{db_client_connection_pool_name="scrape-a-${id}"} 2`,
        `db_client_connection_count{db_client_connection_pool_name="scrape-a-${id}",db_client_connection_state="idle"} 2`,
        `db_client_connection_timeouts_total{db_client_connection_pool_name="scrape-a-${id}"} 0`,
        `db_client_connection_wait_time_count{db_client_connection_pool_name="scrape-a-${id}"} 1`
      ]))
      expect(lines(text, `scrape-b-${id}`)).toContain(
        `db_client_connection_max{db_client_connection_pool_name="scrape-b-${id}"} 7`
      )
      expect(text).toContain("# TYPE db_client_connection_wait_time histogram")
      expect(text).toContain("# TYPE db_client_connection_timeouts_total counter")
      expect(text).not.toContain(`app_requests_${process.pid}`)
      // include: "all" adds the program's own metrics (as @effect/opentelemetry exports them: a counter that
      // is not `incremental` may go down, so it is a gauge).
      const all = yield* Effect.scoped(Effect.flatMap(Prometheus.make({ include: "all" }), (p) => p.scrape))
      expect(all.split("\n")).toContain(`app_requests_${process.pid} 1`)
    }))

  it.scoped("layerServer answers GET /metrics with the scrape, 404 elsewhere, and stops with its scope", () =>
    Effect.gen(function*() {
      const name = `serve-${process.pid}-${Date.now()}`
      yield* ResourcePool.make({ acquire: Effect.succeed(1), config: { name, minConnections: 1, maxConnections: 3 } })
      const port = yield* SparePort.get
      const scope = yield* Scope.make()
      const served = yield* Layer.buildWithScope(
        Prometheus.layerServerConfig({ port: Config.integer("METRICS_PORT"), endpoint: Config.string("METRICS_PATH") })
          .pipe(
            Layer.provide(
              Layer.setConfigProvider(ConfigProvider.fromJson({ METRICS_PORT: port, METRICS_PATH: "/pool-metrics" }))
            )
          ),
        scope
      )
      expect(served).toBeDefined()
      const ok = yield* get(`http://127.0.0.1:${port}/pool-metrics`)
      expect(ok.status).toBe(200)
      expect(lines(ok.body, name)).toContain(`db_client_connection_max{db_client_connection_pool_name="${name}"} 3`)
      expect((yield* get(`http://127.0.0.1:${port}/other`)).status).toBe(404)
      yield* Scope.close(scope, Exit.void)
      const after = yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${port}/pool-metrics`).then(() => "answered", () => "refused")
      )
      expect(after).toBe("refused")
    }))

  it.effect("layerServer fails with PrometheusServerError when its port is taken", () =>
    Effect.gen(function*() {
      const taken = yield* Effect.acquireRelease(
        Effect.async<Net.Server>((resume) => {
          const server = Net.createServer()
          server.listen({ host: "127.0.0.1", port: 0 }, () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
      )
      const port = (taken.address() as Net.AddressInfo).port
      const exit = yield* Effect.exit(Effect.scoped(Layer.build(Prometheus.layerServer({ port }))))
      expect(Exit.isFailure(exit)).toBe(true)
      const error = yield* Effect.flip(Effect.scoped(Layer.build(Prometheus.layerServer({ port }))))
      expect(error).toBeInstanceOf(PrometheusError.PrometheusServerError)
      expect(error.message).toContain(`could not listen on 127.0.0.1:${port}`)
      expect(error.message).toContain("EADDRINUSE")
    }).pipe(Effect.scoped))
})
