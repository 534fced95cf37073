import { ResourcePool } from "@dbpool/core"
import type { PoolStats } from "@dbpool/core/PoolStats"
import { PoolTelemetry } from "@dbpool/observability"
import { describe, expect, it } from "@effect/vitest"
import type { DataPoint, Histogram, MetricData, ResourceMetrics } from "@opentelemetry/sdk-metrics"
import { MetricReader } from "@opentelemetry/sdk-metrics"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect, Exit, Fiber, Scope, TestClock } from "effect"

/** A pull reader that keeps nothing: each `collect` asks the producer now. */
class InMemoryReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve()
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve()
  }
}

const poolAttribute = "db.client.connection.pool.name"
const stateAttribute = "db.client.connection.state"

const metricsOf = (resourceMetrics: ResourceMetrics): ReadonlyArray<MetricData> =>
  resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics)

/** The points of one metric of one pool. */
const pointsOf = (metrics: ReadonlyArray<MetricData>, name: string, pool: string) => {
  const metric = metrics.find((m) => m.descriptor.name === name)
  if (metric === undefined) throw new Error(`no metric ${name}`)
  return (metric.dataPoints as ReadonlyArray<DataPoint<unknown>>).filter((p) => p.attributes[poolAttribute] === pool)
}
const valueOf = (metrics: ReadonlyArray<MetricData>, name: string, pool: string, state?: string) => {
  const points = pointsOf(metrics, name, pool).filter((p) =>
    state === undefined || p.attributes[stateAttribute] === state
  )
  expect(points.length).toBe(1)
  return points[0]!.value
}

const settle = Effect.repeatN(Effect.yieldNow(), 50)

