/**
 * A fake resource for the pool's tests: every creation, close and validation is
 * counted, and creation and validation can be made to fail, hang or be slow on
 * command, so "how many are alive" is always checkable.
 */
import { expect } from "@effect/vitest"
import { Effect, Ref, TestClock } from "effect"
import type { Duration } from "effect"

export interface FakeConnection {
  readonly id: number
  closed: boolean
}

export type Mode =
  | { readonly _tag: "ok" }
  | { readonly _tag: "fail"; readonly error: string }
  | { readonly _tag: "hang" }
  | { readonly _tag: "slow"; readonly delay: Duration.DurationInput }

export interface FakeResource {
  /** Creations started (attempts), creations that succeeded, closes, validations. */
  readonly attempts: Ref.Ref<number>
  readonly acquired: Ref.Ref<number>
  readonly released: Ref.Ref<number>
  readonly validations: Ref.Ref<number>
  /** Connections open right now (acquired and not yet released). */
  readonly alive: Ref.Ref<ReadonlySet<number>>
  readonly createMode: Ref.Ref<Mode>
  readonly validateMode: Ref.Ref<Mode>
  /** Ids whose validation fails regardless of validateMode. */
  readonly unhealthy: Ref.Ref<ReadonlySet<number>>
  readonly acquire: Effect.Effect<FakeConnection, string>
  readonly release: (conn: FakeConnection) => Effect.Effect<void>
  readonly validate: (conn: FakeConnection) => Effect.Effect<void, string>
}

const run = (mode: Mode): Effect.Effect<void, string> => {
  switch (mode._tag) {
    case "ok":
      return Effect.void
    case "fail":
      return Effect.fail(mode.error)
    case "hang":
      return Effect.never
    case "slow":
      return Effect.sleep(mode.delay)
  }
}

export const make: Effect.Effect<FakeResource> = Effect.gen(function*() {
  const attempts = yield* Ref.make(0)
  const acquired = yield* Ref.make(0)
  const released = yield* Ref.make(0)
  const validations = yield* Ref.make(0)
  const alive = yield* Ref.make<ReadonlySet<number>>(new Set())
  const createMode = yield* Ref.make<Mode>({ _tag: "ok" })
  const validateMode = yield* Ref.make<Mode>({ _tag: "ok" })
  const unhealthy = yield* Ref.make<ReadonlySet<number>>(new Set())
  let nextId = 0
  const acquire = Effect.gen(function*() {
    yield* Ref.update(attempts, (n) => n + 1)
    yield* Effect.flatMap(Ref.get(createMode), run)
    // Registering the new connection is one uninterruptible step: a connection exists iff it is counted.
    return yield* Effect.uninterruptible(Effect.gen(function*() {
      const conn: FakeConnection = { id: ++nextId, closed: false }
      yield* Ref.update(acquired, (n) => n + 1)
      yield* Ref.update(alive, (s) => new Set([...s, conn.id]))
      return conn
    }))
  })
  const release = (conn: FakeConnection) =>
    Effect.gen(function*() {
      if (conn.closed) return yield* Effect.dieMessage(`connection ${conn.id} closed twice`)
      conn.closed = true
      yield* Ref.update(released, (n) => n + 1)
      yield* Ref.update(alive, (s) => {
        const next = new Set(s)
        next.delete(conn.id)
        return next
      })
    })
  const validate = (conn: FakeConnection) =>
    Effect.gen(function*() {
      yield* Ref.update(validations, (n) => n + 1)
      if ((yield* Ref.get(unhealthy)).has(conn.id)) return yield* Effect.fail(`connection ${conn.id} is unhealthy`)
      yield* Effect.flatMap(Ref.get(validateMode), run)
    })
  return {
    attempts,
    acquired,
    released,
    validations,
    alive,
    createMode,
    validateMode,
    unhealthy,
    acquire,
    release,
    validate
  }
})

/** Lets forked fibers and the pool's background fibers run until nothing more happens without the clock. */
export const settle = Effect.repeatN(Effect.yieldNow(), 50)

/**
 * Lets the pool's background fibers run until `read` satisfies `done` (at most 10,000 yields; the TestClock
 * does not move), and returns the last value read: for a step whose number of scheduler turns is not fixed.
 */
export const settleUntil = <A>(read: Effect.Effect<A>, done: (a: A) => boolean): Effect.Effect<A> =>
  Effect.gen(function*() {
    let value = yield* read
    for (let i = 0; i < 10_000 && !done(value); i++) {
      yield* Effect.yieldNow()
      value = yield* read
    }
    return value
  })

/** Nothing leaked: every connection the fake opened was closed exactly once, and none is open. */
export const expectNoLeak = (fake: FakeResource) =>
  Effect.gen(function*() {
    yield* settle
    expect(yield* Ref.get(fake.released)).toBe(yield* Ref.get(fake.acquired))
    expect(yield* Ref.get(fake.alive)).toEqual(new Set())
  })

/** Moves the TestClock on, then lets the pool's background fibers act. */
export const advance = (duration: Duration.DurationInput) => Effect.zipRight(TestClock.adjust(duration), settle)
