/**
 * What the fault tests of docs/fault-scenarios.md share, whatever the driver: the tolerance ε, timing and polling,
 * the pool's size sampled every 10 ms with the samples that broke its bounds, the process' unhandled
 * errors, typed-failure checks, a password's absence from every rendering of an error, the end of every
 * scenario (the pool closed holds nothing, the server counts none of ours), a pool's own scope, seeded
 * randomness (`DBPOOL_SEED`), and whether the machine's main servers are up.
 *
 * Nothing here depends on a test runner: a check that does not hold throws (or dies) with what it saw,
 * which fails the test like an assertion would. Nothing depends on `@dbpool/core` either: the sampler
 * reads any statistics with the pool's size fields.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as lag from "./internal/lagMeter.js"
import * as internal from "./internal/reliability.js"

/**
 * ε of docs/fault-scenarios.md: the tolerance on every time bound, in milliseconds.
 *
 * @example
 * ```ts
 * import { Reliability } from "@dbpool/testing"
 *
 * const onTime = (elapsed: number) => Math.abs(elapsed - 500) <= Reliability.epsilon
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const epsilon: number = internal.epsilon

/**
 * How late this process got to run while a test ran: a 10 ms timer is re-armed for as long as the scope is
 * open, and each firing's delay beyond 10 ms is its lag. On a busy machine (other test suites on the same
 * cores) every timer is late by about as much, the pool's and the test's alike, so a millisecond bound is
 * widened by what was measured rather than by a guess.
 *
 * @since 0.1.0
 * @category models
 */
export interface LagMeter {
  /** The largest lag seen so far, in milliseconds (rounded). */
  readonly max: Effect.Effect<number>
  /** How many timers fired so far. */
  readonly samples: Effect.Effect<number>
  /** The tolerance a time bound should get now: `epsilon + 2 × max`, in milliseconds. */
  readonly slack: Effect.Effect<number>
  /** An upper bound widened by what was measured: `bound + 2 × max`, in milliseconds. */
  readonly widen: (bound: number) => Effect.Effect<number>
}

/**
 * Starts measuring the event loop's lag until the scope closes (see `LagMeter`).
 *
 * @example
 * ```ts
 * import { Reliability } from "@dbpool/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const lag = yield* Reliability.makeLagMeter
 *   const { elapsed } = yield* Reliability.timed(Effect.sleep("500 millis"))
 *   return Math.abs(elapsed - 500) <= (yield* lag.slack) // true, however busy the machine
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeLagMeter: Effect.Effect<LagMeter, never, Scope.Scope> = lag.makeLagMeter(internal.epsilon)

/**
 * A `LagMeter` read without Effect, for bounds checked in plain `expect`s; `reset` starts a new measurement
 * (e.g. in `beforeEach`), `stop` ends it (in `afterAll`).
 *
 * @since 0.1.0
 * @category models
 */
export interface UnsafeLagMeter {
  readonly max: () => number
  readonly samples: () => number
  readonly slack: () => number
  readonly widen: (bound: number) => number
  readonly reset: () => void
  readonly stop: () => void
}

/**
 * Starts measuring the event loop's lag until `stop` (see `LagMeter`); the timer does not keep the process
 * alive.
 *
 * @example
 * ```ts
 * import { Reliability } from "@dbpool/testing"
 * import { afterAll, beforeEach } from "vitest"
 *
 * const lag = Reliability.unsafeLagMeter()
 * beforeEach(lag.reset)
 * afterAll(lag.stop)
 * // in a test: expect(elapsed).toBeLessThanOrEqual(500 + lag.slack())
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const unsafeLagMeter = (): UnsafeLagMeter => lag.unsafeMake(internal.epsilon)

/**
 * An effect's exit and how long it took, in milliseconds (`performance.now`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Timed<A, E> {
  readonly exit: Exit.Exit<A, E>
  readonly elapsed: number
}

/**
 * Runs an effect and times it; its failure is in the exit, never in the error channel.
 *
 * @example
 * ```ts
 * import { Reliability } from "@dbpool/testing"
 * import { Effect } from "effect"
 *
 * const nap = Reliability.timed(Effect.sleep("50 millis")) // { exit: Exit.void, elapsed: 50.3 }
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const timed: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<Timed<A, E>, never, R> = internal.timed

/**
 * The last value a poll read, and how long the poll took (whole milliseconds).
 *
 * @since 0.1.0
 * @category models
 */
export interface Polled<A> {
  readonly value: A
  readonly elapsed: number
}

