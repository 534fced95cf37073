import { PoolEvent, ResourcePool } from "@dbpool/core"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Fiber, Ref, Scope, Stream, TestClock } from "effect"
import * as Fake from "./utils/FakeResource.js"
import { plainPool, setup } from "./utils/TestPool.js"

const closedError = (pool: string) => ({ _tag: "PoolClosedError", pool })

describe("closing the pool's scope", () => {
  it.effect("closes every idle connection once, with reason closed, and new acquisitions fail with PoolClosedError", () =>
    Effect.gen(function*() {
      const { checkAllClosedOnce, fake, pool, scope } = yield* setup({
        name: "sd-1",
        minConnections: 3,
        maxConnections: 5
      })
      expect(yield* Ref.get(fake.acquired)).toBe(3)
      yield* Scope.close(scope, Exit.void)
      yield* checkAllClosedOnce
      expect(yield* Ref.get(fake.released)).toBe(3)
      const error = yield* pool.use(() => Effect.void).pipe(Effect.flip)
      expect(error).toMatchObject(closedError("sd-1"))
      expect(error.message).toBe("Pool \"sd-1\" is closed")
      const viaGet = yield* pool.get.pipe(Effect.scoped, Effect.flip)
      expect(viaGet._tag).toBe("PoolClosedError")
      const stats = yield* pool.stats
      expect(stats.connectionsClosed).toEqual({ idle: 0, lifetime: 0, unhealthy: 0, broken: 0, closed: 3 })
      expect(stats.totalConnections).toBe(0)
      expect(stats.totalRequests).toBe(2)
      expect(stats.failedRequests).toBe(2)
      expect(yield* Ref.get(fake.attempts)).toBe(3)
    }))

  it.effect("waiters fail at once with PoolClosedError; a holder that finishes within shutdownTimeout returns normally", () =>
    Effect.gen(function*() {
      const { checkAllClosedOnce, fake, pool, scope } = yield* setup({
        name: "sd-2",
        minConnections: 1,
        maxConnections: 1,
        shutdownTimeout: "30 seconds"
      })
      const holder = yield* Effect.fork(pool.use((lease) => Effect.as(Effect.sleep("10 seconds"), lease.id)))
      yield* Fake.settle
      const waiters = yield* Effect.forEach([1, 2, 3], () => Effect.fork(pool.use(() => Effect.void)))
      yield* Fake.settle
      expect((yield* pool.stats).waitingRequests).toBe(3)

      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* Fake.settle
      // No time has passed: the waiters failed at once.
      for (const waiter of waiters) {
        const exit = yield* Fiber.await(waiter)
        expect(exit).toStrictEqual(Exit.fail(expect.objectContaining(closedError("sd-2"))))
      }
      // The lease in use is waited for, its connection still open.
      expect(closing.unsafePoll()).toBe(null)
      expect(yield* Ref.get(fake.released)).toBe(0)

      yield* TestClock.adjust("10 seconds")
      expect(yield* Fiber.join(holder)).toBe("sd-2-1")
      yield* Fiber.join(closing)
      yield* checkAllClosedOnce
      const stats = yield* pool.stats
      expect(stats.connectionsClosed).toEqual({ idle: 0, lifetime: 0, unhealthy: 0, broken: 0, closed: 1 })
      expect(stats.totalRequests).toBe(4)
      expect(stats.successfulRequests).toBe(1)
      expect(stats.failedRequests).toBe(3)
      expect(stats.waitingRequests).toBe(0)
    }))

  it.effect("a holder that outlasts shutdownTimeout has its connection closed at the timeout", () =>
    Effect.gen(function*() {
      const { checkAllClosedOnce, fake, pool, scope } = yield* setup({
        name: "sd-3",
        minConnections: 2,
        maxConnections: 2,
        shutdownTimeout: "5 seconds"
      })
      const holder = yield* Effect.fork(pool.use((lease) => Effect.as(Effect.sleep("1 minute"), lease.resource)))
      yield* Fake.settle
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* Fake.settle
      // The idle one is closed at once; the leased one is not.
      expect(yield* Ref.get(fake.released)).toBe(1)
      yield* TestClock.adjust("4999 millis")
      yield* Fake.settle
      expect(yield* Ref.get(fake.released)).toBe(1)
      expect(closing.unsafePoll()).toBe(null)

      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(closing)
      yield* checkAllClosedOnce
      expect(holder.unsafePoll()).toBe(null)
      // The holder finishes later; giving the connection back does not close it a second time.
      yield* TestClock.adjust("1 minute")
      const resource = yield* Fiber.join(holder)
      expect(resource.closed).toBe(true)
      yield* Fake.settle
      yield* checkAllClosedOnce
      const stats = yield* pool.stats
      expect(stats.connectionsClosed).toEqual({ idle: 0, lifetime: 0, unhealthy: 0, broken: 0, closed: 2 })
      expect(stats.activeConnections).toBe(0)
      expect(stats.totalConnections).toBe(0)
    }))

  it.effect("closing twice is harmless", () =>
    Effect.gen(function*() {
      const { checkAllClosedOnce, fake, pool, scope } = yield* setup({
        name: "sd-4",
        minConnections: 2,
        maxConnections: 2
      })
      yield* Scope.close(scope, Exit.void)
      const after = yield* pool.stats
      yield* Scope.close(scope, Exit.void)
      yield* Fake.settle
      expect(yield* pool.stats).toEqual(after)
      expect(yield* Ref.get(fake.released)).toBe(2)
      yield* checkAllClosedOnce
    }))

  it.effect("a creation in flight when the pool closes leaves nothing open", () =>
    Effect.gen(function*() {
      const { checkAllClosedOnce, fake, pool, scope } = yield* setup({
        name: "sd-5",
        minConnections: 0,
        maxConnections: 2
      })
      yield* Ref.set(fake.createMode, { _tag: "slow", delay: "2 seconds" })
      const waiter = yield* Effect.fork(pool.use(() => Effect.void))
      yield* Fake.settle
      expect((yield* pool.stats).pendingConnections).toBe(1)
      yield* Scope.close(scope, Exit.void)
      expect(yield* Fiber.await(waiter)).toStrictEqual(Exit.fail(expect.objectContaining(closedError("sd-5"))))
      yield* TestClock.adjust("5 seconds")
      yield* Fake.settle
      expect((yield* pool.stats).pendingConnections).toBe(0)
      yield* checkAllClosedOnce
    }))

  it.effect("a connection being validated on borrow when the grace period ends is closed, and never lent", () =>
    Effect.gen(function*() {
      const { fake, pool, scope } = yield* plainPool({
        name: "sd-6",
        minConnections: 1,
        maxConnections: 1,
        validateAfterIdle: 0,
        validationTimeout: "1 minute",
        healthCheckInterval: "1 hour",
        shutdownTimeout: "1 second"
      }, { validate: (fake) => fake.validate })
      yield* Ref.set(fake.validateMode, { _tag: "slow", delay: "10 seconds" })
      const user = yield* Effect.fork(pool.use((lease) => Effect.succeed(lease.resource.closed)))
      yield* Fake.settle
      expect(yield* Ref.get(fake.validations)).toBe(1)
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* Fake.settle
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(closing)
      expect(yield* Ref.get(fake.released)).toBe(1)
      yield* TestClock.adjust("10 seconds")
      expect(yield* Fiber.await(user)).toStrictEqual(Exit.fail(expect.objectContaining(closedError("sd-6"))))
      yield* Fake.settle
      const stats = yield* pool.stats
      expect(stats.activeConnections).toBe(0)
      expect(stats.totalConnections).toBe(0)
      expect(stats.connectionsClosed).toEqual({ idle: 0, lifetime: 0, unhealthy: 0, broken: 0, closed: 1 })
      expect(yield* Ref.get(fake.released)).toBe(yield* Ref.get(fake.acquired))
      expect(yield* Ref.get(fake.alive)).toEqual(new Set())
    }))

  it.effect("closing reports each connection's ConnectionClosed event with reason closed", () =>
    Effect.gen(function*() {
      const { checkAllClosedOnce, pool, scope } = yield* setup({ name: "sd-7", minConnections: 2, maxConnections: 3 })
      const holder = yield* Effect.fork(pool.use(() => Effect.sleep("2 seconds")))
      yield* Fake.settle
      const collector = yield* Effect.fork(pool.events.pipe(Stream.take(3), Stream.runCollect))
      yield* Fake.settle
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* Fake.settle
      yield* TestClock.adjust("2 seconds")
      yield* Fiber.join(holder)
      yield* Fiber.join(closing)
      const events = Chunk.toReadonlyArray(yield* Fiber.join(collector))
      expect(events).toEqual([
        PoolEvent.PoolEvent.ConnectionClosed({ connectionId: "sd-7-1", reason: "closed" }),
        PoolEvent.PoolEvent.ConnectionReleased({ connectionId: "sd-7-2", useTime: 2000 }),
        PoolEvent.PoolEvent.ConnectionClosed({ connectionId: "sd-7-2", reason: "closed" })
      ])
      yield* checkAllClosedOnce
    }))
  it.effect("a replacement opened just as the pool closes is closed, whatever the moment of the close", () =>
    Effect.gen(function*() {
      // Closing after 0..8 yields lands at every step of the replacement's creation in turn.
      for (let yields = 0; yields <= 8; yields++) {
        let open = 0
        yield* Effect.gen(function*() {
          const pool = yield* ResourcePool.make({
            acquire: Effect.sync(() => ++open),
            release: () => Effect.sync(() => void open--),
            config: { minConnections: 1, maxConnections: 3 }
          })
          yield* pool.use((lease) => pool.invalidate(lease))
          for (let i = 0; i < yields; i++) yield* Effect.yieldNow()
        }).pipe(Effect.scoped)
        expect({ yields, open }).toEqual({ yields, open: 0 })
      }
    }))
})
