import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Metric, MetricBoundaries, MetricKeyType, MetricLabel, Option, Ref, TestClock } from "effect"
import type { MetricState } from "effect"
import * as Fake from "./utils/FakeResource.js"
import { setup } from "./utils/TestPool.js"

// The OpenTelemetry names (semantic conventions for database client connection pools), with the same
// boundaries, descriptions and tags as the pool's own metrics, so that Metric.value reads the same state.
const poolName = "db.client.connection.pool.name"
const seconds = MetricBoundaries.exponential({ start: 0.0001, factor: 2, count: 20 })
const histograms = {
  wait: ["db.client.connection.wait_time", "The time it took to obtain an open connection from the pool (s)"],
  use: ["db.client.connection.use_time", "The time between borrowing a connection and returning it to the pool (s)"],
  create: ["db.client.connection.create_time", "The time it took to create a new connection (s)"]
} as const
const histogram = (which: keyof typeof histograms, pool: string) =>
  Metric.histogram(histograms[which][0], seconds, histograms[which][1]).pipe(Metric.tagged(poolName, pool))
const timeouts = (pool: string) =>
  Metric.counter("db.client.connection.timeouts", {
    description: "The number of connection timeouts that have occurred trying to obtain a connection from the pool",
    incremental: true
  }).pipe(Metric.tagged(poolName, pool))
const count = (pool: string, state: "idle" | "used") =>
  Metric.gauge("db.client.connection.count", {
    description: "Connections currently in the state described by the state attribute"
  }).pipe(Metric.tagged(poolName, pool), Metric.tagged("db.client.connection.state", state))
const max = (pool: string) =>
  Metric.gauge("db.client.connection.max", { description: "The maximum number of open connections allowed" }).pipe(
    Metric.tagged(poolName, pool)
  )
const idleMin = (pool: string) =>
  Metric.gauge("db.client.connection.idle.min", {
    description: "The minimum number of idle open connections allowed"
  }).pipe(Metric.tagged(poolName, pool))
const pendingRequests = (pool: string) =>
  Metric.gauge("db.client.connection.pending_requests", {
    description: "The number of current pending requests for an open connection"
  }).pipe(Metric.tagged(poolName, pool))

/** The gauges of a pool as one value: idle, used, max, idle.min, pending_requests. */
const gauges = (pool: string) =>
  Effect.all(
    [count(pool, "idle"), count(pool, "used"), max(pool), idleMin(pool), pendingRequests(pool)].map((g) =>
      Effect.map(Metric.value(g), (s) => s.value)
    )
  )

/**
 * A histogram's state, found in the registry by name and pool tag. `Metric.value` on a histogram built here
 * cannot be used: in Effect 3 two `MetricBoundaries` are equal only if they share the same array of values,
 * so a histogram rebuilt with equal boundaries is a different metric key. The boundaries are checked instead.
 */
const histogramValue = (which: keyof typeof histograms, pool: string) =>
  Effect.map(Metric.snapshot, (pairs) => {
    const found = pairs.filter((pair) =>
      pair.metricKey.name === histograms[which][0] &&
      pair.metricKey.tags.some((tag) => tag.key === poolName && tag.value === pool)
    )
    if (found.length === 0) return { count: 0, sum: 0, min: Number.MAX_VALUE, max: Number.MIN_VALUE }
    expect(found.length).toBe(1)
    const { metricKey, metricState } = found[0]!
    const expected = histogram(which, pool).keyType
    expect(MetricKeyType.isHistogramKey(metricKey.keyType)).toBe(true)
    expect((metricKey.keyType as typeof expected).boundaries.values).toEqual(expected.boundaries.values)
    expect(metricKey.description).toEqual(Option.some(histograms[which][1]))
    expect(metricKey.tags).toEqual([MetricLabel.make(poolName, pool)])
    const { count, max, min, sum } = metricState as MetricState.MetricState.Histogram
    return { count, sum, min, max }
  })

let sequence = 0
const uniqueName = (label: string) => `met-${label}-${Date.now()}-${++sequence}`