describe("PoolTelemetry", () => {
  it.scoped("exports the pool's metrics with their names, units, attributes and the values of its own stats", () =>
    Effect.gen(function*() {
      const name = `otel-${Date.now()}`
      const reader = new InMemoryReader()
      const spans = new InMemorySpanExporter()
      const telemetry = PoolTelemetry.layer({
        resource: { serviceName: "dbpool-test" },
        metricReader: reader,
        spanProcessor: new SimpleSpanProcessor(spans)
      })
      const stats = yield* Effect.gen(function*() {
        const scope = yield* Scope.make()
        let opened = 0
        const pool = yield* ResourcePool.make({
          acquire: Effect.sync(() => ({ id: ++opened })),
          config: { name, minConnections: 1, maxConnections: 2, acquireTimeout: "2 seconds" }
        }).pipe(Scope.extend(scope))
        // Four callers hold a connection for a second each: two at once, two wait a second for them.
        const users = yield* Effect.forEach(
          [1, 2, 3, 4],
          () => Effect.fork(pool.use(() => Effect.sleep("1 second"))),
          { concurrency: "unbounded" }
        )
        yield* settle
        yield* TestClock.adjust("1 second")
        yield* settle
        yield* TestClock.adjust("1 second")
        yield* Fiber.joinAll(users)
        // Two hold both connections for 5 seconds; a fifth caller gives up after acquireTimeout.
        const holders = yield* Effect.forEach(
          [1, 2],
          () => Effect.fork(pool.use(() => Effect.sleep("5 seconds"))),
          { concurrency: "unbounded" }
        )
        yield* settle
        const late = yield* Effect.fork(pool.use(() => Effect.void))
        yield* settle
        yield* TestClock.adjust("2 seconds") // the late caller times out; a second publication of the stats
        expect((yield* Fiber.await(late))._tag).toBe("Failure")
        yield* TestClock.adjust("1 second")
        const during = yield* pool.stats
        const result = yield* Effect.promise(() => reader.collect())
        yield* TestClock.adjust("2 seconds")
        yield* Fiber.joinAll(holders)
        yield* Scope.close(scope, Exit.void)
        // Read before the layer closes: shutting the SDK down empties the in-memory exporter.
        return { during, result, spans: spans.getFinishedSpans() }
      }).pipe(Effect.provide(telemetry))
      const s: PoolStats = stats.during
      expect(s).toMatchObject({ activeConnections: 2, idleConnections: 0, totalConnections: 2, timeouts: 1 })
      expect(stats.result.errors).toEqual([])
      const metrics = metricsOf(stats.result.resourceMetrics)

      // Names and units of the semantic conventions; only the pools' metrics.
      expect(Object.fromEntries(metrics.map((m) => [m.descriptor.name, m.descriptor.unit]))).toEqual({
        "db.client.connection.count": "{connection}",
        "db.client.connection.max": "{connection}",
        "db.client.connection.idle.min": "{connection}",
        "db.client.connection.pending_requests": "{request}",
        "db.client.connection.timeouts": "{timeout}",
        "db.client.connection.create_time": "s",
        "db.client.connection.wait_time": "s",
        "db.client.connection.use_time": "s",
        "dbpool.circuit.open": "1",
        "dbpool.connection.leaks": "{lease}"
      })
      // Attributes: the pool's name everywhere, the state on the count.
      expect(pointsOf(metrics, "db.client.connection.count", name).map((p) => p.attributes)).toEqual(
        expect.arrayContaining([
          { [poolAttribute]: name, [stateAttribute]: "idle" },
          { [poolAttribute]: name, [stateAttribute]: "used" }
        ])
      )
      expect(pointsOf(metrics, "db.client.connection.max", name).map((p) => p.attributes)).toEqual([
        { [poolAttribute]: name }
      ])
      // Values: those of the pool's own stats.
      expect(valueOf(metrics, "db.client.connection.count", name, "idle")).toBe(s.idleConnections)
      expect(valueOf(metrics, "db.client.connection.count", name, "used")).toBe(s.activeConnections)
      expect(valueOf(metrics, "db.client.connection.max", name)).toBe(s.maxConnections)
      expect(valueOf(metrics, "db.client.connection.idle.min", name)).toBe(s.minConnections)
      expect(valueOf(metrics, "db.client.connection.pending_requests", name)).toBe(s.waitingRequests)
      expect(valueOf(metrics, "db.client.connection.timeouts", name)).toBe(s.timeouts)
      expect(valueOf(metrics, "dbpool.circuit.open", name)).toBe(0)
      expect(valueOf(metrics, "dbpool.connection.leaks", name)).toBe(0)
      const wait = valueOf(metrics, "db.client.connection.wait_time", name) as Histogram
      // Six acquisitions got a connection: four waited 0, 0, 1 and 1 second, the two holders 0.
      expect(s.successfulRequests).toBe(6)
      expect({ count: wait.count, sum: wait.sum, min: wait.min, max: wait.max }).toEqual({
        count: s.successfulRequests,
        sum: 2,
        min: 0,
        max: 1
      })
      expect(wait.sum! / wait.count * 1000).toBeCloseTo(s.averageAcquireTime, 6)
      const use = valueOf(metrics, "db.client.connection.use_time", name) as Histogram
      expect({ count: use.count, sum: use.sum }).toEqual({ count: 4, sum: 4 }) // the two holders still hold
      const create = valueOf(metrics, "db.client.connection.create_time", name) as Histogram
      expect(create.count).toBe(s.connectionsCreated)

      // Spans: each caller who waited did so in a dbpool.acquire span naming the pool: the second caller for
      // the connection being opened (no time passes on the TestClock), the third and fourth for a second, the
      // late one until it timed out (its span ends in error).
      const acquires = stats.spans.filter((span) => span.name === "dbpool.acquire")
      expect(acquires.map((span) => span.attributes[poolAttribute])).toEqual([name, name, name, name])
      expect(acquires.map((span) => span.duration[0] * 1000 + span.duration[1] / 1e6)).toEqual([0, 1000, 1000, 2000])
      expect(acquires.map((span) => span.status.code)).toEqual([1, 1, 1, 2]) // OK, OK, OK, ERROR
    }))
})
