/**
 * The demo program: opens a pool, runs the scenario while the live status
 * follows `Pool.changes`, then prints a summary read from the pool's own
 * statistics and from the database.
 *
 * @since 0.1.0
 */
import type * as PoolConfig from "@dbpool/core/PoolConfig"
import type { ConnectError, PoolConfigError } from "@dbpool/core/PoolError"
import type { PoolStats } from "@dbpool/core/PoolStats"
import { closeReasons } from "@dbpool/core/PoolStats"
import * as Dashboard from "@dbpool/dashboard/Dashboard"
import * as Pool from "@dbpool/sql/Pool"
import type { ServeError } from "@effect/platform/HttpServerError"
import type { SqlError } from "@effect/sql/SqlError"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import * as Stream from "effect/Stream"
import * as Database from "./Database.js"
import * as Renderer from "./Renderer.js"
import * as Scenario from "./Scenario.js"

/**
 * @example
 * ```ts
 * import * as Demo from "@dbpool/examples/demo/Demo"
 * import * as Scenario from "@dbpool/examples/demo/Scenario"
 *
 * const options: Demo.Options = { ...Scenario.defaults, tty: false, write: (s) => void process.stdout.write(s) }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Scenario.Options {
  /** `DATABASE_URL`: none for the embedded SQLite file. */
  readonly url?: string | undefined
  /**
   * The directory a relative `sqlite:<file>` is resolved against: where the
   * user ran the command (`npm start` runs the demo from its workspace, so the
   * demo passes npm's `INIT_CWD`). Default `process.cwd()`.
   */
  readonly cwd?: string | undefined
  /** Redraw the status in place (a terminal) or print a line per update. */
  readonly tty: boolean
  readonly write: (text: string) => void
  /** The terminal's width, when `tty`. */
  readonly columns?: number | undefined
  /** The pool's sizes; `statsInterval` sets the pace of the live status. */
  readonly pool?: PoolConfig.Input | undefined
  /**
   * Serve the live dashboard (@dbpool/dashboard) on 127.0.0.1 at this port
   * while the demo runs, and print its address; 0 picks a free port. Default: none.
   */
  readonly dashboardPort?: number | undefined
  /**
   * After the scenario, keep the pool and the dashboard open, with a light
   * load so that the charts move, until the program is interrupted (Ctrl-C).
   */
  readonly keep?: boolean | undefined
}

/**
 * The pool the demo opens: a few connections for many workers, so callers
 * queue and the statistics have something to show.
 *
 * @example
 * ```ts
 * import * as Demo from "@dbpool/examples/demo/Demo"
 * import * as Scenario from "@dbpool/examples/demo/Scenario"
 *
 * const bigger = Demo.run({
 *   ...Scenario.defaults,
 *   tty: false,
 *   write: () => {},
 *   pool: { ...Demo.defaultPool, maxConnections: 16 }
 * })
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultPool: PoolConfig.Input = {
  name: "demo",
  minConnections: 2,
  maxConnections: 8,
  acquireTimeout: "10 seconds",
  // A server that is not there is reported within a second or so, not after the default 35 s of retries.
  connectTimeout: "5 seconds",
  retryInterval: "200 millis",
  maxRetries: 2,
  statsInterval: "100 millis"
}

/**
 * What the run did, as printed at the end.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Demo from "@dbpool/examples/demo/Demo"
 *
 * declare const run: Effect.Effect<Demo.Summary>
 * const rate = Effect.map(run, (s) => s.queries / (s.durationMs / 1000))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Summary {
  readonly system: string
  readonly where: string
  readonly workers: number
  readonly queries: number
  readonly statements: number
  readonly committed: number
  readonly rolledBack: number
  readonly errors: number
  readonly firstError: string | undefined
  readonly durationMs: number
  readonly updates: number
  readonly peakActive: number
  readonly peakWaiting: number
  /** The pool's statistics after it was closed. */
  readonly stats: PoolStats
  readonly outcome: Scenario.Outcome
  readonly expectedEvents: number
}

