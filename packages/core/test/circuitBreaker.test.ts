import { PoolConfig, PoolError, PoolEvent, ResourcePool } from "@dbpool/core"
import type { PoolStats } from "@dbpool/core"
import { describe, expect, it } from "@effect/vitest"
import { Clock, ConfigProvider, Duration, Effect, Exit, Fiber, Logger, Ref, Schedule, Scope, Stream } from "effect"
import * as Fake from "./utils/FakeResource.js"
import { setup } from "./utils/TestPool.js"

// No minimum (a failing creation must not be awaited by make), long waits, rare stats, one attempt per creation
// unless a test says otherwise.
const base = {
  minConnections: 0,
  maxConnections: 4,
  acquireTimeout: "1 hour",
  statsInterval: "1 day",
  maxRetries: 0
} as const

const down = { _tag: "fail", error: "connection refused" } as const

/** An effect that must settle without the clock moving: returns its error. */
const failsAtOnce = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const before = yield* Clock.currentTimeMillis
    const fiber = yield* Effect.fork(effect)
    yield* Fake.settle
    expect(fiber.unsafePoll()).not.toBeNull()
    expect(yield* Clock.currentTimeMillis).toBe(before)
    return yield* Effect.flip(Fiber.join(fiber))
  })

const asConnectError = <E>(error: E) => {
  expect(error).toBeInstanceOf(PoolError.ConnectError)
  return error as PoolError.ConnectError<string>
}

const circuitOf = (pool: ResourcePool.ResourcePool<Fake.FakeConnection, string>) =>
  Effect.map(pool.stats, (s): PoolStats.CircuitState => s.circuitState)

/** Records every event from now on. */
const recordEvents = (pool: ResourcePool.ResourcePool<Fake.FakeConnection, string>) =>
  Effect.gen(function*() {
    const seen: Array<PoolEvent.PoolEvent> = []
    yield* Effect.fork(Stream.runForEach(pool.events, (event) => Effect.sync(() => seen.push(event))))
    yield* Fake.settle
    return seen
  })

/** Captures what the pool logs, with the level. */
const captureLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ logLevel, message }) => {
      lines.push(`${logLevel.label} ${Array.isArray(message) ? message.join(" ") : String(message)}`)
    })
  )
  return { circuitLines: () => lines.filter((l) => l.includes("circuit breaker")), logger }
}

/** A lease held in a scope of its own, until `give back`. */
const hold = (pool: ResourcePool.ResourcePool<Fake.FakeConnection, string>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const lease = yield* pool.get.pipe(Scope.extend(scope))
    return { lease, giveBack: Scope.close(scope, Exit.void) }
  })

