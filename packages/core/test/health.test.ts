import { ResourcePool } from "@dbpool/core"
import type { PoolEvent } from "@dbpool/core"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Ref, Schedule, Stream } from "effect"
import * as FakeResource from "./utils/FakeResource.js"

/** The fake's validate, recording which connections were checked. */
const recording = (fake: FakeResource.FakeResource) => {
  const checked: Array<number> = []
  const validate = (conn: FakeResource.FakeConnection) =>
    Effect.zipRight(Effect.sync(() => void checked.push(conn.id)), fake.validate(conn))
  return { checked, validate }
}

// Long idle and lifetime limits, rare stats: only the health checks act in these tests.
const quiet = { maxIdleTime: "1 day", maxLifetime: "1 day", statsInterval: "1 day" } as const

describe("ResourcePool health checks", () => {
  it.effect("validates idle connections every healthCheckInterval", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      const { checked, validate } = recording(fake)
      yield* Effect.gen(function*() {
        yield* ResourcePool.make({
          acquire: fake.acquire,
          release: fake.release,
          validate,
          config: { ...quiet, minConnections: 3, maxConnections: 5, healthCheckInterval: "30 seconds" }
        })
        yield* FakeResource.advance("29999 millis")
        expect(checked).toEqual([])
        yield* FakeResource.advance("1 millis")
        expect([...checked].sort()).toEqual([1, 2, 3])
        yield* FakeResource.advance("29999 millis")
        expect(checked.length).toBe(3)
        yield* FakeResource.advance("1 millis")
        expect(checked.length).toBe(6)
      }).pipe(Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))

  it.effect("runs a round at each recurrence of a custom healthCheckSchedule instead of the interval", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      yield* Effect.gen(function*() {
        yield* ResourcePool.make({
          acquire: fake.acquire,
          release: fake.release,
          validate: fake.validate,
          config: {
            ...quiet,
            minConnections: 2,
            maxConnections: 2,
            healthCheckInterval: "1 second",
            // Rounds after 1 s, 3 s (1 + 2) and 7 s (1 + 2 + 4).
            healthCheckSchedule: Schedule.exponential("1 second")
          }
        })
        const counts: Array<number> = []
        for (let s = 0; s < 8; s++) {
          yield* FakeResource.advance("1 second")
          counts.push(yield* Ref.get(fake.validations))
        }
        expect(counts).toEqual([2, 2, 4, 4, 4, 4, 6, 6])
      }).pipe(Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))

  it.effect("validates only idle connections, never one in use", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      const { checked, validate } = recording(fake)
      yield* Effect.gen(function*() {
        const pool = yield* ResourcePool.make({
          acquire: fake.acquire,
          release: fake.release,
          validate,
          config: { ...quiet, minConnections: 3, maxConnections: 3, healthCheckInterval: "30 seconds" }
        })
        const done = yield* Deferred.make<void>()
        const user = yield* Effect.fork(pool.use((lease) => Effect.as(Deferred.await(done), lease.resource.id)))
        yield* FakeResource.settle
        yield* FakeResource.advance("30 seconds")
        yield* Deferred.succeed(done, undefined)
        const inUse = yield* Fiber.join(user)
        expect(checked.length).toBe(2)
        expect(checked).not.toContain(inUse)
      }).pipe(Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))

  it.effect("closes unhealthy idle connections, counts them, and refills to the minimum", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      yield* Effect.gen(function*() {
        const pool = yield* ResourcePool.make({
          acquire: fake.acquire,
          release: fake.release,
          validate: fake.validate,
          config: { ...quiet, minConnections: 3, maxConnections: 5, healthCheckInterval: "30 seconds" }
        })
        yield* Ref.set(fake.unhealthy, new Set([2]))
        yield* FakeResource.advance("30 seconds")
        const stats = yield* pool.stats
        expect(stats.connectionsClosed.unhealthy).toBe(1)
        expect(stats.totalConnections).toBe(3)
        expect(stats.connectionsCreated).toBe(4)
        expect(stats.unhealthyConnections).toBe(0)
        expect(yield* Ref.get(fake.alive)).toEqual(new Set([1, 3, 4]))
      }).pipe(Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))

  it.effect("publishes HealthCheckStarted and HealthCheckCompleted for each connection checked", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      const events: Array<PoolEvent.PoolEvent> = []
      yield* Effect.gen(function*() {
        const pool = yield* ResourcePool.make({
          acquire: fake.acquire,
          release: fake.release,
          validate: fake.validate,
          config: { ...quiet, minConnections: 2, maxConnections: 2, healthCheckInterval: "30 seconds", name: "hc" }
        })
        yield* Effect.fork(Stream.runForEach(pool.events, (event) => Effect.sync(() => void events.push(event))))
        yield* FakeResource.settle
        yield* Ref.set(fake.unhealthy, new Set([1]))
        yield* FakeResource.advance("30 seconds")
      }).pipe(Effect.scoped)
      const checks = events
        .filter((e) => e._tag === "HealthCheckStarted" || e._tag === "HealthCheckCompleted")
        .map((e) => e._tag === "HealthCheckCompleted" ? [e._tag, e.connectionId, e.healthy] : [e._tag, e.connectionId])
      expect(checks).toEqual([
        ["HealthCheckStarted", "hc-1"],
        ["HealthCheckCompleted", "hc-1", false],
        ["HealthCheckStarted", "hc-2"],
        ["HealthCheckCompleted", "hc-2", true]
      ])
      yield* FakeResource.expectNoLeak(fake)
    }))
})

