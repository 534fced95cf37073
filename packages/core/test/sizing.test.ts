import { ResourcePool } from "@dbpool/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Ref, TestClock } from "effect"
import * as FakeResource from "./utils/FakeResource.js"

describe("ResourcePool sizing", () => {
  it.effect("has minConnections open and idle when make returns", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      yield* Effect.gen(function*() {
        const pool = yield* ResourcePool.make({
          acquire: fake.acquire,
          release: fake.release,
          config: { minConnections: 3, maxConnections: 10 }
        })
        expect((yield* Ref.get(fake.alive)).size).toBe(3)
        const stats = yield* pool.stats
        expect(stats.totalConnections).toBe(3)
        expect(stats.idleConnections).toBe(3)
        expect(stats.pendingConnections).toBe(0)
        expect(stats.connectionsCreated).toBe(3)
      }).pipe(Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))

  it.effect("make waits for slow creations of the minimum, maxConnecting at a time", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      yield* Ref.set(fake.createMode, { _tag: "slow", delay: "100 millis" })
      yield* Effect.gen(function*() {
        const making = yield* Effect.fork(ResourcePool.make({
          acquire: fake.acquire,
          release: fake.release,
          config: { minConnections: 6, maxConnections: 10, maxConnecting: 4 }
        }))
        yield* FakeResource.settle
        expect(yield* Ref.get(fake.attempts)).toBe(4)
        yield* TestClock.adjust("100 millis")
        yield* FakeResource.settle
        expect((yield* Ref.get(fake.alive)).size).toBe(4)
        expect(making.unsafePoll()).toBeNull()
        yield* TestClock.adjust("99 millis")
        yield* FakeResource.settle
        expect(making.unsafePoll()).toBeNull()
        yield* TestClock.adjust("1 millis")
        const pool = yield* Fiber.join(making)
        expect((yield* Ref.get(fake.alive)).size).toBe(6)
        expect((yield* pool.stats).idleConnections).toBe(6)
      }).pipe(Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))

  it.effect("never has more than maxConnections open, creations in flight included, with 1,000 fibers asking at once", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      const max = 10
      // Connections open plus creations started and not finished, sampled whenever a creation starts
      // (the only moment the count can rise) and whenever a caller gets a connection.
      let inFlight = 0
      let peak = 0
      const sample = Effect.map(Ref.get(fake.alive), (alive) => {
        peak = Math.max(peak, alive.size + inFlight)
      })
      const acquire = Effect.suspend(() => {
        inFlight++
        return Effect.zipRight(sample, fake.acquire)
      }).pipe(Effect.ensuring(Effect.sync(() => inFlight--)))
      let impossibleStats = 0
      yield* Effect.gen(function*() {
        const pool = yield* ResourcePool.make({
          acquire,
          release: fake.release,
          config: { minConnections: 2, maxConnections: max, acquireTimeout: "1 hour" }
        })
        yield* Ref.set(fake.createMode, { _tag: "slow", delay: "7 millis" })
        const fibers = yield* Effect.forEach(
          Array.from({ length: 1000 }, (_, i) => i),
          (i) =>
            Effect.fork(pool.use(() =>
              Effect.gen(function*() {
                yield* sample
                const s = yield* pool.stats
                if (
                  s.totalConnections + s.pendingConnections > max ||
                  s.activeConnections + s.idleConnections > s.totalConnections
                ) impossibleStats++
                yield* Effect.sleep(`${1 + (i % 5)} millis`)
              })
            ))
        )
        yield* FakeResource.settle
        const waiting = yield* pool.stats
        expect(waiting.waitingRequests).toBeGreaterThan(900)
        expect(waiting.totalConnections + waiting.pendingConnections).toBe(max)
        for (let step = 0; step < 400; step++) {
          yield* TestClock.adjust("5 millis")
          if (fibers.every((f) => f.unsafePoll() !== null)) break
        }
        yield* Fiber.joinAll(fibers)
        const stats = yield* pool.stats
        expect(stats.successfulRequests).toBe(1000)
        expect(stats.failedRequests).toBe(0)
        expect(stats.connectionsCreated).toBe(max)
      }).pipe(Effect.scoped)
      expect(peak).toBe(max)
      expect(impossibleStats).toBe(0)
      yield* FakeResource.expectNoLeak(fake)
    }))
})
