import { PoolError, ResourcePool } from "@dbpool/core"
import type { PoolEvent } from "@dbpool/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Ref, Schedule, Stream } from "effect"
import * as FakeResource from "./utils/FakeResource.js"

/** The error a failed fiber ended with, when it failed with a `ConnectError`. */
const connectErrorOf = <A, E>(fiber: Fiber.Fiber<A, E>) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(Fiber.join(fiber))
    expect(error).toBeInstanceOf(PoolError.ConnectError)
    return error as PoolError.ConnectError<string>
  })

// A failing creation must not be awaited by make: no minimum. Long waits, rare stats.
const base = { minConnections: 0, maxConnections: 2, acquireTimeout: "1 hour", statsInterval: "1 day" } as const

describe("ResourcePool connection retries", () => {
  it.effect("retries on the default schedule: retryInterval doubling with jitter, maxRetries times", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      yield* Ref.set(fake.createMode, { _tag: "fail", error: "connection refused" })
      yield* Effect.gen(function*() {
        const pool = yield* ResourcePool.make({
          acquire: fake.acquire,
          release: fake.release,
          config: { ...base, retryInterval: "1 second", maxRetries: 3 }
        })
        const caller = yield* Effect.fork(pool.use(() => Effect.void))
        // Delays of 1 s, 2 s and 4 s, each jittered by a factor between 0.8 and 1.2.
        const attemptsAt: Array<number> = []
        for (const step of [700, 600, 1000, 1400, 1800, 3000]) {
          yield* FakeResource.advance(step)
          attemptsAt.push(yield* Ref.get(fake.attempts))
        }
        // after 0.7 s, 1.3 s, 2.3 s, 3.7 s, 5.5 s, 8.5 s
        expect(attemptsAt).toEqual([1, 2, 2, 3, 3, 4])
        const error = yield* connectErrorOf(caller)
        expect(error.attempts).toBe(4)
        expect(error.reason).toBe("failed")
        expect(error.cause).toBe("connection refused")
        const stats = yield* pool.stats
        expect(stats.connectFailures).toBe(4)
        expect(stats.failedRequests).toBe(1)
        expect(stats.totalConnections).toBe(0)
        yield* FakeResource.advance("1 minute")
        expect(yield* Ref.get(fake.attempts)).toBe(4)
      }).pipe(Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))

  it.effect("retries on a custom retrySchedule, then fails the waiter with the last cause", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      yield* Ref.set(fake.createMode, { _tag: "fail", error: "too many connections" })
      yield* Effect.gen(function*() {
        const pool = yield* ResourcePool.make({
          acquire: fake.acquire,
          release: fake.release,
          config: {
            ...base,
            retrySchedule: Schedule.spaced("250 millis").pipe(Schedule.intersect(Schedule.recurs(2)))
          }
        })
        const caller = yield* Effect.fork(pool.use(() => Effect.void))
        yield* FakeResource.settle
        expect(yield* Ref.get(fake.attempts)).toBe(1)
        yield* FakeResource.advance("249 millis")
        expect(yield* Ref.get(fake.attempts)).toBe(1)
        yield* FakeResource.advance("1 millis")
        expect(yield* Ref.get(fake.attempts)).toBe(2)
        expect(caller.unsafePoll()).toBeNull()
        yield* FakeResource.advance("250 millis")
        expect(yield* Ref.get(fake.attempts)).toBe(3)
        const error = yield* connectErrorOf(caller)
        expect(error.attempts).toBe(3)
        expect(error.cause).toBe("too many connections")
      }).pipe(Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))

  it.effect("succeeds on a later attempt and hands the connection to the waiter", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      yield* Ref.set(fake.createMode, { _tag: "fail", error: "starting up" })
      yield* Effect.gen(function*() {
        const pool = yield* ResourcePool.make({
          acquire: fake.acquire,
          release: fake.release,
          config: { ...base, retrySchedule: Schedule.spaced("1 second") }
        })
        const caller = yield* Effect.fork(pool.use((lease) => Effect.succeed(lease.resource.id)))
        yield* FakeResource.advance("1 second")
        yield* Ref.set(fake.createMode, { _tag: "ok" })
        yield* FakeResource.advance("1 second")
        expect(yield* Fiber.join(caller)).toBe(1)
        expect(yield* Ref.get(fake.attempts)).toBe(3)
        expect((yield* pool.stats).connectFailures).toBe(2)
      }).pipe(Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))

  it.effect("bounds each attempt by connectTimeout and fails with reason \"timeout\"", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      yield* Ref.set(fake.createMode, { _tag: "hang" })
      const failures: Array<unknown> = []
      yield* Effect.gen(function*() {
        const pool = yield* ResourcePool.make({
          acquire: fake.acquire,
          release: fake.release,
          config: { ...base, connectTimeout: "2 seconds", maxRetries: 1, retryInterval: "1 second" }
        })
        yield* Effect.fork(Stream.runForEach(pool.events, (event: PoolEvent.PoolEvent) =>
          Effect.sync(() => {
            if (event._tag === "ConnectFailed") failures.push([event.attempt, event.cause])
          })))
        yield* FakeResource.settle
        const caller = yield* Effect.fork(pool.use(() => Effect.void))
        yield* FakeResource.advance("1999 millis")
        expect(failures).toEqual([])
        yield* FakeResource.advance("1 millis")
        expect(failures).toEqual([[1, "timeout"]])
        expect(caller.unsafePoll()).toBeNull()
        // second attempt after a jittered 1 s delay (0.8 s to 1.2 s), timed out 2 s later
        yield* FakeResource.advance("2799 millis")
        expect(yield* Ref.get(fake.attempts)).toBe(2)
        expect(caller.unsafePoll()).toBeNull()
        yield* FakeResource.advance("401 millis")
        const error = yield* connectErrorOf(caller)
        expect(error.reason).toBe("timeout")
        expect(error.attempts).toBe(2)
        expect(Duration.toMillis(error.timeout ?? Duration.zero)).toBe(2000)
        expect(failures).toEqual([[1, "timeout"], [2, "timeout"]])
        expect((yield* pool.stats).connectFailures).toBe(2)
      }).pipe(Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))

  it.effect("does not retry an error that retryable rejects", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      yield* Ref.set(fake.createMode, { _tag: "fail", error: "password authentication failed" })
      yield* Effect.gen(function*() {
        const pool = yield* ResourcePool.make({
          acquire: fake.acquire,
          release: fake.release,
          retryable: (error) => !error.startsWith("password"),
          config: { ...base, retryInterval: "1 second", maxRetries: 3 }
        })
        const caller = yield* Effect.fork(pool.use(() => Effect.void))
        yield* FakeResource.settle
        const error = yield* connectErrorOf(caller)
        expect(error.attempts).toBe(1)
        expect(error.cause).toBe("password authentication failed")
        yield* FakeResource.advance("1 minute")
        expect(yield* Ref.get(fake.attempts)).toBe(1)
      }).pipe(Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))
})