describe("ResourcePool validate-on-borrow", () => {
  it.effect("validates a connection idle longer than validateAfterIdle before lending it, and not one idle less", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      yield* Effect.gen(function*() {
        const pool = yield* ResourcePool.make({
          acquire: fake.acquire,
          release: fake.release,
          validate: fake.validate,
          config: {
            ...quiet,
            minConnections: 1,
            maxConnections: 1,
            healthCheckInterval: "1 day",
            validateAfterIdle: "10 seconds"
          }
        })
        yield* FakeResource.advance("9 seconds")
        yield* pool.use(() => Effect.void)
        expect(yield* Ref.get(fake.validations)).toBe(0)
        yield* FakeResource.advance("11 seconds")
        yield* pool.use(() => Effect.void)
        expect(yield* Ref.get(fake.validations)).toBe(1)
      }).pipe(Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))

  it.effect("replaces a connection that fails validation on borrow, without the caller seeing it", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      yield* Effect.gen(function*() {
        const pool = yield* ResourcePool.make({
          acquire: fake.acquire,
          release: fake.release,
          validate: fake.validate,
          config: {
            ...quiet,
            minConnections: 1,
            maxConnections: 1,
            healthCheckInterval: "1 day",
            validateAfterIdle: "10 seconds"
          }
        })
        yield* Ref.set(fake.unhealthy, new Set([1]))
        yield* FakeResource.advance("11 seconds")
        const user = yield* Effect.fork(pool.use((lease) => Effect.succeed(lease.resource.id)))
        yield* FakeResource.settle
        expect(yield* Fiber.join(user)).toBe(2)
        const stats = yield* pool.stats
        expect(stats.connectionsClosed.unhealthy).toBe(1)
        expect(stats.failedRequests).toBe(0)
        expect(stats.successfulRequests).toBe(1)
        expect(yield* Ref.get(fake.alive)).toEqual(new Set([2]))
      }).pipe(Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))
  it.effect("bounds a check on borrow by acquireTimeout: a hung check fails the caller at its deadline", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      yield* Effect.gen(function*() {
        const pool = yield* ResourcePool.make({
          acquire: fake.acquire,
          release: fake.release,
          validate: fake.validate,
          config: {
            ...quiet,
            minConnections: 1,
            maxConnections: 1,
            healthCheckInterval: "1 day",
            acquireTimeout: "100 millis",
            validationTimeout: "1 second",
            validateAfterIdle: "50 millis",
            retryInterval: "1 day"
          }
        })
        yield* FakeResource.advance("100 millis")
        yield* Ref.set(fake.validateMode, { _tag: "hang" })
        const caller = yield* Effect.fork(pool.use(() => Effect.void))
        yield* FakeResource.advance("99 millis")
        expect(caller.unsafePoll()).toBeNull()
        yield* FakeResource.advance("1 millis")
        const exit = yield* Fiber.await(caller)
        expect(exit._tag === "Failure" && exit.cause._tag === "Fail" ? exit.cause.error._tag : exit).toBe(
          "PoolTimeoutError"
        )
        const stats = yield* pool.stats
        expect(stats.connectionsClosed.unhealthy).toBe(1)
        expect(stats.timeouts).toBe(1)
        yield* Ref.set(fake.validateMode, { _tag: "ok" })
      }).pipe(Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))
})
