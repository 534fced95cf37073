/**
 * Tables of a benchmark run, as GitHub markdown: for the terminal and for
 * docs/benchmarks.md.
 *
 * @since 0.1.0
 */
import * as internal from "./internal/report.js"
import type * as Overhead from "./Overhead.js"

/**
 * Where a run was made: `nproc`, CPU model, Node version, platform, date.
 *
 * @since 0.1.0
 * @category models
 */
export interface Machine {
  readonly nproc: number
  readonly cpu: string
  readonly node: string
  readonly platform: string
  readonly date: string
  /** `os.loadavg()` (1, 5, 15 minutes) when the run started and when it ended. */
  readonly loadBefore: ReadonlyArray<number>
  readonly loadAfter: ReadonlyArray<number>
}

/**
 * Ops/s of every contender per case, each with the CPU time per operation
 * beside it (µs, the process's user + system time over the counted window).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Overhead from "@dbpool/bench/Overhead"
 * import * as Report from "@dbpool/bench/Report"
 *
 * const report = await Effect.runPromise(Overhead.run({ quick: true }))
 * console.log(Report.throughputTable(report))
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const throughputTable: (report: Overhead.Report) => string = internal.throughputTable

/**
 * dbpool's ops/s (use, use observed, scoped(get)) against tarn, the fair
 * Effect pool and effect's Pool TTL, per case.
 *
 * @example
 * ```ts
 * import * as Report from "@dbpool/bench/Report"
 *
 * declare const report: import("@dbpool/bench/Overhead").Report
 * console.log(Report.ratioTable(report))
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const ratioTable: (report: Overhead.Report) => string = internal.ratioTable

/**
 * Which contenders barge (a releasing fiber or a newcomer takes a resource
 * ahead of older waiters), judged from the run's operations per fiber at its
 * most contended case, and what that does to their figures.
 *
 * @example
 * ```ts
 * import * as Report from "@dbpool/bench/Report"
 *
 * declare const report: import("@dbpool/bench/Overhead").Report
 * console.log(Report.bargingNotes(report))
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const bargingNotes: (report: Overhead.Report) => string = internal.bargingNotes

/**
 * p99 acquire latency (µs) of every contender per case.
 *
 * @example
 * ```ts
 * import * as Report from "@dbpool/bench/Report"
 *
 * declare const report: import("@dbpool/bench/Overhead").Report
 * console.log(Report.latencyTable(report))
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const latencyTable: (report: Overhead.Report) => string = internal.latencyTable

/**
 * p50, p99, p99.9 and max acquire wait at 100 connections / 1,000 fibers (or the
 * most contended case run): how fairly waiters are served.
 *
 * @example
 * ```ts
 * import * as Report from "@dbpool/bench/Report"
 *
 * declare const report: import("@dbpool/bench/Overhead").Report
 * console.log(Report.fairnessTable(report))
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const fairnessTable: (report: Overhead.Report) => string = internal.fairnessTable

/**
 * One line per finished case, for progress output.
 *
 * @example
 * ```ts
 * import * as Report from "@dbpool/bench/Report"
 *
 * Overhead.run({ log: (c) => console.log(Report.caseLine(c)) })
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const caseLine: (result: Overhead.CaseResult) => string = internal.caseLine

/**
 * The whole of docs/benchmarks.md: method, command, machine and the tables.
 *
 * @example
 * ```ts
 * import * as Report from "@dbpool/bench/Report"
 *
 * declare const report: import("@dbpool/bench/Overhead").Report
 * declare const machine: Report.Machine
 * const text = Report.markdown(report, machine, "npm run bench")
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const markdown: (report: Overhead.Report, machine: Machine, command: string) => string = internal.markdown
