/**
 * Several databases in one program: the primary as the default `Pool` (and
 * `SqlClient`), a read-only replica and an analytics database each under a
 * tag of its own, with its own size, statistics and transactions.
 *
 * Run: `npx tsx packages/examples/src/examples/several-databases.ts`
 *
 * @since 0.1.0
 */
import * as Pool from "@dbpool/sql/Pool"
import * as SqlitePool from "@dbpool/sqlite/SqlitePool"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { exampleFile, runIfMain } from "./run.js"

/**
 * The tag of the replica pool.
 *
 * @since 0.1.0
 * @category tags
 */
export const Replica = Pool.makeTag("Replica")

/**
 * The tag of the analytics pool.
 *
 * @since 0.1.0
 * @category tags
 */
export const Analytics = Pool.makeTag("Analytics")

const primaryFile = exampleFile("several-databases-primary")

/**
 * The primary (read-write), the replica (the same data, read-only: here the
 * primary's file opened read-only, elsewhere a streaming replica's URL) and
 * the analytics database. The replica is built after the primary, which
 * creates the file.
 *
 * @since 0.1.0
 * @category layers
 */
export const PoolsLive = Layer.mergeAll(
  Replica.layer(SqlitePool.connector({ filename: primaryFile, readonly: true }), {
    minConnections: 1,
    maxConnections: 8
  }),
  Analytics.layer(SqlitePool.connector({ filename: exampleFile("several-databases-analytics") }), {
    minConnections: 1,
    maxConnections: 2
  })
).pipe(
  Layer.provideMerge(
    SqlitePool.layer({ filename: primaryFile, pool: { name: "primary", minConnections: 1, maxConnections: 4 } })
  )
)

/**
 * Writes orders on the primary, reads them on the replica, stores a daily
 * total in analytics.
 *
 * @since 0.1.0
 * @category programs
 */
export const program = Effect.gen(function*() {
  const primary = yield* SqlClient.SqlClient
  yield* primary`CREATE TABLE orders (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL)`
  yield* primary`INSERT INTO orders ${
    primary.insert([{ id: 1, amount: 25 }, { id: 2, amount: 40 }, { id: 3, amount: 35 }])
  }`

  const replica = yield* Replica.sql
  const [{ total }] = yield* replica<{ total: number }>`SELECT SUM(amount) AS total FROM orders`

  yield* Analytics.withTransaction((conn) =>
    Effect.gen(function*() {
      yield* conn.sql`CREATE TABLE daily_totals (day TEXT PRIMARY KEY, total INTEGER NOT NULL)`
      yield* conn.sql`INSERT INTO daily_totals ${conn.sql.insert({ day: "2026-11-26", total })}`
    })
  )
  const analytics = yield* Analytics.sql
  const [stored] = yield* analytics<{ day: string; total: number }>`SELECT day, total FROM daily_totals`

  const names = [(yield* Pool.stats).name, (yield* Replica.stats).name, (yield* Analytics.stats).name]
  yield* Console.log(`pools ${names.join(", ")}: ${total} in orders, stored for ${stored.day}`)
  return { pools: names, replicaTotal: total, stored: [stored.day, stored.total] as const }
})

/**
 * @since 0.1.0
 * @category programs
 */
export const main = Effect.provide(program, PoolsLive)

runIfMain(import.meta.url, main)
