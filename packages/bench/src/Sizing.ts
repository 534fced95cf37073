/**
 * Adaptive sizing and warming on PostgreSQL: a short load curve through
 * dbpool's PgPool, adaptive against fixed sizes (connection-seconds, p99
 * wait), and the first request after an idle period with and without
 * warming.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as internal from "./internal/sizing.js"

/**
 * @since 0.1.0
 * @category models
 */
export type ContenderId = "adaptive" | "adaptive + spare(4)" | "fixed max" | "fixed min"

/**
 * One contender over the curve.
 *
 * @since 0.1.0
 * @category models
 */
export interface CurveResult {
  readonly id: ContenderId
  readonly requests: number
  readonly connectionSeconds: number
  /** Milliseconds from asking to having the connection, over every served request, and over the ramp's. */
  readonly p99: number
  readonly rampP99: number
  /** Requests that failed (timeouts included). */
  readonly errors: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly seconds: number
  readonly holdMs: number
  readonly low: number
  readonly high: number
  readonly idleMs: number
  readonly curve: ReadonlyArray<CurveResult>
  readonly first: ReadonlyArray<{ readonly id: ContenderId; readonly ms: number }>
  readonly totalSeconds: number
}

/**
 * `seconds`: the curve's length (default 20); `idleMs`: the idle period before the first request (default 5000).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly seconds?: number | undefined
  readonly idleMs?: number | undefined
  readonly log?: ((line: string) => void) | undefined
}

/**
 * The contenders, in the order they run.
 *
 * @since 0.1.0
 * @category constants
 */
export const contenders: ReadonlyArray<ContenderId> = internal.contenders

/**
 * Runs the benchmark under the real clock (PostgreSQL at 127.0.0.1:5432).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Sizing from "@dbpool/bench/Sizing"
 *
 * const report = await Effect.runPromise(Sizing.run({ seconds: 8 }))
 * console.log(Sizing.table(report))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const run: (options: Options) => Effect.Effect<Report, unknown> = internal.run

/**
 * The figures as markdown tables.
 *
 * @since 0.1.0
 * @category formatting
 */
export const table: (report: Report) => string = internal.table

/**
 * The section of docs/benchmarks.md: what was measured, then the tables.
 *
 * @since 0.1.0
 * @category formatting
 */
export const markdown: (report: Report) => string = internal.markdown
