/**
 * Edge cases found by adversarial tests (issue 10): each test here failed
 * before its fix.
 */
import { ResourcePool } from "@dbpool/core"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber, FiberId, Ref, Scope, TestClock, TestContext } from "effect"
import * as Fake from "./utils/FakeResource.js"
import { SteppingScheduler } from "./utils/SteppingScheduler.js"
import { heldPoolOfOne, interruptsFirst, plainPool, setup } from "./utils/TestPool.js"

type Outcome = Exit.Exit<unknown, { readonly _tag: string }> | null

const tagOf = (exit: Outcome): string =>
  exit === null
    ? "waiting"
    : Exit.isSuccess(exit)
    ? "success"
    : Cause.isInterruptedOnly(exit.cause)
    ? "interrupted"
    : Cause.failureOption(exit.cause).pipe((o) => o._tag === "Some" ? o.value._tag : "defect")

type Variant = "release" | "maxWaiting" | "interrupt" | "interruptGet"

/**
 * A pool of one whose connection is held; a caller asks for it and is made to
 * yield after exactly `n` operations, and in that gap the holder gives the
 * connection back (`release`), a second caller asks (`maxWaiting`), or the
 * caller is interrupted (`interrupt`, or `interruptGet` for a caller of `get`).
 */
const gapScenario = (n: number, variant: Variant) => {
  const scheduler = new SteppingScheduler()
  const program = Effect.gen(function*() {
    const { gate, holder, pool, scope } = yield* heldPoolOfOne({
      name: `gap-${variant}-${n}`,
      maxWaiting: variant === "maxWaiting" ? 1 : Number.POSITIVE_INFINITY
    })
    const caller = yield* Effect.fork(
      variant === "interruptGet"
        ? Effect.scoped(Effect.map(pool.get, (lease) => lease.id))
        : pool.use((lease) => Effect.succeed(lease.id))
    )
    const go = yield* Deferred.make<void>()
    const other = variant === "maxWaiting"
      ? yield* Effect.fork(Effect.zipRight(Deferred.await(go), pool.use((lease) => Effect.succeed(lease.id))))
      : undefined
    scheduler.yieldAt(caller, n, () => {
      if (variant === "release") Deferred.unsafeDone(gate, Exit.void)
      else if (variant === "maxWaiting") Deferred.unsafeDone(go, Exit.void)
      else caller.unsafeInterruptAsFork(FiberId.none)
    })
    // Everything runs until nothing more can happen without the clock.
    yield* Effect.async<void>((resume) => {
      scheduler.onIdle = () => resume(Effect.void)
    })
    // Not fired yet: the caller had suspended, waiting, before its n-th operation; the yield lies beyond.
    const fired = scheduler.fired
    const stats = yield* pool.stats
    const outcomes = [caller.unsafePoll(), other === undefined ? undefined : other.unsafePoll()] as const
    yield* Deferred.succeed(gate, undefined)
    yield* Fiber.interrupt(caller)
    if (other !== undefined) yield* Fiber.interrupt(other)
    yield* Fiber.join(holder)
    yield* Scope.close(scope, Exit.void)
    return { fired, stats, outcomes }
  }).pipe(Effect.provide(TestContext.TestContext))
  const fiber = Effect.runFork(program, { scheduler })
  scheduler.run()
  const exit = fiber.unsafePoll()
  if (exit === null || Exit.isFailure(exit)) throw new Error(`scenario ${variant} ${n} did not end: ${exit}`)
  return exit.value
}

/** Runs the scenario with the yield after each operation in turn, until it lies beyond the caller's run. */
const everyYieldPoint = (variant: Variant, check: (result: ReturnType<typeof gapScenario>, n: number) => void) => {
  let n = 1
  for (; n < 1000; n++) {
    const result = gapScenario(n, variant)
    if (!result.fired) break
    check(result, n)
  }
  // The caller's run up to its wait (or its lease) covers the acquisition path: `use` asks and waits in
  // 9 operations (asking, queueing, entering the interruptible wait, registering the wake-up), `get` in more.
  expect(n).toBeGreaterThan(9)
}

