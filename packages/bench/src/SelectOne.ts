/**
 * `SELECT 1` through a pool, as fast as `workers` fibers can ask: dbpool's
 * `SqlClient` (`@dbpool/pg`, `@dbpool/mysql`), the driver's own pool (raw
 * `pg.Pool`, mysql2's pool) and @effect/sql's client (`PgClient`,
 * `MysqlClient`), interleaved round by round on PostgreSQL at
 * 127.0.0.1:5432 (postgres, db test) and MariaDB/MySQL at 127.0.0.1:3306
 * (root, db test); pgbench beside them when it is installed.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as internal from "./internal/selectOne.js"

/**
 * @since 0.1.0
 * @category models
 */
export type Database = "pg" | "mysql"

/**
 * `"dbpool"`: dbpool's `SqlClient`; `"raw"`: the driver's own pool queried
 * with promises (on MySQL with mysql2's `execute`, the prepared protocol the
 * Effect clients use); `"raw.query"`: mysql2's pool with `query`, the text
 * protocol (MySQL only); `"effect.sql"`: @effect/sql's client for the driver.
 *
 * @since 0.1.0
 * @category models
 */
export type ContenderId = "dbpool" | "raw" | "raw.query" | "effect.sql"

/**
 * What each worker loops: `"select1"` one `SELECT 1`; `"transaction"` BEGIN,
 * three statements `SELECT ?` with a parameter, COMMIT (through
 * `sql.withTransaction` for the Effect clients, a connection taken from the
 * pool for the raw ones).
 *
 * @since 0.1.0
 * @category models
 */
export type Workload = "select1" | "transaction"

/**
 * Pool size (connections) and workers (fibers looping `SELECT 1`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Case {
  readonly size: number
  readonly workers: number
}

/**
 * One round of one contender: queries (or transactions) that completed within
 * the round, queries per second, latency p50 and p99 in milliseconds, and the
 * process's CPU time (user + system, `process.cpuUsage`) over the counted
 * window divided by the queries completed in it, in microseconds.
 *
 * @since 0.1.0
 * @category models
 */
export interface Round {
  readonly queries: number
  readonly errors: number
  readonly elapsedMs: number
  readonly qps: number
  readonly p50: number
  readonly p99: number
  readonly cpuUsPerQuery: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ContenderResult {
  readonly id: ContenderId
  readonly qps: number
  readonly p50: number
  readonly p99: number
  readonly cpuUsPerQuery: number
  readonly rounds: ReadonlyArray<Round>
}

/**
 * Medians over the rounds; `failures` says which rounds could not run and why.
 *
 * @since 0.1.0
 * @category models
 */
export interface CaseResult extends Case {
  readonly database: Database
  readonly workload: Workload
  readonly contenders: ReadonlyArray<ContenderResult>
  readonly failures: ReadonlyArray<string>
}

/**
 * One pgbench figure: `tps` is undefined when the run failed (`error`).
 * `clients` is `workers`, or the pool size when the server refused that many
 * connections.
 *
 * @since 0.1.0
 * @category models
 */
export interface PgbenchRun {
  readonly workers: number
  readonly clients: number
  readonly protocol: "simple" | "prepared"
  readonly seconds: number
  readonly tps: number | undefined
  readonly latencyAvgMs: number | undefined
  readonly error: string | undefined
}

/**
 * A whole run. `skipped` names the servers that did not answer.
 *
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly quick: boolean
  readonly durationMs: number
  readonly rounds: number
  readonly startedAt: string
  readonly totalSeconds: number
  readonly cases: ReadonlyArray<CaseResult>
  readonly skipped: ReadonlyArray<string>
  readonly pgbench: { readonly note: string; readonly runs: ReadonlyArray<PgbenchRun> }
}

/**
 * How to run. `quick`: 10/50 only, 2 rounds of 0.75 s; otherwise 10/50, 50/200
 * and 100/500, 3 rounds of 10 s.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly quick?: boolean | undefined
  readonly durationMs?: number | undefined
  readonly rounds?: number | undefined
  readonly cases?: ReadonlyArray<Case> | undefined
  readonly databases?: ReadonlyArray<Database> | undefined
  /** Default: both, `"select1"` first. */
  readonly workloads?: ReadonlyArray<Workload> | undefined
  /** Default: every contender of the database (`contendersOf`). */
  readonly contenders?: ReadonlyArray<ContenderId> | undefined
  /** `false`: do not run pgbench even when it is installed. */
  readonly pgbench?: boolean | undefined
  readonly log?: ((line: string) => void) | undefined
}

/**
 * Every contender, in the order they run within a round.
 *
 * @since 0.1.0
 * @category constants
 */
export const contenders: ReadonlyArray<ContenderId> = internal.contenders

/**
 * The contenders that run on one database, in their order within a round.
 *
 * @example
 * ```ts
 * import * as SelectOne from "@dbpool/bench/SelectOne"
 *
 * console.log(SelectOne.contendersOf("mysql")) // ["dbpool", "raw", "raw.query", "effect.sql"]
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const contendersOf: (database: Database) => ReadonlyArray<ContenderId> = internal.contendersOf

/**
 * Both workloads, in the order they run.
 *
 * @since 0.1.0
 * @category constants
 */
export const workloads: ReadonlyArray<Workload> = internal.workloads

/**
 * Human names of the contenders per database, for tables.
 *
 * @since 0.1.0
 * @category constants
 */
export const labels: Readonly<Record<Database, Readonly<Record<ContenderId, string>>>> = internal.labels

/**
 * 10/50, 50/200, 100/500 (pool size / workers).
 *
 * @since 0.1.0
 * @category constants
 */
export const fullCases: ReadonlyArray<Case> = internal.fullCases

/**
 * 10/50.
 *
 * @since 0.1.0
 * @category constants
 */
export const quickCases: ReadonlyArray<Case> = internal.quickCases

/**
 * The `application_name` of every PostgreSQL connection the benchmark opens,
 * so that they can be told apart in `pg_stat_activity`.
 *
 * @example
 * ```ts
 * import * as SelectOne from "@dbpool/bench/SelectOne"
 *
 * const sql = `SELECT count(*) FROM pg_stat_activity WHERE application_name = '${SelectOne.applicationName}'`
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const applicationName: string = internal.applicationName

/**
 * Runs the benchmark under the real clock (run it with `Effect.runPromise`).
 * A server that does not answer within 3 seconds is reported in `skipped`
 * and its part left out; it never fails.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as SelectOne from "@dbpool/bench/SelectOne"
 *
 * const report = await Effect.runPromise(SelectOne.run({ quick: true, databases: ["pg"] }))
 * console.log(SelectOne.table(report))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const run: (options: Options) => Effect.Effect<Report> = internal.run

/**
 * The figures as markdown tables (one per database and workload; pgbench's
 * columns beside PostgreSQL's `SELECT 1`), with the client CPU per query
 * beside every figure and dbpool's ratios to each peer (throughput, and CPU
 * per query), then notes.
 *
 * @example
 * ```ts
 * import * as SelectOne from "@dbpool/bench/SelectOne"
 *
 * declare const report: SelectOne.Report
 * console.log(SelectOne.table(report))
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const table: (report: Report) => string = internal.table

/**
 * One line per finished case, for progress output.
 *
 * @example
 * ```ts
 * import * as SelectOne from "@dbpool/bench/SelectOne"
 *
 * SelectOne.run({ log: console.log, quick: true })
 * declare const result: SelectOne.CaseResult
 * console.log(SelectOne.caseLine(result))
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const caseLine: (result: CaseResult) => string = internal.caseLine