/**
 * Runs `effect` every `interval` ms (default 10) until its value satisfies `condition` or `timeout` ms
 * (default 3000) pass, and returns the last value with the time taken: the test asserts on both.
 *
 * @example
 * ```ts
 * import { Reliability, ServerCount } from "@dbpool/testing"
 *
 * const gone = Reliability.until(ServerCount.postgres("my-pool"), (n) => n === 0, 2000)
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const until: <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  condition: (a: A) => boolean,
  timeout?: number,
  interval?: number
) => Effect.Effect<Polled<A>, E, R> = internal.until

/**
 * Runs `effect` every 10 ms until its value satisfies `condition`, and returns that value; dies after
 * `timeout` ms (default 3000) with `what` it waited for and the last value.
 *
 * @example
 * ```ts
 * import { Reliability, ServerCount } from "@dbpool/testing"
 *
 * const refilled = Reliability.eventually("5 connections", ServerCount.postgres("my-pool"), (n) => n === 5)
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const eventually: <A, E, R>(
  what: string,
  effect: Effect.Effect<A, E, R>,
  condition: (a: A) => boolean,
  timeout?: number
) => Effect.Effect<A, E, R> = internal.eventually

/**
 * The fields of a pool's statistics that its size bounds speak of (`PoolStats` of `@dbpool/core` has them).
 *
 * @since 0.1.0
 * @category models
 */
export interface SizeStats {
  readonly maxConnections: number
  readonly totalConnections: number
  readonly pendingConnections: number
  readonly activeConnections: number
  readonly idleConnections: number
}

/**
 * Statistics as the sampler read them, with the time (`performance.now`).
 *
 * @since 0.1.0
 * @category models
 */
export type Sample<S> = S & { readonly at: number }

/**
 * What the 10 ms sampler saw so far: every sample, those that broke the bound, and the largest
 * `total + pending`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SizeSampler<S> {
  readonly samples: ReadonlyArray<Sample<S>>
  readonly violations: ReadonlyArray<Sample<S>>
  readonly maxSize: number
  /** Stops sampling (the scope's end stops it too). */
  readonly stop: Effect.Effect<void>
}

/**
 * `total + pending ≤ max`: never more connections than the maximum, counting those being opened, validated
 * and closed. The sampler's default bound.
 *
 * @example
 * ```ts
 * import { Reliability } from "@dbpool/testing"
 *
 * Reliability.withinMax({ maxConnections: 2, totalConnections: 2, pendingConnections: 1, activeConnections: 2, idleConnections: 0 }) // false
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const withinMax: (stats: SizeStats) => boolean = internal.withinMax

/**
 * Both invariants of `PoolStats`: `withinMax`, and `active + idle ≤ total`.
 *
 * @example
 * ```ts
 * import { Reliability } from "@dbpool/testing"
 *
 * Reliability.consistent({ maxConnections: 2, totalConnections: 1, pendingConnections: 0, activeConnections: 1, idleConnections: 1 }) // false
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const consistent: (stats: SizeStats) => boolean = internal.consistent

/**
 * Reads `stats` every 10 ms, from now until `stop` or the scope's end, as docs/fault-scenarios.md asks; a sample
 * where `within` (default `withinMax`) does not hold is a violation.
 *
 * @example
 * ```ts
 * import { Reliability } from "@dbpool/testing"
 * import { Effect } from "effect"
 *
 * declare const stats: Effect.Effect<Reliability.SizeStats>
 * const program = Effect.gen(function*() {
 *   const size = yield* Reliability.sampleSize(stats, Reliability.consistent)
 *   // ... the scenario ...
 *   yield* size.stop
 *   return size.violations // []
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const sampleSize: <S extends SizeStats, R>(
  stats: Effect.Effect<S, never, R>,
  within?: (stats: S) => boolean
) => Effect.Effect<SizeSampler<S>, never, R | Scope.Scope> = internal.sampleSize

/**
 * The process' `uncaughtException`s and `unhandledRejection`s while the scope is open (an idle client's
 * error event with no listener would crash the process: node-postgres #2386). The test expects it empty.
 *
 * @example
 * ```ts
 * import { Reliability } from "@dbpool/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const unhandled = yield* Reliability.watchUnhandled
 *   // ... the scenario ...
 *   return unhandled.length // 0
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const watchUnhandled: Effect.Effect<ReadonlyArray<unknown>, never, Scope.Scope> = internal.watchUnhandled

/**
 * The typed failure of an exit. A success, a defect, or an interruption alone throws, showing the cause.
 *
 * @example
 * ```ts
 * import { Reliability } from "@dbpool/testing"
 * import { Exit } from "effect"
 *
 * Reliability.failureOf(Exit.fail("refused")) // "refused"
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const failureOf: <A, E>(exit: Exit.Exit<A, E>) => E = internal.failureOf

/**
 * A tagged error, as `taggedFailure` returns it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tagged {
  readonly _tag: string
  readonly cause?: unknown
}

/**
 * The failure of an exit, which must be a tagged error (`Data.TaggedError`): as `failureOf`, and an
 * interruption anywhere in the cause, or a failure without a string `_tag`, throws too.
 *
 * @example
 * ```ts
 * import { Reliability } from "@dbpool/testing"
 * import { Exit } from "effect"
 *
 * Reliability.taggedFailure(Exit.fail({ _tag: "PoolTimeoutError" }))._tag // "PoolTimeoutError"
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const taggedFailure: (exit: Exit.Exit<unknown, unknown>) => Tagged = internal.taggedFailure

/**
 * Builds `layer` in a scope of its own, which must fail: returns its typed error and how long the build
 * took (ms). A layer that builds, a defect or an interruption dies, showing what happened.
 *
 * @example
 * ```ts
 * import { Reliability } from "@dbpool/testing"
 * import { Effect, Layer } from "effect"
 *
 * const refused = Reliability.layerError(Layer.fail("no server")) // { error: "no server", elapsed: 0.1 }
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const layerError: <E>(
  layer: Layer.Layer<never, E>
) => Effect.Effect<{ readonly error: E; readonly elapsed: number }> = internal.layerError

/**
 * How an error shows: its message, `String(error)` and its JSON; a test checks a password is in none.
 *
 * @example
 * ```ts
 * import { Reliability } from "@dbpool/testing"
 *
 * const leaks = (error: unknown, password: string) =>
 *   Reliability.renderings(error).filter((text) => text.includes(password)) // []
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const renderings: (error: unknown) => ReadonlyArray<string> = internal.renderings

/**
 * The end of every scenario: `close` closes the pool and returns its statistics, which must count no
 * connection; then the server's `count` of ours must reach 0 within `timeout` ms (default 3000: a server
 * notices a closed socket a little later). Dies with what it saw otherwise; returns the statistics.
 *
 * @example
 * ```ts
 * import { Reliability, ServerCount } from "@dbpool/testing"
 * import type { Effect } from "effect"
 *
 * declare const close: Effect.Effect<Reliability.SizeStats>
 * const end = Reliability.closeAndCount(close, ServerCount.postgres("my-pool"), 2000)
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const closeAndCount: <S extends SizeStats, E, R, E2, R2>(
  close: Effect.Effect<S, E, R>,
  count: Effect.Effect<number, E2, R2>,
  timeout?: number
) => Effect.Effect<S, E | E2, R | R2> = internal.closeAndCount

/**
 * A value built in a scope of its own, closed by `close` (a test closing its pool mid-scenario) or, at the
 * latest, with the enclosing scope (so that a failing test leaves nothing open).
 *
 * @since 0.1.0
 * @category models
 */
