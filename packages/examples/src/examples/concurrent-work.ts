/**
 * Concurrent work: 100 fibers share a pool of at most 5 connections. Callers
 * beyond the fifth wait their turn (first come, first served); nobody opens a
 * sixth connection.
 *
 * Run: `npx tsx packages/examples/src/examples/concurrent-work.ts` (PostgreSQL on
 * 127.0.0.1:5432, or the server in `DATABASE_URL`)
 *
 * @since 0.1.0
 */
import * as PgPool from "@dbpool/pg/PgPool"
import * as Pool from "@dbpool/sql/Pool"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { databaseUrl, runIfMain } from "./run.js"

/**
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pool } from "@dbpool/sql"
 * import { PoolLive } from "@dbpool/examples/examples/concurrent-work"
 *
 * const open = Effect.provide(Effect.map(Pool.stats, (s) => s.totalConnections), PoolLive)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const PoolLive = PgPool.layer({
  url: databaseUrl(),
  applicationName: "dbpool-example-concurrent-work",
  pool: { minConnections: 1, maxConnections: 5, acquireTimeout: "10 seconds" }
})

/**
 * 100 tasks, all at once; each holds a connection for a query and 10 ms of work.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { program, PoolLive } from "@dbpool/examples/examples/concurrent-work"
 *
 * const result = Effect.runPromise(Effect.provide(program, PoolLive))
 * ```
 *
 * @since 0.1.0
 * @category programs
 */
export const program = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`DROP TABLE IF EXISTS example_squares`
  yield* sql`CREATE TABLE example_squares (n INTEGER PRIMARY KEY, square INTEGER NOT NULL)`
  yield* sql`INSERT INTO example_squares ${sql.insert(Array.from({ length: 100 }, (_, n) => ({ n, square: n * n })))}`

  let peak = 0
  const squares = yield* Effect.forEach(
    Array.from({ length: 100 }, (_, n) => n),
    (n) =>
      Pool.withConnection((conn) =>
        Effect.gen(function*() {
          const [row] = yield* conn.sql<{ square: number }>`SELECT square FROM example_squares WHERE n = ${n}`
          const stats = yield* Pool.stats
          peak = Math.max(peak, stats.totalConnections)
          yield* Effect.sleep("10 millis") // the work done while holding the connection
          return row.square
        })
      ),
    { concurrency: "unbounded" }
  )

  const stats = yield* Pool.stats
  const sum = squares.reduce((a, b) => a + b, 0)
  yield* Console.log(
    `${squares.length} tasks, sum of squares ${sum}; at most ${peak} connections open, ` +
      `${stats.successfulRequests} acquisitions, ${stats.averageAcquireTime.toFixed(1)} ms average wait`
  )
  return { tasks: squares.length, sum, peakConnections: peak }
})

/**
 * @example
 * ```ts
 * import { NodeRuntime } from "@effect/platform-node"
 * import { main } from "@dbpool/examples/examples/concurrent-work"
 *
 * NodeRuntime.runMain(main)
 * ```
 *
 * @since 0.1.0
 * @category programs
 */
export const main = Effect.provide(program, PoolLive)

runIfMain(import.meta.url, main)
