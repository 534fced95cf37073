/**
 * Pipelining on a slow link: `SELECT 1` through a pool of 10 on PostgreSQL,
 * through @dbpool/testing's FaultProxy adding 1 ms each way and direct, for
 * raw `pg.Pool`, dbpool's `SqlClient` and dbpool's `SqlClient` with
 * `pipeline: { maxInFlight }`, interleaved round by round.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as internal from "./internal/pipeline.js"

/**
 * `"raw"`: `pg.Pool`; `"dbpool"`: `PgPool` as by default; `"dbpool.pipeline"`: `PgPool` pipelined.
 *
 * @since 0.1.0
 * @category models
 */
export type ContenderId = "raw" | "dbpool" | "dbpool.pipeline"

/**
 * Latency added each way (0: direct, no proxy), pool size, workers.
 *
 * @since 0.1.0
 * @category models
 */
export interface Case {
  readonly latencyMs: number
  readonly size: number
  readonly workers: number
}

/**
 * One round of one contender.
 *
 * @since 0.1.0
 * @category models
 */
export interface Round {
  readonly queries: number
  readonly errors: number
  readonly qps: number
  readonly p99: number
  readonly cpuPerQueryUs: number
}

/**
 * Medians over the rounds per contender; `failures` says which rounds could not run and why.
 *
 * @since 0.1.0
 * @category models
 */
export interface CaseResult extends Case {
  readonly contenders: ReadonlyArray<{
    readonly id: ContenderId
    readonly qps: number
    readonly p99: number
    readonly cpuPerQueryUs: number
  }>
  readonly failures: ReadonlyArray<string>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly quick: boolean
  readonly durationMs: number
  readonly rounds: number
  readonly maxInFlight: number
  readonly totalSeconds: number
  readonly cases: ReadonlyArray<CaseResult>
}

/**
 * `quick`: 1 round of 0.5 s, +1 ms and direct at 10/50; otherwise 3 rounds
 * of 5 s, +1 ms at 10/50 and 10/200, direct at 10/50.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly quick?: boolean | undefined
  readonly durationMs?: number | undefined
  readonly rounds?: number | undefined
  readonly cases?: ReadonlyArray<Case> | undefined
  readonly log?: ((line: string) => void) | undefined
}

/**
 * The contenders, in the order they run within a round.
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
 * import * as Pipeline from "@dbpool/bench/Pipeline"
 *
 * const report = await Effect.runPromise(Pipeline.run({ quick: true }))
 * console.log(Pipeline.table(report))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const run: (options: Options) => Effect.Effect<Report> = internal.run

/**
 * The figures as a markdown table, with the pipelined contender's ratios.
 *
 * @since 0.1.0
 * @category formatting
 */
export const table: (report: Report) => string = internal.table

/**
 * The section of docs/benchmarks.md: what was measured, then the table.
 *
 * @since 0.1.0
 * @category formatting
 */
export const markdown: (report: Report) => string = internal.markdown
