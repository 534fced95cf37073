/**
 * Bar 5, scale: the cost of an acquire + release as the number of fibers
 * waiting on a pool of 10 grows from 10 to 10,000; the duration of a
 * health-check round against the pool's size, and the acquire latency of
 * fibers using the pool while rounds run; the cost of 100 subscribers to the
 * pool's `changes` (and `events`). dbpool's `ResourcePool` over dummy
 * resources, under the real clock.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as internal from "./internal/scale.js"

/**
 * Fewest, median and most operations per fiber in a round.
 *
 * @since 0.1.0
 * @category models
 */
export interface Spread {
  readonly min: number
  readonly p50: number
  readonly max: number
}

/**
 * One round of fibers looping on a pool: operations counted in the window,
 * its length, and the process's CPU time per operation (µs, user + system).
 *
 * @since 0.1.0
 * @category models
 */
export interface Round {
  readonly ops: number
  readonly elapsedMs: number
  readonly opsPerSec: number
  readonly cpuUsPerOp: number
  readonly opsPerFiber: Spread
}

/**
 * Acquire cost at one number of fibers: medians over the rounds, and ratios
 * to the 100-fiber row (the bar: within ±50 %).
 *
 * @since 0.1.0
 * @category models
 */
export interface WaitersRow {
  readonly size: number
  readonly fibers: number
  readonly opsPerSec: number
  readonly cpuUsPerOp: number
  readonly opsRatio: number
  readonly cpuRatio: number
  readonly opsPerFiber: Spread
  /** The pool's `waitingRequests` during the window (median of samples). */
  readonly waiting: number
  readonly rounds: ReadonlyArray<Round>
}

/**
 * How long a health-check round of a pool of `size` idle resources took
 * (ms, median), per connection, and that per-connection figure against the
 * smallest pool's (1 or less: linear or better).
 *
 * @since 0.1.0
 * @category models
 */
export interface HealthRoundRow {
  readonly size: number
  readonly roundMs: number
  readonly perConnectionMs: number
  readonly perConnectionRatio: number
  readonly rounds: ReadonlyArray<number>
}

/**
 * Throughput, CPU per operation and acquire latency (µs) of fibers looping
 * `use`; `checksPerSec` counts the health checks run meanwhile.
 *
 * @since 0.1.0
 * @category models
 */
export interface LatencyFigures {
  readonly opsPerSec: number
  readonly cpuUsPerOp: number
  readonly p50: number
  readonly p99: number
  readonly max: number
  readonly checksPerSec: number
}

/**
 * The health-check part: round durations per pool size, and latency per
 * pool size without rounds (`idle`) and with rounds back to back
 * (`checking`).
 *
 * @since 0.1.0
 * @category models
 */
export interface HealthReport {
  readonly validateMs: number
  readonly gapMs: number
  readonly fibers: number
  readonly rounds: ReadonlyArray<HealthRoundRow>
  readonly latency: ReadonlyArray<{
    readonly size: number
    readonly idle: LatencyFigures
    readonly checking: LatencyFigures
  }>
}

/**
 * Who listens during a subscribers round: nobody, 100 fibers draining
 * `changes` (default `statsInterval`, or 10 ms), or 100 draining `events`.
 *
 * @since 0.1.0
 * @category models
 */
export type SubscriberVariant = "none" | "changes" | "changes.fast" | "events"

/**
 * Throughput and CPU per operation with one kind of subscribers, and their
 * ratios to the row without (the bar: 100 `changes` subscribers cost ≤ 5 %).
 *
 * @since 0.1.0
 * @category models
 */
export interface SubscriberRow {
  readonly variant: SubscriberVariant
  readonly size: number
  readonly fibers: number
  readonly subscribers: number
  readonly opsPerSec: number
  readonly cpuUsPerOp: number
  readonly opsRatio: number
  readonly cpuRatio: number
  /** Items received by all subscribers together per second of the window: proof that they were served. */
  readonly deliveriesPerSec: number
  readonly rounds: ReadonlyArray<Round>
}

/**
 * A whole run.
 *
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly quick: boolean
  readonly durationMs: number
  /** The subscribers' rounds: 3 s by default, so that the default 1 s statsInterval publishes in each. */
  readonly subscriberDurationMs: number
  readonly rounds: number
  readonly startedAt: string
  readonly totalSeconds: number
  readonly waiters: ReadonlyArray<WaitersRow>
  readonly health: HealthReport | undefined
  readonly subscribers: ReadonlyArray<SubscriberRow>
}

/**
 * How to run. `quick`: one round of 0.2 s of each, up to 1,000 fibers and
 * pools of 100 for the health checks; otherwise 1 s (3 s for the subscribers), 5 rounds (3 round
 * durations). `durationMs` sets every round's length. `parts` picks which of
 * the three to run.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly quick?: boolean | undefined
  readonly durationMs?: number | undefined
  readonly rounds?: number | undefined
  readonly parts?: ReadonlyArray<"waiters" | "health" | "subscribers"> | undefined
  /** Numbers of fibers for the acquire-cost rows; default 10, 100, 1,000, 10,000. */
  readonly waiterFibers?: ReadonlyArray<number> | undefined
  /** Pool sizes for the health-check part; default 10, 100, 1,000. */
  readonly healthSizes?: ReadonlyArray<number> | undefined
  readonly log?: ((line: string) => void) | undefined
}

/**
 * Runs the benchmark. Run it with `Effect.runPromise`: it needs the real clock.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Scale from "@dbpool/bench/Scale"
 *
 * const report = await Effect.runPromise(Scale.run({ quick: true, parts: ["waiters"] }))
 * console.log(Scale.tables(report))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const run: (options: Options) => Effect.Effect<Report, unknown> = internal.run

/**
 * The figures as markdown tables, then the verdicts against bar 5.
 *
 * @example
 * ```ts
 * import * as Scale from "@dbpool/bench/Scale"
 *
 * declare const report: Scale.Report
 * console.log(Scale.tables(report))
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const tables: (report: Report) => string = internal.tables

/**
 * One sentence per part of bar 5: met or not, with the figures that say so.
 *
 * @example
 * ```ts
 * import * as Scale from "@dbpool/bench/Scale"
 *
 * declare const report: Scale.Report
 * for (const line of Scale.verdicts(report)) console.log(line)
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const verdicts: (report: Report) => ReadonlyArray<string> = internal.verdicts

/**
 * The section of docs/benchmarks.md: method, tables, verdicts.
 *
 * @example
 * ```ts
 * import * as Scale from "@dbpool/bench/Scale"
 *
 * declare const report: Scale.Report
 * const section = Scale.markdown(report)
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const markdown: (report: Report) => string = internal.markdown
