import { ResourcePool } from "@dbpool/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, TestClock } from "effect"

describe("smoke", () => {
  it.scoped("basic", () =>
    Effect.gen(function*() {
      let opened = 0
      let closed = 0
      const pool = yield* ResourcePool.make({
        acquire: Effect.sync(() => ++opened),
        release: () => Effect.sync(() => void closed++),
        config: { minConnections: 2, maxConnections: 3, acquireTimeout: "1 second" }
      })
      expect((yield* pool.stats).idleConnections).toBe(2)
      const r = yield* pool.use((l) => Effect.succeed(l.resource))
      expect(r).toBe(2)
      const fibers = yield* Effect.forEach([1, 2, 3, 4], () => Effect.fork(pool.use(() => Effect.sleep("10 seconds"))))
      yield* Effect.yieldNow()
      yield* TestClock.adjust("1 second")
      console.log(yield* pool.stats)
      yield* TestClock.adjust("10 seconds")
      const exits = yield* Effect.forEach(fibers, Fiber.await)
      console.log(exits.map((e) => e._tag), yield* pool.stats)
    }))
})