describe("circuit breaker", () => {
  it.effect("is closed by default, opens after 5 failed attempts in a row by default, and probes every second", () =>
    Effect.gen(function*() {
      const config = yield* PoolConfig.make()
      expect(config.circuitBreakerThreshold).toBe(5)
      expect(Duration.toMillis(config.circuitBreakerProbeInterval)).toBe(1000)
      expect(config.circuitBreakerSchedule).toBeUndefined()

      const { closeAndCheck, fake, pool } = yield* setup({ ...base, retrySchedule: Schedule.spaced("1 second") })
      expect(yield* circuitOf(pool)).toBe("closed")
      yield* Ref.set(fake.createMode, down)
      const caller = yield* Effect.fork(pool.use(() => Effect.void))
      yield* Fake.settle
      // Attempts at 0, 1, 2, 3 s: four failures, still closed, the caller still waiting for the retries.
      yield* Fake.advance("3 seconds")
      expect(yield* Ref.get(fake.attempts)).toBe(4)
      expect(yield* circuitOf(pool)).toBe("closed")
      expect(caller.unsafePoll()).toBeNull()
      // The fifth, at 4 s, opens it: the caller fails then, not at acquireTimeout (1 hour).
      yield* Fake.advance("1 second")
      expect(yield* Ref.get(fake.attempts)).toBe(5)
      expect(yield* circuitOf(pool)).toBe("open")
      const error = asConnectError(yield* Effect.flip(Fiber.join(caller)))
      expect(error.circuitOpen).toBe(true)
      expect(error.cause).toBe("connection refused")
      expect(error.attempts).toBe(5)
      expect(yield* Clock.currentTimeMillis).toBe(4000)
      // The creation made no sixth attempt on its retry schedule: the next one is the probe, 1 s later.
      yield* Fake.advance("999 millis")
      expect(yield* Ref.get(fake.attempts)).toBe(5)
      yield* Fake.advance("1 millis")
      expect(yield* Ref.get(fake.attempts)).toBe(6)
      const stats = yield* pool.stats
      expect([stats.connectFailures, stats.failedRequests, stats.pendingConnections, stats.waitingRequests])
        .toEqual([6, 1, 0, 0])
      yield* closeAndCheck
    }))

  it.effect("counts consecutive attempts only: a successful connect resets the count", () =>
    Effect.gen(function*() {
      const { closeAndCheck, fake, pool } = yield* setup({
        ...base,
        circuitBreakerThreshold: 3,
        retrySchedule: Schedule.spaced("1 second").pipe(Schedule.intersect(Schedule.recurs(1)))
      })
      yield* Ref.set(fake.createMode, down)
      // Two failed attempts (the creation gives up): below the threshold, a plain ConnectError.
      const first = yield* Effect.fork(pool.use(() => Effect.void))
      yield* Fake.advance("1 second")
      const error = asConnectError(yield* Effect.flip(Fiber.join(first)))
      expect([error.attempts, error.circuitOpen]).toEqual([2, undefined])
      // A connect succeeds: the count starts again (the connection is thrown away, so the next caller needs one).
      yield* Ref.set(fake.createMode, { _tag: "ok" })
      yield* pool.use((lease) => pool.invalidate(lease))
      yield* Ref.set(fake.createMode, down)
      const second = yield* Effect.fork(pool.use(() => Effect.void))
      yield* Fake.advance("1 second")
      expect(asConnectError(yield* Effect.flip(Fiber.join(second))).circuitOpen).toBe(undefined)
      expect(yield* circuitOf(pool)).toBe("closed")
      // One more makes three in a row.
      const third = yield* Effect.fork(pool.use(() => Effect.void))
      yield* Fake.settle
      expect(yield* circuitOf(pool)).toBe("open")
      expect(asConnectError(yield* Effect.flip(Fiber.join(third))).circuitOpen).toBe(true)
      expect(yield* Ref.get(fake.attempts)).toBe(6)
      yield* closeAndCheck
    }))

  it.effect("while open, an acquisition with no idle connection fails at once with the last ConnectError", () =>
    Effect.gen(function*() {
      const { closeAndCheck, fake, pool } = yield* setup({ ...base, circuitBreakerThreshold: 1 })
      yield* Ref.set(fake.createMode, down)
      yield* failsAtOnce(pool.use(() => Effect.void))
      expect(yield* circuitOf(pool)).toBe("open")
      const error = asConnectError(yield* failsAtOnce(pool.use(() => Effect.void)))
      expect(error.cause).toBe("connection refused")
      expect(error.reason).toBe("failed")
      expect(error.attempts).toBe(1)
      expect(error.circuitOpen).toBe(true)
      expect(error.message).toBe(
        "Cannot connect (pool \"default\", 1 attempt): connection refused " +
          "(circuit breaker open: failing fast until a probe connects)"
      )
      // No attempt was made for it; a failed probe updates the error callers get.
      expect(yield* Ref.get(fake.attempts)).toBe(1)
      yield* Ref.set(fake.createMode, { _tag: "fail", error: "the database system is starting up" })
      yield* Fake.advance("1 second")
      expect(yield* Ref.get(fake.attempts)).toBe(2)
      const later = asConnectError(yield* failsAtOnce(pool.get.pipe(Effect.scoped)))
      expect([later.cause, later.circuitOpen]).toEqual(["the database system is starting up", true])
      const stats = yield* pool.stats
      expect([stats.totalRequests, stats.failedRequests, stats.timeouts]).toEqual([3, 3, 0])
      yield* closeAndCheck
    }))

  it.effect("while open, an acquisition that finds an idle connection still gets it", () =>
    Effect.gen(function*() {
      const { closeAndCheck, fake, pool } = yield* setup({ ...base, circuitBreakerThreshold: 1 })
      const a = yield* hold(pool)
      yield* Ref.set(fake.createMode, down)
      // B needs a new connection: the attempt fails and opens the circuit; B then waits for A's return.
      const b = yield* Effect.fork(pool.use((lease) => Effect.succeed(lease.id)))
      yield* Fake.settle
      expect(yield* circuitOf(pool)).toBe("open")
      yield* a.giveBack
      expect(yield* Fiber.join(b)).toBe(a.lease.id)
      // A is idle now: taken at once while the circuit is still open.
      expect(yield* pool.use((lease) => Effect.succeed(lease.id))).toBe(a.lease.id)
      expect(yield* circuitOf(pool)).toBe("open")
      yield* closeAndCheck
    }))

  it.effect(
    "while open, callers wait for the connections lent out, served in arrival order as they come back; with none out, every waiter fails at once",
    () =>
      Effect.gen(function*() {
        const fake = yield* Fake.make
        const scope = yield* Scope.make()
        // Closing takes a second, so that "at once" below means before the broken connection is closed.
        const pool = yield* ResourcePool.make({
          acquire: fake.acquire,
          release: (conn) => Effect.zipRight(Effect.sleep("1 second"), fake.release(conn)),
          config: { ...base, circuitBreakerThreshold: 1 }
        }).pipe(Scope.extend(scope))
        const a = yield* hold(pool)
        const b = yield* hold(pool)
        yield* Ref.set(fake.createMode, down)
        const served: Array<number> = []
        const caller = (i: number) =>
          Effect.fork(pool.use((lease) => Effect.sync(() => served.push(i)).pipe(Effect.as(lease.id))))
        // Four callers queue, in this order; creations are requested for two (the room left under max 4).
        const callers: Array<Fiber.RuntimeFiber<string, unknown>> = []
        for (let i = 0; i < 4; i++) callers.push(yield* caller(i))
        yield* Fake.settle
        // The first failed attempt opens the circuit; two connections are out, so every caller keeps waiting.
        expect(yield* circuitOf(pool)).toBe("open")
        expect(callers.map((f) => f.unsafePoll() === null)).toEqual([true, true, true, true])
        expect((yield* pool.stats).waitingRequests).toBe(4)
        // B comes back broken and is closed: A is still out, so the callers still wait.
        yield* pool.invalidate(b.lease)
        yield* b.giveBack
        yield* Fake.settle
        expect((yield* pool.stats).closingConnections).toBe(1)
        expect(callers.map((f) => f.unsafePoll() === null)).toEqual([true, true, true, true])
        // A comes back: it serves the four, one after the other, in arrival order.
        yield* a.giveBack
        for (const f of callers) expect(yield* Fiber.join(f)).toBe(a.lease.id)
        expect(served).toEqual([0, 1, 2, 3])
        // A lent out again with two callers behind it; it comes back broken: nothing is out any more, and
        // nothing will be opened while the circuit is open, so both fail at once, while A is still closing.
        const again = yield* hold(pool)
        expect(again.lease.id).toBe(a.lease.id)
        const late = [yield* caller(4), yield* caller(5)]
        yield* Fake.settle
        expect(late.map((f) => f.unsafePoll() === null)).toEqual([true, true])
        yield* pool.invalidate(again.lease)
        yield* again.giveBack
        yield* Fake.settle
        for (const f of late) expect(asConnectError(yield* Effect.flip(Fiber.join(f))).circuitOpen).toBe(true)
        // A newcomer finds nothing idle and nothing out: it fails at once.
        asConnectError(yield* failsAtOnce(pool.use(() => Effect.void)))
        const stats = yield* pool.stats
        expect([stats.successfulRequests, stats.failedRequests, stats.waitingRequests]).toEqual([7, 3, 0])
        const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
        yield* Fake.advance("2 seconds")
        yield* Fiber.join(closing)
        yield* Fake.expectNoLeak(fake)
      })
  )

  it.effect("probes with one attempt, never retried, at each tick of the probe interval", () =>
    Effect.gen(function*() {
      const { closeAndCheck, fake, pool } = yield* setup({
        ...base,
        circuitBreakerThreshold: 1,
        circuitBreakerProbeInterval: "2 seconds",
        // Would retry every 10 ms if the circuit let it.
        retrySchedule: Schedule.spaced("10 millis")
      })
      const events = yield* recordEvents(pool)
      yield* Ref.set(fake.createMode, down)
      yield* failsAtOnce(pool.use(() => Effect.void))
      const attemptsAt: Array<number> = []
      for (const step of [1999, 1, 1999, 1, 1999, 1]) {
        yield* Fake.advance(step)
        attemptsAt.push(yield* Ref.get(fake.attempts))
      }
      // at 1.999, 2, 3.999, 4, 5.999, 6 s
      expect(attemptsAt).toEqual([1, 2, 2, 3, 3, 4])
      const failed = events.filter(PoolEvent.PoolEvent.$is("ConnectFailed"))
      expect(failed.map((e) => e.attempt)).toEqual([1, 1, 1, 1])
      expect(events.filter(PoolEvent.PoolEvent.$is("CircuitOpened"))).toHaveLength(1)
      expect((yield* pool.stats).connectFailures).toBe(4)
      yield* closeAndCheck
    }))

  it.effect("probes at each recurrence of circuitBreakerSchedule, which overrides the interval", () =>
    Effect.gen(function*() {
      const { closeAndCheck, fake, pool } = yield* setup({
        ...base,
        circuitBreakerThreshold: 1,
        circuitBreakerSchedule: Schedule.exponential("100 millis")
      })
      yield* Ref.set(fake.createMode, down)
      yield* failsAtOnce(pool.use(() => Effect.void))
      const attemptsAt: Array<number> = []
      for (const step of [99, 1, 199, 1, 399, 1, 799, 1]) {
        yield* Fake.advance(step)
        attemptsAt.push(yield* Ref.get(fake.attempts))
      }
      // ticks 100, 200, 400, 800 ms apart
      expect(attemptsAt).toEqual([1, 2, 2, 3, 3, 4, 4, 5])
      yield* closeAndCheck
    }))

  it.effect("a creation waiting to retry stops when the circuit opens, and queued creations are dropped", () =>
    Effect.gen(function*() {
      const { closeAndCheck, fake, pool } = yield* setup({
        ...base,
        maxConnecting: 2,
        circuitBreakerThreshold: 2,
        retrySchedule: Schedule.spaced("10 seconds")
      })
      yield* Ref.set(fake.createMode, down)
      // Three callers: two creations start, the third is queued behind them.
      const callers: Array<Fiber.RuntimeFiber<void, unknown>> = []
      for (let i = 0; i < 3; i++) callers.push(yield* Effect.fork(pool.use(() => Effect.void)))
      yield* Fake.settle
      // The first attempt failed and waits 10 s to retry; the second opened the circuit: everything ends now.
      expect(yield* Ref.get(fake.attempts)).toBe(2)
      for (const f of callers) expect(asConnectError(yield* Effect.flip(Fiber.join(f))).circuitOpen).toBe(true)
      const stats = yield* pool.stats
      expect([stats.pendingConnections, stats.waitingRequests, stats.circuitState]).toEqual([0, 0, "open"])
      // From then on, only the probes: one a second, none of the retries due at 10 s.
      yield* Fake.advance("10 seconds")
      expect(yield* Ref.get(fake.attempts)).toBe(12)
      yield* closeAndCheck
    }))

  it.effect(
    "a successful probe closes the circuit: the minimum is refilled, which it was not while open, and callers are served",
    () =>
      Effect.gen(function*() {
        const { closeAndCheck, fake, pool } = yield* setup({ ...base, minConnections: 2, circuitBreakerThreshold: 1 })
        const events = yield* recordEvents(pool)
        const a = yield* hold(pool)
        const b = yield* hold(pool)
        yield* Ref.set(fake.createMode, down)
        // A waiter needing a new connection: the attempt fails, the circuit opens, the waiter stays for A or B.
        const waiter = yield* Effect.fork(pool.use((lease) => Effect.succeed(lease.id)))
        yield* Fake.settle
        expect(yield* circuitOf(pool)).toBe("open")
        expect(waiter.unsafePoll()).toBeNull()
        // Both go bad: the minimum is not refilled while the circuit is open, and the waiter fails.
        for (const held of [a, b]) {
          yield* pool.invalidate(held.lease)
          yield* held.giveBack
        }
        yield* Fake.settle
        asConnectError(yield* Effect.flip(Fiber.join(waiter)))
        expect((yield* pool.stats).totalConnections).toBe(0)
        expect(yield* Ref.get(fake.attempts)).toBe(3)
        // With nothing out, a caller fails at once. Then the database is back.
        asConnectError(yield* failsAtOnce(pool.use(() => Effect.void)))
        yield* Ref.set(fake.createMode, { _tag: "ok" })
        yield* Fake.advance("1 second")
        expect(yield* circuitOf(pool)).toBe("closed")
        // The probe, then one more to refill the minimum of 2.
        expect(yield* Ref.get(fake.attempts)).toBe(5)
        const stats = yield* pool.stats
        expect([stats.totalConnections, stats.idleConnections]).toEqual([2, 2])
        expect(yield* pool.use(() => Effect.succeed("served"))).toBe("served")
        const circuit = events.filter((e) => e._tag === "CircuitOpened" || e._tag === "CircuitClosed")
        expect(circuit).toEqual([
          PoolEvent.PoolEvent.CircuitOpened({ failures: 1, cause: "connection refused" }),
          PoolEvent.PoolEvent.CircuitClosed({ duration: 1000 })
        ])
        yield* closeAndCheck
      })
  )

  it.effect("a probe's connection goes to the oldest waiter", () =>
    Effect.gen(function*() {
      const { closeAndCheck, fake, pool } = yield* setup({ ...base, circuitBreakerThreshold: 1 })
      const a = yield* hold(pool)
      yield* Ref.set(fake.createMode, down)
      const first = yield* Effect.fork(pool.use((lease) => Effect.succeed(lease.id)))
      yield* Fake.settle
      expect(yield* circuitOf(pool)).toBe("open")
      yield* Ref.set(fake.createMode, { _tag: "ok" })
      yield* Fake.advance("1 second")
      const id = yield* Fiber.join(first)
      expect(id).not.toBe(a.lease.id)
      expect(yield* circuitOf(pool)).toBe("closed")
      expect((yield* pool.stats).averageAcquireTime).toBe(500)
      yield* a.giveBack
      yield* closeAndCheck
    }))

  it.effect("circuitBreakerThreshold Infinity turns it off: callers wait their acquireTimeout", () =>
    Effect.gen(function*() {
      const { closeAndCheck, fake, pool } = yield* setup({
        ...base,
        acquireTimeout: "30 seconds",
        circuitBreakerThreshold: Infinity,
        retrySchedule: Schedule.spaced("1 second")
      })
      const events = yield* recordEvents(pool)
      yield* Ref.set(fake.createMode, down)
      const caller = yield* Effect.fork(pool.use(() => Effect.void))
      yield* Fake.advance("29999 millis")
      expect(caller.unsafePoll()).toBeNull()
      expect(yield* Ref.get(fake.attempts)).toBe(30)
      yield* Fake.advance("1 millis")
      const error = yield* Effect.flip(Fiber.join(caller))
      expect(error._tag).toBe("PoolTimeoutError")
      expect(yield* circuitOf(pool)).toBe("closed")
      expect(events.filter((e) => e._tag === "CircuitOpened")).toEqual([])
      yield* closeAndCheck
    }))

  it.effect("when the probe schedule ends the circuit closes, and opens again after as many failures", () =>
    Effect.gen(function*() {
      const { closeAndCheck, fake, pool } = yield* setup({
        ...base,
        circuitBreakerThreshold: 2,
        retrySchedule: Schedule.spaced("1 second"),
        circuitBreakerSchedule: Schedule.spaced("1 second").pipe(Schedule.intersect(Schedule.recurs(2)))
      })
      const events = yield* recordEvents(pool)
      yield* Ref.set(fake.createMode, down)
      const first = yield* Effect.fork(pool.use(() => Effect.void))
      yield* Fake.advance("1 second")
      asConnectError(yield* Effect.flip(Fiber.join(first)))
      // Two probes (at 2 and 3 s), then the schedule ends: closed, with no connection.
      yield* Fake.advance("1999 millis")
      expect(yield* Ref.get(fake.attempts)).toBe(3)
      expect(yield* circuitOf(pool)).toBe("open")
      yield* Fake.advance("1 millis")
      expect(yield* Ref.get(fake.attempts)).toBe(4)
      expect(yield* circuitOf(pool)).toBe("closed")
      // A caller makes attempts again; two in a row open the circuit again, with a fresh probe schedule.
      const second = yield* Effect.fork(pool.use(() => Effect.void))
      yield* Fake.advance("1 second")
      expect(asConnectError(yield* Effect.flip(Fiber.join(second))).circuitOpen).toBe(true)
      expect(yield* Ref.get(fake.attempts)).toBe(6)
      yield* Fake.advance("1 second")
      expect(yield* Ref.get(fake.attempts)).toBe(7)
      expect(events.filter((e) => e._tag === "CircuitOpened" || e._tag === "CircuitClosed")).toEqual([
        PoolEvent.PoolEvent.CircuitOpened({ failures: 2, cause: "connection refused" }),
        PoolEvent.PoolEvent.CircuitClosed({ duration: 2000 }),
        PoolEvent.PoolEvent.CircuitOpened({ failures: 2, cause: "connection refused" })
      ])
      yield* closeAndCheck
    }))

  it.effect("logs a warning when it opens and an info when it closes, and reports a timeout as the cause", () => {
    const { circuitLines, logger } = captureLogs()
    return Effect.gen(function*() {
      const { closeAndCheck, fake, pool } = yield* setup({
        ...base,
        name: "cb-log",
        circuitBreakerThreshold: 1,
        connectTimeout: "2 seconds"
      })
      const events = yield* recordEvents(pool)
      yield* Ref.set(fake.createMode, { _tag: "hang" })
      const caller = yield* Effect.fork(pool.use(() => Effect.void))
      yield* Fake.advance("2 seconds")
      const error = asConnectError(yield* Effect.flip(Fiber.join(caller)))
      expect([error.reason, error.circuitOpen]).toEqual(["timeout", true])
      expect(circuitLines()).toEqual([
        "WARN dbpool: pool \"cb-log\" opened its circuit breaker after 1 consecutive failed connection attempts: " +
        "acquisitions that need a new connection fail at once until a probe connects (one attempt every 1s). " +
        "Last error: Cannot connect (pool \"cb-log\", 1 attempt): the attempt timed out after 2s"
      ])
      expect(events.filter(PoolEvent.PoolEvent.$is("CircuitOpened"))).toEqual([
        PoolEvent.PoolEvent.CircuitOpened({ failures: 1, cause: "timeout" })
      ])
      yield* Ref.set(fake.createMode, { _tag: "ok" })
      yield* Fake.advance("1 second")
      expect(circuitLines()[1]).toBe(
        "INFO dbpool: pool \"cb-log\" closed its circuit breaker after 1000 ms: a connection was opened; " +
          "connecting as usual again"
      )
      expect(circuitLines()).toHaveLength(2)
      yield* closeAndCheck
    }).pipe(Effect.provide(logger))
  })

  it.effect("shutdown while open fails the waiters, stops probing and leaks nothing", () =>
    Effect.gen(function*() {
      const { closeAndCheck, fake, pool } = yield* setup({ ...base, circuitBreakerThreshold: 1 })
      // One connection idle, one out, a waiter for it, the circuit open.
      const idle = yield* hold(pool)
      const a = yield* hold(pool)
      yield* idle.giveBack
      yield* pool.use(() => Effect.void) // takes the idle one and gives it back
      yield* Ref.set(fake.createMode, down)
      const other = yield* hold(pool).pipe(Effect.fork)
      const waiter = yield* Effect.fork(pool.use(() => Effect.void))
      yield* Fake.settle
      // `other` took the idle connection; the waiter's creation failed and opened the circuit; it waits for A.
      expect(yield* circuitOf(pool)).toBe("open")
      expect(waiter.unsafePoll()).toBeNull()
      const attempts = yield* Ref.get(fake.attempts)
      const otherLease = yield* Fiber.join(other)
      yield* closeAndCheck
      expect((yield* Effect.flip(Fiber.join(waiter)))._tag).toBe("PoolClosedError")
      yield* Fake.advance("1 minute")
      expect(yield* Ref.get(fake.attempts)).toBe(attempts)
      // Giving the cut leases back later does nothing.
      yield* a.giveBack
      yield* otherLease.giveBack
      yield* Fake.expectNoLeak(fake)
    }))

  it.effect("interrupting a probe in flight (shutdown) leaks nothing, even when the connect cannot be interrupted", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.make
      const scope = yield* Scope.make()
      // A driver whose connect runs to its end once started, and which closes what it opened if it was
      // interrupted meanwhile (the contract of `acquire`).
      const acquire = Effect.suspend(() => {
        let opened: Fake.FakeConnection | undefined
        return Effect.uninterruptible(Effect.tap(fake.acquire, (conn) => (opened = conn))).pipe(
          Effect.onInterrupt(() => opened === undefined ? Effect.void : fake.release(opened))
        )
      })
      const pool = yield* ResourcePool.make({
        acquire,
        release: fake.release,
        config: { ...base, circuitBreakerThreshold: 1 }
      }).pipe(Scope.extend(scope))
      yield* Ref.set(fake.createMode, down)
      yield* failsAtOnce(pool.use(() => Effect.void))
      // The probe at 1 s takes 5 s to connect; the pool closes at 2 s.
      yield* Ref.set(fake.createMode, { _tag: "slow", delay: "5 seconds" })
      yield* Fake.advance("1 second")
      expect(yield* Ref.get(fake.attempts)).toBe(2)
      expect((yield* pool.stats).pendingConnections).toBe(1)
      yield* Fake.advance("1 second")
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* Fake.settle
      // Shutdown waits for the connect, then closes what it opened.
      expect(closing.unsafePoll()).toBeNull()
      yield* Fake.advance("4 seconds")
      yield* Fiber.join(closing)
      expect(yield* Ref.get(fake.acquired)).toBe(1)
      yield* Fake.expectNoLeak(fake)
      const stats = yield* pool.stats
      expect([stats.totalConnections, stats.pendingConnections, stats.connectionsCreated]).toEqual([0, 0, 0])
    }))

  it.effect("interrupting a probe whose connect can be interrupted leaks nothing and opens nothing", () =>
    Effect.gen(function*() {
      const { fake, pool, scope } = yield* setup({ ...base, circuitBreakerThreshold: 1 })
      yield* Ref.set(fake.createMode, down)
      yield* failsAtOnce(pool.use(() => Effect.void))
      yield* Ref.set(fake.createMode, { _tag: "slow", delay: "5 seconds" })
      yield* Fake.advance("2 seconds")
      yield* Scope.close(scope, Exit.void)
      yield* Fake.advance("10 seconds")
      expect(yield* Ref.get(fake.acquired)).toBe(0)
      expect(yield* Ref.get(fake.attempts)).toBe(2)
      yield* Fake.expectNoLeak(fake)
    }))

  it.effect("does not cut a starting pool's retries short: a database starting with the program is waited for", () => {
    const { circuitLines, logger } = captureLogs()
    return Effect.gen(function*() {
      const fake = yield* Fake.make
      yield* Ref.set(fake.createMode, down)
      const start = (scope: Scope.Scope) =>
        ResourcePool.make({
          acquire: fake.acquire,
          release: fake.release,
          config: {
            ...base,
            minConnections: 1,
            circuitBreakerThreshold: 2,
            retrySchedule: Schedule.spaced("1 second").pipe(Schedule.intersect(Schedule.recurs(9)))
          }
        }).pipe(Scope.extend(scope), Effect.fork)
      // Up after 5 s: six attempts, five of them failed (past the threshold of 2), and the pool starts closed.
      const scope = yield* Scope.make()
      const making = yield* start(scope)
      yield* Fake.advance("4 seconds")
      yield* Ref.set(fake.createMode, { _tag: "ok" })
      yield* Fake.advance("1 second")
      const pool = yield* Fiber.join(making)
      const stats = yield* pool.stats
      expect([stats.totalConnections, stats.connectFailures, stats.circuitState]).toEqual([1, 5, "closed"])
      yield* Scope.close(scope, Exit.void)
      // Down for good: make fails after every retry (10 attempts, at 9 s), with nothing logged about the circuit.
      yield* Ref.set(fake.createMode, down)
      const failing = yield* start(yield* Scope.make())
      yield* Fake.advance("8999 millis")
      expect(failing.unsafePoll()).toBeNull()
      yield* Fake.advance("1 millis")
      const error = asConnectError(yield* Effect.flip(Fiber.join(failing)))
      expect([error.attempts, error.circuitOpen]).toEqual([10, undefined])
      expect(yield* Ref.get(fake.attempts)).toBe(16)
      expect(circuitLines()).toEqual([])
      yield* Fake.expectNoLeak(fake)
    }).pipe(Effect.provide(logger))
  })

  it.effect("a pool whose last attempts at start failed (after some connections opened) starts with the circuit open", () => {
    const { circuitLines, logger } = captureLogs()
    return Effect.gen(function*() {
      const fake = yield* Fake.make
      const calls = yield* Ref.make(0)
      // The first connect succeeds, every later one is refused.
      const acquire = Effect.flatMap(
        Ref.getAndUpdate(calls, (n) => n + 1),
        (n) => n === 0 ? fake.acquire : Effect.fail("connection refused")
      )
      yield* Effect.gen(function*() {
        const pool = yield* ResourcePool.make({
          acquire,
          release: fake.release,
          config: { ...base, minConnections: 3, maxConnecting: 1, circuitBreakerThreshold: 2 }
        })
        const stats = yield* pool.stats
        expect([stats.totalConnections, stats.circuitState, stats.connectFailures]).toEqual([1, "open", 2])
        expect(circuitLines()).toEqual([
          "WARN dbpool: pool \"default\" opened its circuit breaker after 2 consecutive failed connection attempts: " +
          "acquisitions that need a new connection fail at once until a probe connects (one attempt every 1s). " +
          "Last error: Cannot connect (pool \"default\", 1 attempt): connection refused"
        ])
      }).pipe(Effect.scoped)
      yield* Fake.expectNoLeak(fake)
    }).pipe(Effect.provide(logger))
  })

  describe("configuration", () => {
    it.effect.each(
      [
        [{ circuitBreakerThreshold: 0 }, "circuitBreakerThreshold", "must be at least 1"],
        [{ circuitBreakerThreshold: 2.5 }, "circuitBreakerThreshold", "must be a whole number"],
        [{ circuitBreakerThreshold: Number.NaN }, "circuitBreakerThreshold", "must be a number, not NaN"],
        [{ circuitBreakerThreshold: "5" }, "circuitBreakerThreshold", "must be a number"],
        [{ circuitBreakerProbeInterval: 0 }, "circuitBreakerProbeInterval", "must be greater than zero"],
        [{ circuitBreakerProbeInterval: "-1 second" }, "circuitBreakerProbeInterval", "must not be negative"],
        [{ circuitBreakerSchedule: "1 second" }, "circuitBreakerSchedule", "must be a Schedule"]
      ] as const
    )("rejects %j", ([input, field, reason]) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(PoolConfig.make(input as PoolConfig.Input))
        expect([error.field, error.reason]).toEqual([field, reason])
      }))

    it.effect("accepts Infinity as the threshold, and reads both settings from Effect Config", () =>
      Effect.gen(function*() {
        expect((yield* PoolConfig.make({ circuitBreakerThreshold: Infinity })).circuitBreakerThreshold).toBe(Infinity)
        const provider = ConfigProvider.fromMap(
          new Map([["DB.CIRCUIT_BREAKER_THRESHOLD", "3"], ["DB.CIRCUIT_BREAKER_PROBE_INTERVAL", "250 millis"]])
        )
        const config = yield* PoolConfig.PoolConfig.pipe(
          Effect.provide(PoolConfig.layerConfig("DB")),
          Effect.withConfigProvider(provider)
        )
        expect(config.circuitBreakerThreshold).toBe(3)
        expect(Duration.toMillis(config.circuitBreakerProbeInterval)).toBe(250)
        const off = yield* PoolConfig.PoolConfig.pipe(
          Effect.provide(PoolConfig.layerConfig("DB")),
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["DB.CIRCUIT_BREAKER_THRESHOLD", "Infinity"]])))
        )
        expect(off.circuitBreakerThreshold).toBe(Infinity)
      }))
  })
})
