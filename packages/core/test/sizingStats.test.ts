import { PoolSizing, ResourcePool } from "@dbpool/core"
import type { PoolStats } from "@dbpool/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import * as Fake from "./utils/FakeResource.js"

const bounds = (
  s: PoolStats.PoolStats
) => [s.minConnections, s.targetConnections, s.ceilingConnections, s.maxConnections]

describe("PoolStats: target and ceiling", () => {
  it.effect("a fixed pool: the target is minConnections and the ceiling maxConnections, resize included", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.make
      const pool = yield* ResourcePool.make({
        acquire: fake.acquire,
        release: fake.release,
        config: { name: "fixed", minConnections: 2, maxConnections: 5 }
      })
      yield* Fake.settle
      expect(bounds(yield* pool.stats)).toEqual([2, 2, 5, 5])
      yield* pool.resize({ min: 1, max: 3 })
      expect(bounds(yield* pool.stats)).toEqual([1, 1, 3, 3])
    }).pipe(Effect.scoped))

  it.effect("an adaptive pool: the target in the stats is the one each TargetChanged announces", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.make
      const pool = yield* ResourcePool.make({
        acquire: fake.acquire,
        release: fake.release,
        config: {
          name: "adaptive",
          minConnections: 1,
          maxConnections: 10,
          acquireTimeout: "1 hour",
          // no grace at shutdown: a failed expectation ends the test at once instead of waiting on the TestClock
          shutdownTimeout: 0,
          sizing: PoolSizing.adaptive({ interval: "1 second" })
        }
      })
      // Each TargetChanged, with the stats' target read in the same step.
      const seen: Array<[number, number]> = []
      yield* Effect.forkScoped(Stream.runForEach(pool.notices, (e) =>
        e._tag === "TargetChanged"
          ? Effect.map(pool.stats, (s) => void seen.push([e.to, s.targetConnections]))
          : Effect.void))
      yield* Fake.settle
      expect(bounds(yield* pool.stats)).toEqual([1, 1, 10, 10])
      // One caller every 100 ms holding 500 ms (about 5 in use): the controller raises the target.
      const load = yield* Effect.fork(Effect.forever(Effect.zipRight(
        Effect.forkDaemon(pool.use(() => Effect.sleep("500 millis"))),
        Effect.sleep("100 millis")
      )))
      for (let i = 0; i < 10; i++) yield* Fake.advance("1 second")
      const raised = (yield* pool.stats).targetConnections
      expect(raised).toBeGreaterThan(1)
      expect(seen.length).toBeGreaterThan(0)
      expect(seen[seen.length - 1]).toEqual([raised, raised])
      // The load stops: the target decays back to the minimum, tick by tick, and the stats follow every move.
      yield* Fiber.interrupt(load)
      const movesUp = seen.length
      for (let i = 0; i < 120 && (yield* pool.stats).targetConnections > 1; i++) yield* Fake.advance("1 second")
      expect((yield* pool.stats).targetConnections).toBe(1)
      expect(seen.length).toBeGreaterThan(movesUp)
      for (const [announced, read] of seen) expect(read).toBe(announced)
      const s = yield* pool.stats
      expect([s.activeConnections, s.waitingRequests]).toEqual([0, 0])
    }).pipe(Effect.scoped))
})
