import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Ref, Scope, TestClock } from "effect"
import * as Fake from "./utils/FakeResource.js"
import { setup } from "./utils/TestPool.js"

/** A use that holds its lease on `verdict`, then gives it back: the caller does not wait for the verdict. */
const heldUse = (
  pool: Effect.Effect.Success<ReturnType<typeof setup>>["pool"],
  verdict: Effect.Effect<boolean>
) => pool.use((lease) => Effect.as(pool.hold(lease, verdict), lease.id))

describe("hold: a resource given back waits for its verdict", () => {
  it.effect("held, it stays active and lent to no one until the verdict; true: lent again, nothing closed", () =>
    Effect.gen(function*() {
      const { closeAndCheck, fake, pool } = yield* setup({
        name: "hold-1",
        minConnections: 1,
        maxConnections: 1,
        acquireTimeout: "10 seconds"
      })
      const verdict = yield* Deferred.make<boolean>()
      expect(yield* heldUse(pool, Deferred.await(verdict))).toBe("hold-1-1")
      yield* Fake.settle
      const held = yield* pool.stats
      expect([held.activeConnections, held.idleConnections, held.totalConnections]).toEqual([1, 0, 1])
      // The next borrower waits for the verdict, and then gets the same connection.
      const next = yield* Effect.fork(pool.use((lease) => Effect.succeed([lease.id, lease.usageCount] as const)))
      yield* Fake.settle
      expect((yield* pool.stats).waitingRequests).toBe(1)
      yield* Deferred.succeed(verdict, true)
      expect(yield* Fiber.join(next)).toEqual(["hold-1-1", 2])
      const stats = yield* pool.stats
      expect(stats.connectionsClosed.broken).toBe(0)
      expect(yield* Ref.get(fake.released)).toBe(0)
      yield* closeAndCheck
    }))

  it.effect("a verdict of false, or one that fails, closes the resource as broken", () =>
    Effect.gen(function*() {
      const { closeAndCheck, pool } = yield* setup({ name: "hold-2", minConnections: 0, maxConnections: 2 })
      yield* heldUse(pool, Effect.succeed(false))
      yield* heldUse(pool, Effect.die("verdict lost"))
      yield* Fake.settle
      const stats = yield* pool.stats
      expect([stats.connectionsClosed.broken, stats.activeConnections]).toEqual([2, 0])
      yield* closeAndCheck
    }))

  it.effect("an invalidated lease is closed at once, whatever it was held on", () =>
    Effect.gen(function*() {
      const { closeAndCheck, pool } = yield* setup({ name: "hold-3", minConnections: 0, maxConnections: 1 })
      yield* pool.use((lease) => Effect.zipRight(pool.hold(lease, Effect.never), pool.invalidate(lease)))
      yield* Fake.settle
      const stats = yield* pool.stats
      expect([stats.connectionsClosed.broken, stats.activeConnections]).toEqual([1, 0])
      yield* closeAndCheck
    }))

  it.effect("shutdown does not wait for a pending verdict: it is interrupted and the resource closed", () =>
    Effect.gen(function*() {
      const { checkAllClosedOnce, pool, scope } = yield* setup({
        name: "hold-4",
        minConnections: 1,
        maxConnections: 1,
        shutdownTimeout: "30 seconds"
      })
      const interrupted = yield* Deferred.make<void>()
      yield* heldUse(pool, Effect.onInterrupt(Effect.never, () => Deferred.succeed(interrupted, undefined)))
      // Closed without the clock moving: the shutdown's grace period is not spent on the verdict.
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* Fake.settle
      expect(yield* Deferred.isDone(interrupted)).toBe(true)
      expect(closing.unsafePoll()).not.toBeNull()
      yield* Fiber.join(closing)
      yield* TestClock.adjust("1 second")
      yield* checkAllClosedOnce
    }))
})
