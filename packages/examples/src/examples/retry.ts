/**
 * Connect retries: a `Schedule` decides the delays between connection
 * attempts. A database that refuses the first two connections (it is still
 * starting, say) is reached on the third attempt; one that never answers
 * fails with `ConnectError` once the schedule is over, never later.
 *
 * Run: `npx tsx packages/examples/src/examples/retry.ts` (PostgreSQL on
 * 127.0.0.1:5432, or the server in `DATABASE_URL`)
 *
 * @since 0.1.0
 */
import * as PgPool from "@dbpool/pg/PgPool"
import * as Pool from "@dbpool/sql/Pool"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { databaseUrl, runIfMain } from "./run.js"

/**
 * 50 ms, 100 ms, 200 ms ... (each jittered), at most 4 retries.
 *
 * @example
 * ```ts
 * import { PgPool } from "@dbpool/pg"
 * import { Redacted } from "effect"
 * import { retrySchedule } from "@dbpool/examples/examples/retry"
 *
 * const PoolLive = PgPool.layer({ url: Redacted.make("postgres://postgres@127.0.0.1:5432/test"), pool: { retrySchedule } })
 * ```
 *
 * @since 0.1.0
 * @category schedules
 */
export const retrySchedule = Schedule.exponential("50 millis").pipe(
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(4))
)

/** A database whose first `failures` connections are refused. */
const flakyPool = (name: string, failures: number) => {
  let attempts = 0
  return {
    attempts: () => attempts,
    layer: PgPool.layer({
      url: databaseUrl(),
      applicationName: `dbpool-example-${name}`,
      // Stands in for a server that refuses logins while it starts: the connection is closed, the attempt failed.
      onConnect: () =>
        ++attempts <= failures
          ? Effect.fail(new Error(`the database is starting up (attempt ${attempts})`))
          : Effect.void,
      pool: { name, minConnections: 1, maxConnections: 2, retrySchedule, acquireTimeout: "5 seconds" }
    })
  }
}

/**
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { program } from "@dbpool/examples/examples/retry"
 *
 * const result = Effect.runPromise(program)
 * ```
 *
 * @since 0.1.0
 * @category programs
 */
export const program = Effect.gen(function*() {
  // Refused twice, then up: the pool opens on the third attempt.
  const starting = flakyPool("retry-starting", 2)
  const reached = yield* Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [{ ok }] = yield* sql<{ ok: number }>`SELECT 1 AS ok`
    const stats = yield* Pool.stats
    return { ok, connectFailures: stats.connectFailures }
  }).pipe(Effect.provide(starting.layer))
  yield* Console.log(`reached after ${starting.attempts()} attempts (${reached.connectFailures} failed)`)

  // Never up: 1 attempt + 4 retries, then a ConnectError carrying the last cause.
  const down = flakyPool("retry-down", Infinity)
  const error = yield* SqlClient.SqlClient.pipe(Effect.provide(down.layer), Effect.flip)
  yield* Console.log(`gave up after ${down.attempts()} attempts: ${error.message}`)

  return {
    attemptsToReach: starting.attempts(),
    connectFailures: reached.connectFailures,
    ok: reached.ok,
    attemptsWhenDown: down.attempts(),
    errorWhenDown: error._tag
  }
})

/**
 * @example
 * ```ts
 * import { NodeRuntime } from "@effect/platform-node"
 * import { main } from "@dbpool/examples/examples/retry"
 *
 * NodeRuntime.runMain(main)
 * ```
 *
 * @since 0.1.0
 * @category programs
 */
export const main = program

runIfMain(import.meta.url, main)
