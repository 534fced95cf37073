import { PoolError, ResourcePool } from "@dbpool/core"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, TestClock } from "effect"
import * as FakeResource from "./utils/FakeResource.js"

const poolOfOne = (fake: FakeResource.FakeResource) =>
  ResourcePool.make({
    acquire: fake.acquire,
    release: fake.release,
    config: { minConnections: 1, maxConnections: 1, acquireTimeout: "1 second" }
  })

/** Holds the pool's only connection until `done` is completed. */
const hold = (pool: ResourcePool.ResourcePool<FakeResource.FakeConnection, string>) =>
  Effect.gen(function*() {
    const done = yield* Deferred.make<void>()
    const holder = yield* Effect.fork(pool.use(() => Deferred.await(done)))
    yield* FakeResource.settle
    expect((yield* pool.stats).activeConnections).toBe(1)
    return { done, holder }
  })

describe("ResourcePool fairness", () => {
  it.effect("serves waiters in the order they arrived", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      yield* Effect.gen(function*() {
        const pool = yield* poolOfOne(fake)
        const { done, holder } = yield* hold(pool)
        const served: Array<number> = []
        const fibers: Array<Fiber.RuntimeFiber<void, unknown>> = []
        for (let i = 1; i <= 10; i++) {
          fibers.push(yield* Effect.fork(pool.use(() => Effect.sync(() => void served.push(i)))))
          yield* FakeResource.settle
        }
        expect((yield* pool.stats).waitingRequests).toBe(10)
        yield* Deferred.succeed(done, undefined)
        yield* Fiber.join(holder)
        yield* Fiber.joinAll(fibers)
        expect(served).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
        expect((yield* pool.stats).connectionsCreated).toBe(1)
      }).pipe(Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))

  it.effect("fails a waiter with PoolTimeoutError at exactly acquireTimeout, and counts it", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      yield* Effect.gen(function*() {
        const pool = yield* poolOfOne(fake)
        const { done, holder } = yield* hold(pool)
        const waiter = yield* Effect.fork(pool.use(() => Effect.void))
        yield* FakeResource.settle
        yield* TestClock.adjust("999 millis")
        yield* FakeResource.settle
        expect(waiter.unsafePoll()).toBeNull()
        const before = yield* pool.stats
        expect(before.timeouts).toBe(0)
        expect(before.failedRequests).toBe(0)
        expect(before.waitingRequests).toBe(1)
        yield* TestClock.adjust("1 millis")
        yield* FakeResource.settle
        const error = yield* Effect.flip(Fiber.join(waiter))
        expect(error).toBeInstanceOf(PoolError.PoolTimeoutError)
        if (error instanceof PoolError.PoolTimeoutError) expect(Duration.toMillis(error.timeout)).toBe(1000)
        const after = yield* pool.stats
        expect(after.timeouts).toBe(1)
        expect(after.failedRequests).toBe(1)
        expect(after.waitingRequests).toBe(0)
        expect(after.successfulRequests).toBe(1)
        yield* Deferred.succeed(done, undefined)
        yield* Fiber.join(holder)
      }).pipe(Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))

  it.effect("times each waiter from its own arrival", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      yield* Effect.gen(function*() {
        const pool = yield* poolOfOne(fake)
        const { done, holder } = yield* hold(pool)
        const first = yield* Effect.fork(pool.use(() => Effect.void))
        yield* FakeResource.settle
        yield* TestClock.adjust("400 millis")
        const second = yield* Effect.fork(pool.use(() => Effect.void))
        yield* FakeResource.settle
        yield* TestClock.adjust("600 millis")
        yield* FakeResource.settle
        expect(first.unsafePoll()?._tag).toBe("Failure")
        expect(second.unsafePoll()).toBeNull()
        yield* TestClock.adjust("399 millis")
        yield* FakeResource.settle
        expect(second.unsafePoll()).toBeNull()
        yield* TestClock.adjust("1 millis")
        yield* FakeResource.settle
        expect(second.unsafePoll()?._tag).toBe("Failure")
        expect((yield* pool.stats).timeouts).toBe(2)
        yield* Deferred.succeed(done, undefined)
        yield* Fiber.join(holder)
      }).pipe(Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))

  it.effect("never gives a connection to a waiter that timed out", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      yield* Effect.gen(function*() {
        const pool = yield* poolOfOne(fake)
        const { done, holder } = yield* hold(pool)
        let lateUses = 0
        const waiter = yield* Effect.fork(pool.use(() => Effect.sync(() => void lateUses++)))
        yield* FakeResource.settle
        yield* TestClock.adjust("1 second")
        yield* FakeResource.settle
        yield* Deferred.succeed(done, undefined)
        yield* Fiber.join(holder)
        yield* FakeResource.settle
        yield* TestClock.adjust("1 minute")
        yield* FakeResource.settle
        expect(lateUses).toBe(0)
        expect((yield* Fiber.await(waiter))._tag).toBe("Failure")
        const stats = yield* pool.stats
        expect(stats.activeConnections).toBe(0)
        expect(stats.idleConnections).toBe(1)
        expect(stats.successfulRequests).toBe(1)
        // The connection is still usable by the next caller.
        const id = yield* pool.use((lease) => Effect.succeed(lease.resource.id))
        expect(id).toBe(1)
      }).pipe(Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))
})
