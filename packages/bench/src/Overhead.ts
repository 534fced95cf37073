/**
 * The pool's own overhead: acquire + release of a dummy resource, no I/O, for
 * dbpool's `ResourcePool` (`use` and `Effect.scoped(get)`), effect's `Pool.make`
 * and `Pool.makeWithTTL`, an effect `Semaphore` and a bare Effect loop as the
 * floors, and the promise pools (hand-written, generic-pool, tarn, pg-pool),
 * side by side in one run, interleaved round by round, under a real clock.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as internal from "./internal/overhead.js"

/**
 * What is measured: `"dbpool.use"` is `pool.use(() => Effect.void)`;
 * `"dbpool.use.observed"` is the same while one fiber drains `pool.events`
 * and another `pool.changes` for the whole round (the bar's "stats and
 * events on"); `"dbpool.use.dashboard"` is the same while @dbpool/dashboard
 * serves the pool, a page's feed (`/events`) is read by another process that
 * also scrapes `/metrics` (Prometheus of @dbpool/observability) every second;
 * `"dbpool.get"` is `Effect.scoped(pool.get)`, `"effect.Pool"` and
 * `"effect.PoolTTL"` are `Effect.scoped(pool.get)` on `Pool.make` and
 * `Pool.makeWithTTL`, `"effect.fair"` is `use` on a minimal fair pool written
 * with Effect in the benchmark (a FIFO of waiters, a release hands the item
 * to the oldest: no barging), `"effect.Semaphore"` is `semaphore.withPermits(1)`,
 * `"effect.bare"` is the same fiber loop around `Effect.void`, no pool. The
 * promise peers run in async functions, not fibers: `"promise.pool"` is a
 * hand-written pool (a stack of idle items, a FIFO of resolvers),
 * `"generic-pool"`, `"tarn"` and `"pg-pool"` (over a fake client that opens no
 * socket) the npm packages, each `release(await acquire())`.
 *
 * @since 0.1.0
 * @category models
 */
export type ContenderId =
  | "dbpool.use"
  | "dbpool.use.observed"
  | "dbpool.use.dashboard"
  | "dbpool.get"
  | "effect.Pool"
  | "effect.PoolTTL"
  | "effect.fair"
  | "effect.Semaphore"
  | "effect.bare"
  | "promise.pool"
  | "generic-pool"
  | "pg-pool"
  | "tarn"

/**
 * A pool size and a number of fibers looping acquire + release on it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Case {
  readonly size: number
  readonly fibers: number
}

/**
 * One round of one contender. Latencies are from asking to having, in
 * microseconds, over the sampled operations.
 *
 * @since 0.1.0
 * @category models
 */
export interface Round {
  readonly ops: number
  readonly elapsedMs: number
  readonly opsPerSec: number
  /** The process's CPU time (user + system, `process.cpuUsage`) over the counted window per operation, µs. */
  readonly cpuUsPerOp: number
  readonly samples: number
  /**
   * Operations each fiber completed while counting: fewest, median, most. An
   * unfair pool shows as a wide spread (0 = a fiber starved for the whole round).
   */
  readonly opsPerFiber: { readonly min: number; readonly p50: number; readonly max: number }
  /** How long after the fibers were started counting began (see `run`). */
  readonly settledAfterMs: number
  readonly p50: number
  readonly p99: number
  readonly p999: number
  readonly max: number
}

/**
 * The figures of one contender in one case: each the median over the rounds.
 *
 * @since 0.1.0
 * @category models
 */
export interface ContenderResult {
  readonly id: ContenderId
  readonly opsPerSec: number
  readonly cpuUsPerOp: number
  readonly p50: number
  readonly p99: number
  readonly p999: number
  readonly max: number
  readonly rounds: ReadonlyArray<Round>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface CaseResult extends Case {
  readonly contenders: ReadonlyArray<ContenderResult>
}

/**
 * A whole run. `leaks` lists every resource, lease or permit found still held
 * after a round: it must be empty.
 *
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly quick: boolean
  readonly durationMs: number
  readonly rounds: number
  readonly sampleEvery: number
  readonly warmupMs: number
  readonly globalWarmupMs: number
  readonly startedAt: string
  readonly totalSeconds: number
  readonly cases: ReadonlyArray<CaseResult>
  readonly leaks: ReadonlyArray<string>
}

/**
 * How to run. `quick` means 0.1 s rounds, 2 rounds, 10/10, 10/100 and
 * 100/1000; otherwise 1 s rounds, 5 rounds, the cases of `fullCases`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly quick?: boolean | undefined
  /** Length of one round, in milliseconds of real time. */
  readonly durationMs?: number | undefined
  readonly rounds?: number | undefined
  /** One discarded round per contender and case, before the counted ones (default: half a round; none in quick mode). */
  readonly warmupMs?: number | undefined
  /**
   * Before the first case, each contender runs this long at 10/1 and at 10/100,
   * uncounted (default 1.5 s, 0.1 s in quick mode).
   */
  readonly globalWarmupMs?: number | undefined
  /** One operation in this many (a power of two) is timed. Default 4. */
  readonly sampleEvery?: number | undefined
  readonly cases?: ReadonlyArray<Case> | undefined
  readonly contenders?: ReadonlyArray<ContenderId> | undefined
  /** Called with each case as it completes. */
  readonly log?: ((result: CaseResult) => void) | undefined
}

/**
 * Every contender, in the order they run within a round.
 *
 * @since 0.1.0
 * @category constants
 */
export const contenders: ReadonlyArray<ContenderId> = internal.contenders

/**
 * Human names of the contenders, for tables.
 *
 * @since 0.1.0
 * @category constants
 */
export const labels: Readonly<Record<ContenderId, string>> = internal.labels

/**
 * 10/1, 10/10, 10/100, 50/200, 100/1000 (pool size / fibers).
 *
 * @since 0.1.0
 * @category constants
 */
export const fullCases: ReadonlyArray<Case> = internal.fullCases

/**
 * 10/10, 10/100, 100/1000.
 *
 * @since 0.1.0
 * @category constants
 */
export const quickCases: ReadonlyArray<Case> = internal.quickCases

/**
 * Runs the benchmark. Run it with `Effect.runPromise`: it needs the real clock.
 * In each round, nothing counts until every fiber has finished one operation
 * and a quarter of a round has passed: at the start, the first fibers to run
 * find idle resources and loop for a while before the others even ask.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Overhead from "@dbpool/bench/Overhead"
 *
 * const report = await Effect.runPromise(
 *   Overhead.run({ quick: true, cases: [{ size: 10, fibers: 100 }] })
 * )
 * console.log(report.cases[0].contenders.map((c) => [c.id, c.opsPerSec]))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const run: (options: Options) => Effect.Effect<Report, unknown> = internal.run

/**
 * The value at quantile `q` (0 to 1) of ascending samples, nearest rank.
 *
 * @example
 * ```ts
 * import * as Overhead from "@dbpool/bench/Overhead"
 *
 * Overhead.quantile(Float64Array.of(1, 2, 3, 4), 0.5) // 2
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const quantile: (sorted: Float64Array, q: number) => number = internal.quantile

/**
 * The median of some numbers (the mean of the two middle ones for an even count).
 *
 * @example
 * ```ts
 * import * as Overhead from "@dbpool/bench/Overhead"
 *
 * Overhead.median([3, 1, 2]) // 2
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const median: (values: ReadonlyArray<number>) => number = internal.median