/**
 * The run went wrong: queries failed, or the data does not add up.
 *
 * @example
 * ```ts
 * import { Console, Effect } from "effect"
 * import * as Demo from "@dbpool/examples/demo/Demo"
 * import * as Scenario from "@dbpool/examples/demo/Scenario"
 *
 * const program = Demo.run({ ...Scenario.defaults, tty: false, write: () => {} }).pipe(
 *   Effect.catchTag("DemoFailed", (e) => Console.error(e.message))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class DemoFailed extends Data.TaggedError("DemoFailed")<{ readonly summary: Summary }> {
  override get message(): string {
    const s = this.summary
    return s.errors > 0
      ? `${s.errors} queries failed; the first: ${s.firstError}`
      : `the data does not add up: balance ${s.outcome.totalBalance} (expected ${s.outcome.expectedBalance}), ` +
        `${s.outcome.rolledBackRowsFound} rows of rolled-back transactions, ${s.outcome.events} events ` +
        `(expected ${s.expectedEvents})`
  }
}

/**
 * Whether the summary shows a clean run: no error, the balances intact, no
 * trace of the rolled-back transactions, every connection closed.
 *
 * @example
 * ```ts
 * import * as Demo from "@dbpool/examples/demo/Demo"
 *
 * declare const summary: Demo.Summary
 * const verdict = Demo.isClean(summary) ? "clean" : "something went wrong"
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const isClean = (s: Summary): boolean =>
  s.errors === 0 &&
  s.outcome.totalBalance === s.outcome.expectedBalance &&
  s.outcome.rolledBackRowsFound === 0 &&
  s.outcome.events === s.expectedEvents &&
  s.stats.totalConnections === 0 &&
  closedTotal(s.stats) === s.stats.connectionsCreated

const closedTotal = (stats: PoolStats): number => closeReasons.reduce((n, r) => n + stats.connectionsClosed[r], 0)

/**
 * Runs the demo and returns its summary; fails with `DemoFailed` when the run
 * was not clean.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Demo from "@dbpool/examples/demo/Demo"
 * import * as Scenario from "@dbpool/examples/demo/Scenario"
 *
 * const small = Demo.run({ ...Scenario.defaults, workers: 4, queriesPerWorker: 20, tty: false, write: () => {} })
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const run = (
  options: Options
): Effect.Effect<
  Summary,
  | DemoFailed
  | Database.UnsupportedDatabase
  | PoolConfigError
  | ConnectError
  | SqlError
  | Dashboard.DashboardConfigError
  | ServeError
  | ConfigError.ConfigError
> =>
  Effect.gen(function*() {
    const target = yield* Database.fromUrl(options.url, { ...defaultPool, ...options.pool }, options.cwd)
    options.write(
      `dbpool demo: ${options.workers} workers × ${options.queriesPerWorker} queries on ${target.where}\n`
    )
    const progress = Scenario.makeProgress(options)
    const renderer = Renderer.make({ tty: options.tty, write: options.write, columns: options.columns })
    let updates = 0
    let peakActive = 0
    let peakWaiting = 0

    const started = { at: 0 }
    const show = (stats: PoolStats) =>
      Effect.sync(() => {
        updates++
        peakActive = Math.max(peakActive, stats.activeConnections)
        peakWaiting = Math.max(peakWaiting, stats.waitingRequests)
        renderer.update({
          elapsed: started.at === 0 ? 0 : Date.now() - started.at,
          done: progress.done,
          total: progress.total,
          errors: progress.errors,
          stats
        })
      })

    const { durationMs, pool } = yield* Effect.scoped(
      Effect.gen(function*() {
        const context = yield* Layer.build(target.layer)
        const pool = Context.get(context, Pool.Pool)
        if (options.dashboardPort !== undefined) {
          const dashboard = yield* Layer.build(
            Dashboard.layer({ pools: [pool], port: options.dashboardPort, host: "127.0.0.1", title: "dbpool demo" })
          )
          options.write(`dashboard: ${Context.get(dashboard, Dashboard.Dashboard).url}\n`)
        }
        return yield* Effect.gen(function*() {
          yield* Scenario.setup
          started.at = Date.now()
          // The live status: every snapshot the pool publishes (one per statsInterval at most).
          const watcher = yield* Pool.changes.pipe(Stream.runForEach(show), Effect.fork)
          yield* Scenario.run(options, progress).pipe(
            Effect.onInterrupt(() =>
              Effect.sync(() =>
                options.write(
                  `\nInterrupted after ${progress.done} of ${progress.total} queries: closing the pool.\n`
                )
              )
            )
          )
          const durationMs = Date.now() - started.at
          if (options.keep === true) {
            // The scenario's exact figures first: the pool publishes its last change up to statsInterval later.
            yield* Effect.flatMap(Pool.stats, show)
            yield* keepOpen(options)
          }
          yield* Fiber.interrupt(watcher)
          yield* Effect.flatMap(Pool.stats, show) // the final, exact figures
          renderer.finish()
          return { durationMs, pool }
        }).pipe(Effect.provide(context))
      })
    )

    // Read back in a second pool: the first is closed, so its statistics are final.
    const outcome = yield* Effect.scoped(
      Effect.flatMap(Layer.build(target.layer), (context) => Effect.provide(Scenario.check, context))
    )
    const summary: Summary = {
      system: target.system,
      where: target.where,
      workers: options.workers,
      queries: progress.done,
      statements: progress.statements,
      committed: progress.committed,
      rolledBack: progress.rolledBack,
      errors: progress.errors,
      firstError: progress.firstError,
      durationMs,
      updates,
      peakActive,
      peakWaiting,
      stats: yield* pool.stats,
      outcome,
      expectedEvents: Scenario.expectedEvents(options)
    }
    if (!isClean(summary)) return yield* new DemoFailed({ summary })
    return summary
  })

const count = Renderer.formatCount

/** The scenario is done: a light load (a few workers, a `SELECT 1` now and then) until interrupted. */
const keepOpen = (options: Options) =>
  Effect.gen(function*() {
    options.write("\nThe scenario is done; the pool and the dashboard stay open under a light load. Ctrl-C to stop.\n")
    const worker = Effect.forever(
      Effect.zipRight(
        Effect.flatMap(Random.nextIntBetween(5, 60), (ms) => Effect.sleep(ms)),
        Effect.ignore(Pool.withConnection((conn) => conn.sql`SELECT 1`))
      )
    )
    yield* Effect.forEach(Array.from({ length: 6 }), () => worker, { concurrency: "unbounded", discard: true })
  }).pipe(Effect.onInterrupt(() => Effect.sync(() => options.write("\nStopped: closing the pool.\n"))))

