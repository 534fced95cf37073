/**
 * More than one application process: N child processes, each with a dbpool `PgPool` of P connections and
 * W workers, run `SELECT 1` and a short transaction at once against PostgreSQL directly, against PgBouncer
 * in transaction mode whose server pool is smaller than N × P, and directly against a server whose
 * `max_connections` is lower than N × P. Every server is a disposable one of @dbpool/testing's (the
 * machine's main server is not touched); the application connects as a role of its own that is not a
 * superuser, so the server's `superuser_reserved_connections` are not its to take.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as internal from "./internal/processes.js"
import * as model from "./internal/processesModel.js"
import * as report from "./internal/processesReport.js"

/**
 * `"direct"`: a server with `max_connections` 100; `"pgbouncer"`: PgBouncer in transaction mode in front of
 * a server of its own with `max_connections` `lowMaxConnections`; `"direct-low"`: another server with
 * `max_connections` `lowMaxConnections`, directly. Each target has its server to itself.
 *
 * @since 0.1.0
 * @category models
 */
export type TargetId = "direct" | "pgbouncer" | "direct-low"

/**
 * `"select1"`: `SELECT 1`; `"transaction"`: BEGIN, three `SELECT $1`, COMMIT through `withTransaction`.
 *
 * @since 0.1.0
 * @category models
 */
export type Workload = "select1" | "transaction"

/**
 * One case: a target, N processes of P connections and W workers, one workload.
 *
 * @since 0.1.0
 * @category models
 */
export interface Row {
  readonly target: TargetId
  readonly processes: number
  readonly pool: number
  readonly workers: number
  readonly workload: Workload
  /** Operations (queries or transactions) per second, all processes together. */
  readonly opsPerSecond: number
  /** The lowest and highest `opsPerSecond` of the rounds combined into this row. */
  readonly opsRange: readonly [number, number]
  /** p99 of one operation from asking to its result, over every process's operations, in ms. */
  readonly p99Ms: number
  /** Failed operations inside the window, all processes together. */
  readonly errors: number
  /** Of `errors`, those that came from a connection refused for lack of slots. */
  readonly tooManyConnections: number
  /** Every error by kind (the tags down its chain of causes), with its count. */
  readonly errorKinds: Readonly<Record<string, number>>
  /** The application's sessions on the PostgreSQL server, sampled every 50 ms during the window. */
  readonly server: { readonly peakOpen: number; readonly peakBusy: number; readonly medianBusy: number }
  /** The connections the processes' pools held at the end of the window: the fewest of one process, and all. */
  readonly connections: { readonly fewest: number; readonly total: number }
  /** The pools' failed connection attempts from their start to the end of the window, all processes together. */
  readonly connectFailures: number
  /** Through PgBouncer: the most of the role's clients waiting for a server session (`SHOW POOLS`' `cl_waiting`, every 100 ms). */
  readonly peakWaitingAtBouncer: number | null
  /** The most named prepared statements one server session held after the transaction workload. */
  readonly preparedOnServer: number | null
  /** Processes whose pool could not be built, and why. */
  readonly startFailures: ReadonlyArray<string>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly quick: boolean
  readonly rounds: number
  readonly durationMs: number
  readonly warmupMs: number
  readonly pool: number
  readonly workers: number
  readonly bouncerPoolSize: number
  readonly maxConnections: number
  readonly lowMaxConnections: number
  readonly rows: ReadonlyArray<Row>
  readonly totalSeconds: number
}

/**
 * Defaults: N = 1, 2, 4, 8; P = 10; W = 20; 3 rounds (the targets alternating) of 2 s windows after
 * 500 ms of warm-up; PgBouncer `default_pool_size` 20; the low servers' `max_connections` 40. `quick`: N = 4
 * only, 1 round of 300 ms after 100 ms.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly quick?: boolean | undefined
  readonly rounds?: number | undefined
  readonly durationMs?: number | undefined
  readonly warmupMs?: number | undefined
  readonly counts?: ReadonlyArray<number> | undefined
  readonly pool?: number | undefined
  readonly workers?: number | undefined
  readonly bouncerPoolSize?: number | undefined
  readonly lowMaxConnections?: number | undefined
  readonly log?: ((line: string) => void) | undefined
}

/**
 * Runs the benchmark: disposable servers and PgBouncer, then for each N the processes of every target,
 * and each round every target in turn, both workloads in the same processes. Each row gives the medians over
 * the rounds (errors summed).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Processes from "@dbpool/bench/Processes"
 *
 * const report = await Effect.runPromise(Processes.run({ quick: true }))
 * console.log(Processes.table(report))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const run: (options: Options) => Effect.Effect<Report, unknown> = internal.run

/**
 * The flags of `npm run bench:processes`: `--quick`, `--write`, `--rounds=N`, `--duration=MS`, `--warmup=MS`,
 * `--counts=1,2,4,8`, `--pool=P`, `--workers=W`, `--bouncer-pool=N`, `--low-max=N`; throws on anything else.
 *
 * @example
 * ```ts
 * import * as Processes from "@dbpool/bench/Processes"
 *
 * const options = Processes.parseArgs(["--quick", "--counts=1,2"])
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseArgs: (args: ReadonlyArray<string>) => Options & { readonly write: boolean } = model.parseArgs

/**
 * The figures as a markdown table, one row per target, N and workload.
 *
 * @since 0.1.0
 * @category formatting
 */
export const table: (report: Report) => string = report.table

/**
 * The section of docs/benchmarks.md (heading {@link heading}): what was measured, the machine, the command,
 * then the table.
 *
 * @since 0.1.0
 * @category formatting
 */
export const markdown: (
  report: Report,
  machine: { readonly command: string; readonly description: string }
) => string = report.markdown

/**
 * The heading of the section in docs/benchmarks.md.
 *
 * @since 0.1.0
 * @category formatting
 */
export const heading: string = report.heading

/**
 * `text` (docs/benchmarks.md) with its section under {@link heading} replaced by `section`, or `section`
 * appended if there is none. The section runs to the next `## ` heading.
 *
 * @since 0.1.0
 * @category formatting
 */
export const replaceSection: (text: string, section: string) => string = report.replaceSection

/**
 * The section under {@link heading} in `text` (docs/benchmarks.md), if there is one: `npm run bench` keeps
 * it when it rewrites the file, since it does not run this benchmark.
 *
 * @since 0.1.0
 * @category formatting
 */
export const sectionOf: (text: string) => string | undefined = report.sectionOf
