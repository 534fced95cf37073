import { PoolEvent, ResourcePool } from "@dbpool/core"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, HashMap, Layer, Logger, Metric, Ref, Stream, TestClock } from "effect"
import * as Fake from "./utils/FakeResource.js"

/** Captures what the pool logs, with the level. */
const capture = () => {
  const lines: Array<string> = []
  const logger = Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ logLevel, message }) => {
      lines.push(`${logLevel.label} ${Array.isArray(message) ? message.join(" ") : String(message)}`)
    })
  )
  return { lines, logger }
}

const leaks = (pool: string) =>
  Metric.counter("dbpool.connection.leaks", {
    description: "Leases held longer than leakDetectionThreshold (each counted once)",
    incremental: true
  }).pipe(Metric.tagged("db.client.connection.pool.name", pool))

describe("leak detection", () => {
  it.effect("a lease held past leakDetectionThreshold is reported once, with where it was acquired, and its return is logged", () => {
    const { lines, logger } = capture()
    return Effect.gen(function*() {
      const fake = yield* Fake.make
      yield* Effect.gen(function*() {
        const pool = yield* ResourcePool.make({
          acquire: fake.acquire,
          release: fake.release,
          config: {
            name: "leak-1",
            minConnections: 1,
            maxConnections: 2,
            leakDetectionThreshold: "10 seconds",
            statsInterval: "1 day"
          }
        })
        const events = yield* Effect.fork(
          pool.events.pipe(Stream.filter(PoolEvent.PoolEvent.$is("LeakDetected")), Stream.take(1), Stream.runCollect)
        )
        yield* Fake.settle
        const holder = yield* Effect.fork(pool.use(() => Effect.sleep("60 seconds")))
        // A short lease on the other connection is never reported.
        yield* pool.use(() => Effect.sleep("5 seconds")).pipe(Effect.fork)
        yield* Fake.settle
        yield* TestClock.adjust("9999 millis")
        yield* Fake.settle
        expect(lines.filter((l) => l.includes("possible leak"))).toEqual([])
        expect((yield* Metric.value(leaks("leak-1"))).count).toBe(0)
        yield* TestClock.adjust("1 millis")
        yield* Fake.settle
        const warnings = lines.filter((l) => l.includes("possible leak"))
        expect(warnings.length).toBe(1)
        expect(warnings[0]).toMatch(/^WARN dbpool: connection leak-1-\d+ of pool "leak-1" has been held for 10000 ms/)
        expect(warnings[0]).toContain("lease acquired here")
        expect((yield* Metric.value(leaks("leak-1"))).count).toBe(1)
        const detected = Chunk.toReadonlyArray(yield* Fiber.join(events))
        expect(detected.map((e) => e.heldTime)).toEqual([10000])
        yield* TestClock.adjust("30 seconds")
        yield* Fake.settle
        expect(lines.filter((l) => l.includes("possible leak")).length).toBe(1)
        yield* TestClock.adjust("20 seconds")
        yield* Fiber.join(holder)
        expect(lines.filter((l) => l.includes("came back after 60000 ms"))).toHaveLength(1)
      }).pipe(Effect.scoped)
      yield* Fake.settle
      expect(yield* Ref.get(fake.released)).toBe(yield* Ref.get(fake.acquired))
    }).pipe(Effect.provide(logger))
  })

  it.effect("the warning names the span the lease was acquired in, and carries its trace ids as annotations", () => {
    const { lines, logger } = capture()
    const annotations: Array<Record<string, unknown>> = []
    const annotationLogger = Logger.make(({ annotations: a, message }) => {
      if (String(message).includes("possible leak")) annotations.push(Object.fromEntries(HashMap.toEntries(a)))
    })
    return Effect.gen(function*() {
      const fake = yield* Fake.make
      yield* Effect.gen(function*() {
        const pool = yield* ResourcePool.make({
          acquire: fake.acquire,
          release: fake.release,
          config: { name: "leak-3", minConnections: 1, leakDetectionThreshold: "1 second", statsInterval: "1 day" }
        })
        yield* Fake.settle
        const holder = yield* Effect.fork(
          Effect.withSpan(pool.use(() => Effect.sleep("2 seconds")), "handle-order")
        )
        yield* Fake.settle
        yield* TestClock.adjust("1 second")
        yield* Fake.settle
        const warnings = lines.filter((l) => l.includes("possible leak"))
        expect(warnings.length).toBe(1)
        expect(warnings[0]).toMatch(
          /Acquired in span "handle-order" \(trace [0-9a-f]+, span [0-9a-f]+\)\. Acquired at:/
        )
        const [, traceId, spanId] = /trace ([0-9a-f]+), span ([0-9a-f]+)/.exec(warnings[0]!)!
        expect(annotations).toEqual([{ traceId, spanId }])
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(holder)
      }).pipe(Effect.scoped)
      expect(yield* Ref.get(fake.released)).toBe(yield* Ref.get(fake.acquired))
    }).pipe(Effect.provide(Layer.merge(logger, Logger.add(annotationLogger))))
  })

  it.effect("leak detection is off by default and leakDetectionThreshold must be a positive duration", () =>
    Effect.gen(function*() {
      const { lines, logger } = capture()
      yield* Effect.gen(function*() {
        const pool = yield* ResourcePool.make({
          acquire: Effect.succeed(1),
          config: { name: "leak-2", minConnections: 1 }
        })
        const holder = yield* Effect.fork(pool.use(() => Effect.sleep("20 minutes")))
        yield* TestClock.adjust("20 minutes")
        yield* Fiber.join(holder)
      }).pipe(Effect.scoped, Effect.provide(logger))
      expect(lines.filter((l) => l.includes("possible leak"))).toEqual([])
      const error = yield* Effect.flip(
        ResourcePool.make({ acquire: Effect.succeed(1), config: { leakDetectionThreshold: 0 } }).pipe(Effect.scoped)
      )
      expect(error._tag === "PoolConfigError" && error.field).toBe("leakDetectionThreshold")
    }))
})