describe("OpenTelemetry-named Effect metrics", () => {
  it.effect("db.client.connection.wait_time records each acquisition's wait in seconds, at once", () =>
    Effect.gen(function*() {
      const name = uniqueName("wait")
      const { closeAndCheck, pool } = yield* setup({ name, minConnections: 1, maxConnections: 1 })
      expect(yield* histogramValue("wait", name)).toEqual({
        count: 0,
        sum: 0,
        min: Number.MAX_VALUE,
        max: Number.MIN_VALUE
      })
      const holder = yield* Effect.fork(pool.use(() => Effect.sleep("2 seconds")))
      yield* Fake.settle
      const waiter = yield* Effect.fork(pool.use(() => Effect.void))
      yield* Fake.settle
      // (Effect's histogram starts max at Number.MIN_VALUE, so a single 0 leaves max there.)
      expect(yield* histogramValue("wait", name)).toEqual({ count: 1, sum: 0, min: 0, max: Number.MIN_VALUE })
      yield* TestClock.adjust("2 seconds")
      yield* Fiber.join(holder)
      yield* Fiber.join(waiter)
      expect(yield* histogramValue("wait", name)).toEqual({ count: 2, sum: 2, min: 0, max: 2 })
      // Another pool's histogram is untouched.
      expect((yield* histogramValue("wait", `${name}-other`)).count).toBe(0)
      yield* closeAndCheck
    }))

  it.effect("db.client.connection.use_time records how long each lease was held", () =>
    Effect.gen(function*() {
      const name = uniqueName("use")
      const { closeAndCheck, pool } = yield* setup({ name, minConnections: 1, maxConnections: 1 })
      const user = yield* Effect.fork(pool.use(() => Effect.sleep("1500 millis")))
      yield* Fake.settle
      expect((yield* histogramValue("use", name)).count).toBe(0)
      yield* TestClock.adjust("1500 millis")
      yield* Fiber.join(user)
      yield* pool.use(() => Effect.void)
      expect(yield* histogramValue("use", name)).toEqual({ count: 2, sum: 1.5, min: 0, max: 1.5 })
      yield* closeAndCheck
    }))

  it.effect("db.client.connection.create_time records how long opening a connection took", () =>
    Effect.gen(function*() {
      const name = uniqueName("create")
      const { closeAndCheck, fake, pool } = yield* setup({ name, minConnections: 0, maxConnections: 1 })
      yield* Ref.set(fake.createMode, { _tag: "slow", delay: "300 millis" })
      const user = yield* Effect.fork(pool.use(() => Effect.void))
      yield* Fake.settle
      expect((yield* histogramValue("create", name)).count).toBe(0)
      yield* TestClock.adjust("300 millis")
      yield* Fiber.join(user)
      expect(yield* histogramValue("create", name)).toEqual({ count: 1, sum: 0.3, min: 0.3, max: 0.3 })
      expect(yield* histogramValue("wait", name)).toEqual({ count: 1, sum: 0.3, min: 0.3, max: 0.3 })
      yield* closeAndCheck
    }))

  it.effect("db.client.connection.timeouts counts acquisitions that ran past acquireTimeout", () =>
    Effect.gen(function*() {
      const name = uniqueName("timeouts")
      const { closeAndCheck, pool } = yield* setup({
        name,
        minConnections: 1,
        maxConnections: 1,
        acquireTimeout: "1 second"
      })
      const holder = yield* Effect.fork(pool.use(() => Effect.sleep("5 seconds")))
      yield* Fake.settle
      const waiters = yield* Effect.forEach([1, 2], () => Effect.fork(pool.use(() => Effect.void)))
      yield* Fake.settle
      expect((yield* Metric.value(timeouts(name))).count).toBe(0)
      yield* TestClock.adjust("1 second")
      yield* Fake.settle
      for (const w of waiters) expect((yield* Fiber.join(w).pipe(Effect.flip))._tag).toBe("PoolTimeoutError")
      expect((yield* Metric.value(timeouts(name))).count).toBe(2)
      expect((yield* pool.stats).timeouts).toBe(2)
      yield* TestClock.adjust("4 seconds")
      yield* Fiber.join(holder)
      yield* closeAndCheck
    }))

  it.effect("the gauges (count by state, max, idle.min, pending_requests) are published every statsInterval", () =>
    Effect.gen(function*() {
      const name = uniqueName("gauges")
      const { closeAndCheck, pool } = yield* setup({
        name,
        minConnections: 2,
        maxConnections: 2,
        statsInterval: "1 second"
      })
      // Published once when the pool is ready.
      expect(yield* gauges(name)).toEqual([2, 0, 2, 2, 0])
      const holders = yield* Effect.forEach([1, 2], () => Effect.fork(pool.use(() => Effect.sleep("3 seconds"))))
      const waiter = yield* Effect.fork(pool.use(() => Effect.void))
      yield* Fake.settle
      // Not yet: gauges follow the published statistics.
      expect(yield* gauges(name)).toEqual([2, 0, 2, 2, 0])
      yield* TestClock.adjust("1 second")
      yield* Fake.settle
      expect(yield* gauges(name)).toEqual([0, 2, 2, 2, 1])
      yield* TestClock.adjust("2 seconds")
      yield* Fake.settle
      yield* Fiber.joinAll([...holders, waiter])
      yield* TestClock.adjust("1 second")
      yield* Fake.settle
      expect(yield* gauges(name)).toEqual([2, 0, 2, 2, 0])
      yield* pool.resize({ min: 1, max: 3 })
      yield* TestClock.adjust("1 second")
      yield* Fake.settle
      expect(yield* gauges(name)).toEqual([2, 0, 3, 1, 0])
      yield* closeAndCheck
    }))
})