/**
 * The summary as lines of text.
 *
 * @example
 * ```ts
 * import { Console, Effect } from "effect"
 * import * as Demo from "@dbpool/examples/demo/Demo"
 *
 * declare const run: Effect.Effect<Demo.Summary>
 * const print = Effect.flatMap(run, (s) => Console.log(Demo.formatSummary(s).join("\n")))
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatSummary = (s: Summary): ReadonlyArray<string> => {
  const closed = closeReasons.map((r) => `${s.stats.connectionsClosed[r]} ${r}`).join(", ")
  const seconds = s.durationMs / 1000
  return [
    "",
    "Summary",
    `  queries       ${count(s.queries)} by ${s.workers} workers in ${seconds.toFixed(2)} s ` +
    `(${count(s.queries / Math.max(seconds, 0.001))} q/s): ${count(s.statements)} statements, ` +
    `${count(s.committed)} transactions committed, ${count(s.rolledBack)} rolled back on purpose`,
    `  errors        ${s.errors}${s.firstError === undefined ? "" : ` (first: ${s.firstError})`}`,
    `  acquire time  ${s.stats.averageAcquireTime.toFixed(3)} ms on average over ` +
    `${count(s.stats.successfulRequests)} acquisitions, ${s.stats.timeouts} timeouts`,
    `  connections   ${s.stats.connectionsCreated} created, ${closedTotal(s.stats)} closed (${closed}); ` +
    `peak ${s.peakActive} active of ${s.stats.maxConnections}, ${s.peakWaiting} waiting`,
    `  data check    balances sum to ${count(s.outcome.totalBalance)} (expected ` +
    `${count(s.outcome.expectedBalance)}); ${s.outcome.events} events (expected ${s.expectedEvents}); ` +
    `${s.outcome.rolledBackRowsFound} rows left by rolled-back transactions`,
    `  live updates  ${s.updates} from Pool.changes`,
    `  data          ${s.where}: tables demo_accounts and demo_events`
  ]
}
