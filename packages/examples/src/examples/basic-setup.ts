/**
 * Basic setup: one pool as a layer, queries through `Pool.withConnection` and
 * through @effect/sql's `SqlClient`, which runs on the same pool.
 *
 * Run: `npx tsx packages/examples/src/examples/basic-setup.ts` (PostgreSQL on
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
 * The pool: 2 connections kept open, at most 10, a caller waits at most 5 seconds.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pool } from "@dbpool/sql"
 * import { PoolLive } from "@dbpool/examples/examples/basic-setup"
 *
 * const open = Effect.provide(Effect.map(Pool.stats, (s) => s.totalConnections), PoolLive)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const PoolLive = PgPool.layer({
  url: databaseUrl(),
  applicationName: "dbpool-example-basic-setup", // how the server lists these connections
  pool: { minConnections: 2, maxConnections: 10, acquireTimeout: "5 seconds" }
})

/**
 * Creates a table, adds two users, reads them back both ways.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { program, PoolLive } from "@dbpool/examples/examples/basic-setup"
 *
 * const result = Effect.runPromise(Effect.provide(program, PoolLive))
 * ```
 *
 * @since 0.1.0
 * @category programs
 */
export const program = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`DROP TABLE IF EXISTS example_users`
  yield* sql`CREATE TABLE example_users (id INTEGER PRIMARY KEY, name TEXT NOT NULL)`
  yield* sql`INSERT INTO example_users ${sql.insert([{ id: 1, name: "Ada" }, { id: 2, name: "Grace" }])}`

  // One connection borrowed for the whole block, given back when it ends.
  const users = yield* Pool.withConnection((conn) =>
    conn.sql<{ id: number; name: string }>`SELECT id, name FROM example_users ORDER BY id`
  )
  // The SqlClient borrows a connection for each statement.
  const [{ n }] = yield* sql<{ n: number }>`SELECT COUNT(*)::int AS n FROM example_users`

  const stats = yield* Pool.stats
  yield* Console.log(`${n} users: ${users.map((u) => u.name).join(", ")}`)
  yield* Console.log(`pool: ${stats.totalConnections} open, ${stats.activeConnections} in use`)
  return { users: users.map((u) => u.name), count: n }
})

/**
 * @example
 * ```ts
 * import { NodeRuntime } from "@effect/platform-node"
 * import { main } from "@dbpool/examples/examples/basic-setup"
 *
 * NodeRuntime.runMain(main)
 * ```
 *
 * @since 0.1.0
 * @category programs
 */
export const main = Effect.provide(program, PoolLive)

runIfMain(import.meta.url, main)