export interface OwnScope<A> {
  readonly value: A
  readonly scope: Scope.CloseableScope
  readonly close: Effect.Effect<void>
}

/**
 * Builds `effect` in a scope of its own (see `OwnScope`).
 *
 * @example
 * ```ts
 * import { FaultProxy, Reliability } from "@dbpool/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const own = yield* Reliability.ownScope(FaultProxy.make({ target: { host: "127.0.0.1", port: 5432 } }))
 *   yield* own.close // the proxy is gone, the test goes on
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const ownScope: <A, E, R>(
  effect: Effect.Effect<A, E, R>
) => Effect.Effect<OwnScope<A>, E, Exclude<R, Scope.Scope> | Scope.Scope> = internal.ownScope

/**
 * A seeded generator (mulberry32), so that a randomized run can be repeated with its seed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Random {
  readonly seed: number
  /** A number in [0, 1). */
  readonly next: () => number
  /** A whole number in [min, max]. */
  readonly int: (min: number, max: number) => number
  /** A whole number in [0, n). */
  readonly below: (n: number) => number
  readonly pick: <A>(items: ReadonlyArray<A>) => A
}

/**
 * A seeded generator: the same seed gives the same sequence.
 *
 * @example
 * ```ts
 * import { Reliability } from "@dbpool/testing"
 *
 * const rng = Reliability.random(42)
 * const delay = rng.int(100, 400)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const random: (seed: number) => Random = internal.random

/**
 * The seeds of a randomized test: `DBPOOL_SEED` (one, or several comma-separated) when set, to rerun a
 * failing seed, else `defaults`. The test prints each seed it runs.
 *
 * @example
 * ```ts
 * import { Reliability } from "@dbpool/testing"
 *
 * const seeds = Reliability.seeds([1, 2, Date.now() % 1_000_000_000])
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const seeds: (defaults: ReadonlyArray<number>) => ReadonlyArray<number> = internal.seeds

/**
 * A machine's main server: PostgreSQL on 127.0.0.1:5432 (postgres, trust, database `test`) or MariaDB on
 * 127.0.0.1:3306 (root, no password, database `test`).
 *
 * @since 0.1.0
 * @category models
 */
export type System = "postgresql" | "mariadb"

/**
 * Whether the tests that need this main server should run: when it answers, and always in CI (`CI` set),
 * where a missing server must fail them rather than skip them. Elsewhere a missing server skips them,
 * saying so once (`suite` names them in the warning).
 *
 * @example
 * ```ts
 * import { Reliability } from "@dbpool/testing"
 * import { describe } from "@effect/vitest"
 * import { Effect } from "effect"
 *
 * const run = await Effect.runPromise(Reliability.mainServer("mariadb", "the @dbpool/mysql reliability tests"))
 * export const describeDb = run ? describe : describe.skip
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const mainServer: (system: System, suite: string) => Effect.Effect<boolean> = internal.mainServer
