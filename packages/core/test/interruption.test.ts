import type { PoolError, PoolStats } from "@dbpool/core"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Random, Ref, Scope, TestClock } from "effect"
import * as Fake from "./utils/FakeResource.js"
import { setup } from "./utils/TestPool.js"

const noneClosed: PoolStats.PoolStats["connectionsClosed"] = {
  idle: 0,
  lifetime: 0,
  unhealthy: 0,
  broken: 0,
  closed: 0
}

const isInterruptedOnly = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)

describe("interruption loses nothing", () => {
  it.effect("a caller interrupted while waiting leaves the queue and counts as cancelled", () =>
    Effect.gen(function*() {
      const { closeAndCheck, fake, pool } = yield* setup({ name: "int-1", minConnections: 1, maxConnections: 1 })
      const holder = yield* Effect.fork(pool.use((lease) => Effect.as(Effect.sleep("1 second"), lease.id)))
      yield* Fake.settle
      const waiter = yield* Effect.fork(pool.use((lease) => Effect.succeed(lease.id)))
      yield* Fake.settle
      expect((yield* pool.stats).waitingRequests).toBe(1)

      yield* Fiber.interrupt(waiter)
      const stats = yield* pool.stats
      expect(stats.waitingRequests).toBe(0)
      expect(stats.cancelledRequests).toBe(1)
      expect(stats.totalRequests).toBe(2)
      expect(stats.successfulRequests).toBe(1)
      expect(stats.failedRequests).toBe(0)

      // The holder's release finds no waiter: the connection goes idle, not to the cancelled caller.
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(holder)).toBe("int-1-1")
      const after = yield* pool.stats
      expect(after.idleConnections).toBe(1)
      expect(after.activeConnections).toBe(0)
      expect(after.connectionsCreated).toBe(1)
      expect(yield* Ref.get(fake.acquired)).toBe(1)
      expect(yield* pool.use((lease) => Effect.succeed([lease.id, lease.usageCount] as const))).toEqual(["int-1-1", 2])
      yield* closeAndCheck
    }))

  it.effect("a caller interrupted while its connection is being created: the connection still arrives and ends idle", () =>
    Effect.gen(function*() {
      const { closeAndCheck, fake, pool } = yield* setup({ name: "int-2", minConnections: 0, maxConnections: 1 })
      yield* Ref.set(fake.createMode, { _tag: "slow", delay: "2 seconds" })
      const waiter = yield* Effect.fork(pool.use(() => Effect.void))
      yield* Fake.settle
      expect((yield* pool.stats).pendingConnections).toBe(1)
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(waiter)
      const mid = yield* pool.stats
      expect(mid.waitingRequests).toBe(0)
      expect(mid.cancelledRequests).toBe(1)
      expect(mid.pendingConnections).toBe(1)

      yield* TestClock.adjust("1 second")
      yield* Fake.settle
      const stats = yield* pool.stats
      expect(stats.pendingConnections).toBe(0)
      expect(stats.totalConnections).toBe(1)
      expect(stats.idleConnections).toBe(1)
      expect(stats.activeConnections).toBe(0)
      expect(stats.connectionsCreated).toBe(1)
      expect(yield* Ref.get(fake.attempts)).toBe(1)
      expect(yield* Ref.get(fake.acquired)).toBe(1)
      expect(yield* pool.use((lease) => Effect.succeed(lease.id))).toBe("int-2-1")
      yield* closeAndCheck
    }))

  it.effect("a connection whose first requester was interrupted goes to the next waiter, counted once", () =>
    Effect.gen(function*() {
      const { closeAndCheck, fake, pool } = yield* setup({ name: "int-3", minConnections: 0, maxConnections: 1 })
      yield* Ref.set(fake.createMode, { _tag: "slow", delay: "2 seconds" })
      const first = yield* Effect.fork(pool.use(() => Effect.void))
      yield* Fake.settle
      yield* TestClock.adjust("500 millis")
      const second = yield* Effect.fork(pool.use((lease) => Effect.succeed([lease.id, lease.usageCount] as const)))
      yield* Fake.settle
      yield* Fiber.interrupt(first)
      // One creation covers the one waiter left: no second attempt.
      expect((yield* pool.stats).pendingConnections).toBe(1)
      yield* TestClock.adjust("1500 millis")
      expect(yield* Fiber.join(second)).toEqual(["int-3-1", 1])
      yield* Fake.settle
      const stats = yield* pool.stats
      expect(stats.connectionsCreated).toBe(1)
      expect(stats.totalRequests).toBe(2)
      expect(stats.successfulRequests).toBe(1)
      expect(stats.cancelledRequests).toBe(1)
      expect(stats.idleConnections).toBe(1)
      expect(yield* Ref.get(fake.attempts)).toBe(1)
      yield* closeAndCheck
    }))

  it.effect("a caller interrupted while using its connection: the connection is closed as broken, not reused", () =>
    Effect.gen(function*() {
      const { closeAndCheck, fake, pool } = yield* setup({ name: "int-4", minConnections: 1, maxConnections: 1 })
      const user = yield* Effect.fork(pool.use(() => Effect.never))
      yield* Fake.settle
      expect((yield* pool.stats).activeConnections).toBe(1)
      yield* Fiber.interrupt(user)
      yield* Fake.settle
      expect(yield* Ref.get(fake.released)).toBe(1)
      const stats = yield* pool.stats
      expect(stats.connectionsClosed).toEqual({ ...noneClosed, broken: 1 })
      expect(stats.cancelledRequests).toBe(0)
      expect(stats.successfulRequests).toBe(1)
      expect(yield* pool.use((lease) => Effect.succeed(lease.id))).toBe("int-4-2")
      yield* closeAndCheck
    }))

  it.effect("a caller interrupted right after its connection was handed over (before it ran) gives it back unused", () =>
    Effect.gen(function*() {
      const { closeAndCheck, fake, pool } = yield* setup({ name: "int-5", minConnections: 1, maxConnections: 1 })
      const leaseScope = yield* Scope.make()
      yield* pool.get.pipe(Scope.extend(leaseScope))
      const waiter = yield* Effect.fork(pool.use(() => Effect.succeed("got it")))
      yield* Fake.settle
      expect((yield* pool.stats).waitingRequests).toBe(1)
      // Giving the lease back hands the connection to the waiter; it is interrupted before it can run.
      yield* Scope.close(leaseScope, Exit.void)
      yield* Fiber.interrupt(waiter)
      yield* Fake.settle
      expect(isInterruptedOnly(yield* Fiber.await(waiter))).toBe(true)
      const stats = yield* pool.stats
      expect(stats.totalRequests).toBe(2)
      expect(stats.successfulRequests).toBe(1)
      expect(stats.cancelledRequests).toBe(1)
      expect(stats.activeConnections).toBe(0)
      expect(stats.idleConnections).toBe(1)
      expect(stats.connectionsClosed).toEqual(noneClosed)
      expect(yield* Ref.get(fake.released)).toBe(0)
      expect((yield* pool.metrics).map((m) => [m.id, m.state, m.usageCount])).toEqual([["int-5-1", "idle", 1]])
      yield* closeAndCheck
    }))

  describe("property: hundreds of callers, some interrupted at random moments", () => {
    const fibers = 300
    const max = 10

    // Plain: creations take 50 ms. Checked: creations take 200 ms and every borrow runs a 30 ms validation,
    // so that interruptions also land during creations and during validations on borrow.
    // In both, fibers yield at random points (0 to 3 times before every acquire, release and validate,
    // before `use` and inside it), so that the scheduler interleaves them at many more places.
    it.effect.each(
      [[20261126, "plain"], [7, "plain"], [424242, "plain"], [99, "checked"], [31337, "checked"]] as const
    )("seed %i, %s", ([seed, variant]) =>
      Effect.gen(function*() {
        console.log(`interruption property test: seed=${seed} variant=${variant}`)
        const rng = Random.make(seed)
        const randomYields = Effect.flatMap(
          rng.nextIntBetween(0, 4),
          (n) => n === 0 ? Effect.void : Effect.repeatN(Effect.yieldNow(), n - 1)
        )
        const checked = variant === "checked"
        const { closeAndCheck, closeCalls, fake, pool } = yield* setup({
          name: `int-prop-${seed}`,
          minConnections: 2,
          maxConnections: max,
          acquireTimeout: "1 second",
          ...(checked ? { validateAfterIdle: 0, healthCheckInterval: "700 millis" } : {})
        }, { validate: checked, before: randomYields })
        yield* Ref.set(fake.createMode, { _tag: "slow", delay: checked ? "200 millis" : "50 millis" })
        if (checked) yield* Ref.set(fake.validateMode, { _tag: "slow", delay: "30 millis" })

        const held = new Set<number>()
        let violations = 0
        const callers: Array<Fiber.RuntimeFiber<number, PoolError.PoolError<string>>> = []
        const interrupters: Array<Fiber.RuntimeFiber<unknown>> = []
        for (let i = 0; i < fibers; i++) {
          const start = yield* rng.nextIntBetween(0, 2000)
          const useFor = yield* rng.nextIntBetween(0, 400)
          const invalidate = (yield* rng.nextIntBetween(0, 10)) === 0
          const caller = yield* Effect.fork(
            Effect.sleep(start).pipe(
              Effect.zipRight(randomYields),
              Effect.zipRight(pool.use((lease) =>
                Effect.gen(function*() {
                  // No connection is ever held by two callers at once, nor lent once closed.
                  if (held.has(lease.resource.id) || lease.resource.closed) violations++
                  held.add(lease.resource.id)
                  yield* randomYields
                  if (invalidate) yield* pool.invalidate(lease)
                  yield* Effect.sleep(useFor)
                  yield* randomYields
                  return lease.resource.id
                }).pipe(Effect.ensuring(Effect.sync(() => held.delete(lease.resource.id))))
              ))
            )
          )
          callers.push(caller)
          if ((yield* rng.nextIntBetween(0, 3)) === 0) {
            const at = start + (yield* rng.nextIntBetween(0, 1000))
            interrupters.push(yield* Effect.fork(Effect.sleep(at).pipe(Effect.zipRight(Fiber.interrupt(caller)))))
          }
        }

        const check = Effect.gen(function*() {
          const s = yield* pool.stats
          expect(s.activeConnections + s.idleConnections + s.validatingConnections + s.closingConnections).toBe(
            s.totalConnections
          )
          expect(s.totalConnections + s.pendingConnections).toBeLessThanOrEqual(max)
          // A request whose connection is being validated on borrow is in none of these counts yet (its
          // connection counts as validating); with no validation, the identity is exact at every step.
          const undecided = s.totalRequests -
            (s.successfulRequests + s.failedRequests + s.cancelledRequests + s.waitingRequests)
          if (checked) {
            expect(undecided).toBeGreaterThanOrEqual(0)
            expect(undecided).toBeLessThanOrEqual(s.validatingConnections)
          } else {
            expect(undecided).toBe(0)
          }
          return s
        })
        let steps = 0
        while (callers.some((f) => f.unsafePoll() === null) && steps < 1000) {
          yield* TestClock.adjust("10 millis")
          yield* Fake.settle
          yield* check
          steps++
        }
        expect(callers.every((f) => f.unsafePoll() !== null)).toBe(true)
        yield* Fiber.joinAll(interrupters)
        yield* Fake.settle

        const exits = yield* Effect.forEach(callers, Fiber.await)
        const succeeded = exits.filter(Exit.isSuccess).length
        const interrupted = exits.filter(isInterruptedOnly).length
        const timedOut = exits.filter((e) =>
          Exit.isFailure(e) && !Cause.isInterruptedOnly(e.cause) &&
          Cause.failureOption(e.cause).pipe((o) => o._tag === "Some" && o.value._tag === "PoolTimeoutError")
        ).length
        console.log(`seed=${seed}: ${succeeded} succeeded, ${interrupted} interrupted, ${timedOut} timed out`)
        expect(succeeded + interrupted + timedOut).toBe(fibers)
        expect(interrupted).toBeGreaterThan(0)
        expect(succeeded).toBeGreaterThan(0)

        expect(violations).toBe(0)
        expect(held.size).toBe(0)
        const s = yield* check
        expect(s.totalRequests).toBe(s.successfulRequests + s.failedRequests + s.cancelledRequests + s.waitingRequests)
        expect(s.activeConnections).toBe(0)
        expect(s.waitingRequests).toBe(0)
        expect(s.pendingConnections).toBe(0)
        expect(s.closingConnections).toBe(0)
        expect(s.idleConnections).toBe(s.totalConnections)
        expect(s.failedRequests).toBe(timedOut)
        expect(s.timeouts).toBe(timedOut)
        expect(s.successfulRequests).toBeGreaterThanOrEqual(succeeded)
        // The scenario reached each case: cancelled while waiting, interrupted while using.
        expect(s.cancelledRequests).toBeGreaterThan(0)
        expect(s.connectionsClosed.broken).toBeGreaterThan(0)
        console.log(
          `seed=${seed}: ${s.cancelledRequests} cancelled while waiting, ${s.connectionsClosed.broken} broken`
        )
        // Every resource is idle in the pool or closed, counted once.
        const alive = yield* Ref.get(fake.alive)
        expect(alive.size).toBe(s.totalConnections)
        const acquired = yield* Ref.get(fake.acquired)
        const released = yield* Ref.get(fake.released)
        expect(acquired).toBe(s.connectionsCreated)
        const closedTotal = Object.values(s.connectionsClosed).reduce((a, b) => a + b, 0)
        expect(released).toBe(closedTotal)
        expect(closeCalls()).toBe(released)
        expect(acquired - released).toBe(s.totalConnections)
        const idleIds = (yield* pool.metrics).filter((m) => m.state === "idle").map((m) => m.id).sort()
        expect(idleIds.length).toBe(alive.size)

        yield* closeAndCheck
      }), 60_000)
  })
})