describe("acquisition is one step: no yield point loses a wake-up or a count", () => {
  it("a connection given back while the caller yields reaches it", () =>
    everyYieldPoint("release", ({ outcomes, stats }, n) => {
      expect([n, tagOf(outcomes[0])]).toEqual([n, "success"])
      expect([n, stats.waitingRequests, stats.activeConnections]).toEqual([n, 0, 0])
    }))

  it("two callers never both pass a maxWaiting of 1", () =>
    everyYieldPoint("maxWaiting", ({ outcomes, stats }, n) => {
      const tags = [tagOf(outcomes[0]), tagOf(outcomes[1] ?? null)].sort()
      expect([n, tags]).toEqual([n, ["PoolExhaustedError", "waiting"]])
      expect([n, stats.waitingRequests]).toEqual([n, 1])
    }))

  it.each(["interrupt", "interruptGet"] as const)(
    "a caller interrupted while it yields is counted (%s)",
    (variant) =>
      everyYieldPoint(variant, ({ outcomes, stats }, n) => {
        expect([n, tagOf(outcomes[0])]).toEqual([n, "interrupted"])
        expect([n, stats.totalRequests]).toEqual([
          n,
          stats.successfulRequests + stats.failedRequests + stats.cancelledRequests + stats.waitingRequests
        ])
        expect([n, stats.waitingRequests]).toEqual([n, 0])
      })
  )
})

describe("interruption that belongs to the user's effects", () => {
  it.effect("an acquire that interrupts itself is a failed creation, not a leaked slot", () =>
    Effect.gen(function*() {
      const { fake, pool, scope } = yield* plainPool(
        { name: "self-int", minConnections: 0, maxConnections: 1, maxRetries: 0, acquireTimeout: "1 second" },
        { acquire: (fake) => Effect.suspend(interruptsFirst(() => fake.acquire)) }
      )
      const first = yield* Effect.fork(pool.use((lease) => Effect.succeed(lease.resource.id)))
      yield* Fake.settle
      yield* TestClock.adjust("1 second")
      yield* Fake.settle
      const exit = first.unsafePoll()
      expect(exit !== null && tagOf(exit)).toBe("ConnectError")
      expect((yield* pool.stats).pendingConnections).toBe(0)
      const second = yield* Effect.fork(pool.use((lease) => Effect.succeed(lease.resource.id)))
      yield* Fake.settle
      expect(second.unsafePoll()).toEqual(Exit.succeed(1))
      yield* Scope.close(scope, Exit.void)
      yield* Fake.expectNoLeak(fake)
    }))

  it.effect("with minConnections 1, make retries past an acquire that interrupts itself", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.make
      const scope = yield* Scope.make()
      const making = yield* Effect.fork(
        ResourcePool.make({
          acquire: Effect.suspend(interruptsFirst(() => fake.acquire)),
          release: fake.release,
          config: { name: "self-int-min", minConnections: 1, maxConnections: 1, retryInterval: "1 second" }
        }).pipe(Scope.extend(scope))
      )
      yield* Fake.settle
      yield* TestClock.adjust("1 minute")
      yield* Fake.settle
      const made = making.unsafePoll()
      expect(made !== null && Exit.isSuccess(made)).toBe(true)
      if (made !== null && Exit.isSuccess(made)) {
        const stats = yield* made.value.stats
        expect([stats.idleConnections, stats.pendingConnections, stats.connectFailures]).toEqual([1, 0, 1])
      }
      yield* Scope.close(scope, Exit.void)
      yield* Fake.expectNoLeak(fake)
    }))

  it.effect("a validate that interrupts itself fails the check; the caller, whom nobody interrupted, is served", () =>
    Effect.gen(function*() {
      const { fake, pool, scope } = yield* plainPool(
        { name: "self-int-validate", minConnections: 1, maxConnections: 1, validateAfterIdle: 0 },
        { validate: (fake) => interruptsFirst(fake.validate) }
      )
      const caller = yield* Effect.fork(pool.use((lease) => Effect.succeed(lease.resource.id)))
      yield* Fake.settle
      expect(caller.unsafePoll()).toEqual(Exit.succeed(2))
      const stats = yield* pool.stats
      expect([stats.cancelledRequests, stats.successfulRequests, stats.connectionsClosed.unhealthy]).toEqual([0, 1, 1])
      yield* Scope.close(scope, Exit.void)
      yield* Fake.expectNoLeak(fake)
    }))
})

