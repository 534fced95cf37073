/**
 * Bar 4: the heap an idle pooled connection holds beyond what the driver's
 * own client holds, measured with 100 connections (90 on a PostgreSQL whose
 * `max_connections` has no room for 100) after garbage collection, each
 * figure in a fresh `node --expose-gc` process; and the same for the core
 * pool, against an array of the same resources.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as internal from "./internal/memory.js"

/**
 * What one process measures: `"pg.raw"` N connected `pg.Client`s,
 * `"pg.dbpool"` dbpool's PostgreSQL pool with N idle connections,
 * `"mysql.raw"` and `"mysql.dbpool"` the same for mysql2, `"core.array"` an
 * array of N `{}`, `"core.pool"` a `ResourcePool` of N `{}`.
 *
 * @since 0.1.0
 * @category models
 */
export type ScenarioId = "pg.raw" | "pg.dbpool" | "mysql.raw" | "mysql.dbpool" | "core.array" | "core.pool"

/**
 * A pair of scenarios: the pool and what it is measured against.
 *
 * @since 0.1.0
 * @category models
 */
export type ComparisonId = "pg" | "mysql" | "core"

/**
 * One process: heap and external memory grown by opening N connections, in
 * bytes, and how long the opening took.
 *
 * @since 0.1.0
 * @category models
 */
export interface Sample {
  readonly heapBytes: number
  readonly externalBytes: number
  readonly openMs: number
  /** Where the process's time went (ms): loading, warm-up, baseline, opening, measuring. */
  readonly phasesMs: ReadonlyArray<number>
}

/**
 * One scenario over its processes: medians.
 *
 * @since 0.1.0
 * @category models
 */
export interface ScenarioResult {
  readonly id: ScenarioId
  readonly count: number
  readonly samples: ReadonlyArray<Sample>
  readonly heapBytes: number
  readonly externalBytes: number
}

/**
 * The pool's and the baseline's figures at one count; `overheadBytes` is
 * the pool's heap less the baseline's.
 *
 * @since 0.1.0
 * @category models
 */
export interface Pair {
  readonly count: number
  readonly baseline: ScenarioResult
  readonly pool: ScenarioResult
  readonly overheadBytes: number
}

/**
 * A comparison: `perConnectionBytes` is (pool − baseline) / count, the bar's
 * figure; `verdict` says whether it is within `limitBytes`. With `small`
 * (the same measured at fewer connections), `marginalBytes` is what each
 * connection adds (the slope between the two counts) and `fixedBytes` what
 * the pool costs whatever its size; both NaN without it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ComparisonResult {
  readonly id: ComparisonId
  readonly count: number
  readonly baseline: ScenarioResult
  readonly pool: ScenarioResult
  readonly perConnectionBytes: number
  readonly verdict: "met" | "not met" | "not measured"
  readonly small: Pair | undefined
  readonly marginalBytes: number
  readonly fixedBytes: number
  readonly failures: ReadonlyArray<string>
}

/**
 * A whole run. `notes` says where fewer than 100 connections were opened and
 * why; `skipped` names the servers that did not answer.
 *
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly quick: boolean
  readonly repetitions: number
  readonly limitBytes: number
  readonly startedAt: string
  readonly totalSeconds: number
  readonly comparisons: ReadonlyArray<ComparisonResult>
  readonly skipped: ReadonlyArray<string>
  readonly notes: ReadonlyArray<string>
}

/**
 * How to run: `repetitions` processes per scenario (default 3, 1 in quick
 * mode), `count` connections (default 100), and `smallCount` connections
 * for the split into per-connection and fixed cost (default 10; 0, the
 * default in quick mode, leaves it out).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly quick?: boolean | undefined
  readonly repetitions?: number | undefined
  readonly count?: number | undefined
  readonly smallCount?: number | undefined
  readonly comparisons?: ReadonlyArray<ComparisonId> | undefined
  readonly log?: ((line: string) => void) | undefined
}

/**
 * The bar: 2 KB per connection.
 *
 * @since 0.1.0
 * @category constants
 */
export const limitBytes: number = internal.limitBytes

/**
 * Every comparison, in the order they run.
 *
 * @since 0.1.0
 * @category constants
 */
export const comparisons: ReadonlyArray<ComparisonId> = internal.comparisons

/**
 * Runs the benchmark. A server that does not answer is reported in `skipped`;
 * a process that fails is reported in its comparison's `failures`; it never
 * fails.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Memory from "@dbpool/bench/Memory"
 *
 * const report = await Effect.runPromise(Memory.run({ quick: true, comparisons: ["core"] }))
 * console.log(Memory.table(report))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const run: (options: Options) => Effect.Effect<Report> = internal.run

/**
 * The figures as a markdown table, bytes per connection, with the verdict.
 *
 * @example
 * ```ts
 * import * as Memory from "@dbpool/bench/Memory"
 *
 * declare const report: Memory.Report
 * console.log(Memory.table(report))
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const table: (report: Report) => string = internal.table

/**
 * The section of docs/benchmarks.md: method, then the table.
 *
 * @example
 * ```ts
 * import * as Memory from "@dbpool/bench/Memory"
 *
 * declare const report: Memory.Report
 * const section = Memory.markdown(report)
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const markdown: (report: Report) => string = internal.markdown
