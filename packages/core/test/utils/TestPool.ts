/**
 * A pool over the fake resource in a scope of the test's own, with the checks
 * every test ends with: close the pool, then every resource ever opened must
 * have been closed exactly once.
 */
import { ResourcePool } from "@dbpool/core"
import type { PoolConfig } from "@dbpool/core"
import { expect } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Ref, Scope, TestClock } from "effect"
import * as Fake from "./FakeResource.js"

export const setup = (
  config: PoolConfig.Input,
  options: {
    readonly validate?: boolean
    /** Run before every acquire, release and validate: lets a test make them yield at random. */
    readonly before?: Effect.Effect<void>
  } = {}
) =>
  Effect.gen(function*() {
    const fake = yield* Fake.make
    const scope = yield* Scope.make()
    let closeCalls = 0
    const before = options.before ?? Effect.void
    const pool = yield* ResourcePool.make({
      acquire: Effect.zipRight(before, fake.acquire),
      release: (conn) => Effect.zipRight(before, Effect.suspend(() => (closeCalls++, fake.release(conn)))),
      validate: options.validate
        ? (conn: Fake.FakeConnection) => Effect.zipRight(before, fake.validate(conn))
        : undefined,
      config
    }).pipe(Scope.extend(scope))
    /** Every resource opened was closed, exactly once. */
    const checkAllClosedOnce = Effect.gen(function*() {
      const acquired = yield* Ref.get(fake.acquired)
      expect(yield* Ref.get(fake.released)).toBe(acquired)
      expect(closeCalls).toBe(acquired)
      expect(yield* Ref.get(fake.alive)).toEqual(new Set())
    })
    /** Closes the pool (letting a minute pass for the shutdown's grace period), then checks. */
    const closeAndCheck = Effect.gen(function*() {
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* Fake.settle
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(closing)
      yield* checkAllClosedOnce
    })
    return { fake, pool, scope, closeAndCheck, checkAllClosedOnce, closeCalls: () => closeCalls }
  })

/**
 * A pool over a fresh fake resource, in a scope of the test's own, with the
 * fake's own hooks unless the test gives others. Unlike `setup` it adds no
 * step around the hooks, for tests whose interleaving must stay as written.
 */
export const plainPool = (
  config: PoolConfig.Input,
  hooks: {
    readonly acquire?: (fake: Fake.FakeResource) => Effect.Effect<Fake.FakeConnection, string>
    readonly validate?: (fake: Fake.FakeResource) => (conn: Fake.FakeConnection) => Effect.Effect<void, string>
  } = {}
) =>
  Effect.gen(function*() {
    const fake = yield* Fake.make
    const scope = yield* Scope.make()
    const pool = yield* ResourcePool.make({
      acquire: hooks.acquire ? hooks.acquire(fake) : fake.acquire,
      release: fake.release,
      validate: hooks.validate?.(fake),
      config
    }).pipe(Scope.extend(scope))
    return { fake, pool, scope }
  })

/** `f`, except that its first call interrupts itself: an acquire or validate that interrupts itself once. */
export const interruptsFirst = <Args extends ReadonlyArray<unknown>, A, E>(
  f: (...args: Args) => Effect.Effect<A, E>
): (...args: Args) => Effect.Effect<A, E> => {
  let calls = 0
  return (...args) => calls++ === 0 ? Effect.interrupt : f(...args)
}

/**
 * A pool of one, in a scope of the test's own, whose connection is held by a
 * fiber until `gate` is opened: the start of the scenarios that put a second
 * caller's steps between the holder's (run under `SteppingScheduler`).
 */
export const heldPoolOfOne = (config: PoolConfig.Input) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    let opened = 0
    const pool = yield* ResourcePool.make({
      acquire: Effect.sync(() => ({ id: ++opened })),
      config: { ...config, minConnections: 1, maxConnections: 1 }
    }).pipe(Scope.extend(scope))
    const gate = yield* Deferred.make<void>()
    const holder = yield* Effect.fork(pool.use(() => Deferred.await(gate)))
    while ((yield* pool.stats).activeConnections === 0) yield* Effect.yieldNow()
    return { gate, holder, pool, scope }
  })