describe("bounds and deadlines", () => {
  it.effect("resize down while creations are in flight closes the surplus as it arrives", () =>
    Effect.gen(function*() {
      const { closeAndCheck, fake, pool } = yield* setup({
        name: "resize-pending",
        minConnections: 0,
        maxConnections: 6
      })
      yield* Ref.set(fake.createMode, { _tag: "slow", delay: "1 second" })
      const callers = yield* Effect.forEach(
        Array.from({ length: 6 }),
        () => Effect.fork(pool.use(() => Effect.void))
      )
      yield* Fake.settle
      expect((yield* pool.stats).pendingConnections).toBe(6)
      yield* Fiber.interruptAll(callers)
      yield* pool.resize({ max: 2 })
      yield* TestClock.adjust("3 seconds")
      yield* Fake.settle
      const stats = yield* pool.stats
      expect([stats.totalConnections, stats.idleConnections, stats.pendingConnections]).toEqual([2, 2, 0])
      expect(stats.connectionsClosed.idle).toBe(4)
      yield* closeAndCheck
    }))

  it.effect("a connection is never lent past maxLifetime, though in use at the sweep before", () =>
    Effect.gen(function*() {
      const { closeAndCheck, pool } = yield* setup({
        name: "lifetime-lend",
        minConnections: 1,
        maxConnections: 1,
        maxLifetime: "12 minutes",
        lifetimeJitter: 0,
        maxIdleTime: "5 minutes"
      })
      yield* Fake.settle
      yield* TestClock.adjust("9 minutes")
      // In use across the sweep at 10 minutes, back at 11, before its retirement at 12.
      const holder = yield* Effect.fork(pool.use(() => Effect.sleep("2 minutes")))
      yield* Fake.settle
      yield* TestClock.adjust("2 minutes")
      yield* Fiber.join(holder)
      yield* TestClock.adjust("2 minutes")
      yield* Fake.settle
      const lent = yield* pool.use((lease) => Effect.succeed({ id: lease.id, age: 13 * 60_000 - lease.createdAt }))
      expect(lent.id).toBe("lifetime-lend-2")
      expect(lent.age).toBeLessThan(12 * 60_000)
      expect((yield* pool.stats).connectionsClosed.lifetime).toBe(1)
      yield* closeAndCheck
    }))

  it.effect("callers whose borrowed connections failed the check keep their arrival order and deadlines", () =>
    Effect.gen(function*() {
      const { fake, pool, scope } = yield* plainPool({
        name: "fifo-retry",
        minConnections: 2,
        maxConnections: 2,
        validateAfterIdle: 0,
        acquireTimeout: "10 seconds",
        connectTimeout: "1 minute"
      }, {
        // Every check fails after a second; later connections never open.
        validate: () => () => Effect.zipRight(Effect.sleep("1 second"), Effect.fail("unhealthy"))
      })
      yield* Fake.settle
      yield* Ref.set(fake.createMode, { _tag: "hang" })
      const first = yield* Effect.fork(pool.use(() => Effect.void))
      yield* Fake.settle
      yield* TestClock.adjust("500 millis")
      const second = yield* Effect.fork(pool.use(() => Effect.void))
      yield* Fake.settle
      // First's check fails at 1 s, second's at 1.5 s: both wait again, the first ahead.
      yield* TestClock.adjust("2 seconds")
      yield* Fake.settle
      const mid = yield* pool.stats
      expect([mid.waitingRequests, mid.connectionsClosed.unhealthy]).toEqual([2, 2])
      yield* TestClock.adjust("7500 millis") // 10 s after the first asked
      yield* Fake.settle
      expect(tagOf(first.unsafePoll())).toBe("PoolTimeoutError")
      expect(second.unsafePoll()).toBeNull()
      yield* TestClock.adjust("500 millis")
      yield* Fake.settle
      expect(tagOf(second.unsafePoll())).toBe("PoolTimeoutError")
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* TestClock.adjust("2 minutes")
      yield* Fiber.join(closing)
      yield* Fake.expectNoLeak(fake)
    }))
})

describe("shutdown", () => {
  it("a waiter served, cut by shutdown before it ran, then interrupted, is released once", () => {
    const scheduler = new SteppingScheduler()
    const program = Effect.gen(function*() {
      const { gate, holder, pool, scope } = yield* heldPoolOfOne({ name: "cut-served", shutdownTimeout: 0 })
      const waiter = yield* Effect.fork(pool.use(() => Effect.void))
      while ((yield* pool.stats).waitingRequests === 0) yield* Effect.yieldNow()
      // The waiter's fiber yields at once whenever it next runs, and is held until everything else has run.
      const go = yield* Deferred.make<void>()
      const closing = yield* Effect.fork(Effect.zipRight(Deferred.await(go), Scope.close(scope, Exit.void)))
      scheduler.yieldAt(waiter, 1, () => Deferred.unsafeDone(go, Exit.void))
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(holder)
      while (!scheduler.fired || (yield* pool.stats).totalConnections > 0) yield* Effect.yieldNow()
      waiter.unsafeInterruptAsFork(FiberId.none)
      yield* Fiber.await(waiter)
      yield* Fiber.join(closing)
      return yield* pool.stats
    }).pipe(Effect.provide(TestContext.TestContext))
    const fiber = Effect.runFork(program, { scheduler })
    scheduler.run()
    const exit = fiber.unsafePoll()
    expect(exit !== null && Exit.isSuccess(exit)).toBe(true)
    if (exit !== null && Exit.isSuccess(exit)) {
      expect([exit.value.activeConnections, exit.value.totalConnections]).toEqual([0, 0])
    }
  })
})
