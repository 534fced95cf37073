/**
 * Several databases in one program: the primary as the default `Pool` (and
 * `SqlClient`), a read-only replica and an analytics database each under a
 * tag of its own, with its own size, statistics and transactions — even its
 * own driver.
 *
 * Run: `npx tsx packages/examples/src/examples/several-databases.ts`
 * (PostgreSQL on 127.0.0.1:5432, or the server in `DATABASE_URL`)
 *
 * @since 0.1.0
 */
import * as PgPool from "@dbpool/pg/PgPool"
import * as Pool from "@dbpool/sql/Pool"
import * as SqlitePool from "@dbpool/sqlite/SqlitePool"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { databaseUrl, exampleFile, runIfMain } from "./run.js"

/**
 * The tag of the replica pool.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Replica } from "@dbpool/examples/examples/several-databases"
 *
 * const count = Effect.flatMap(Replica.sql, (sql) => sql`SELECT count(*) AS n FROM example_orders`)
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export const Replica = Pool.makeTag("Replica")

/**
 * The tag of the analytics pool.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Analytics } from "@dbpool/examples/examples/several-databases"
 *
 * const open = Effect.map(Analytics.stats, (s) => s.totalConnections)
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export const Analytics = Pool.makeTag("Analytics")

/**
 * The primary (read-write, PostgreSQL); the replica (here the same server in
 * read-only sessions, in production a streaming replica's URL); analytics (a
 * local SQLite file).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { PoolsLive, Replica } from "@dbpool/examples/examples/several-databases"
 *
 * const replicaSize = Effect.provide(Effect.map(Replica.stats, (s) => s.totalConnections), PoolsLive)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const PoolsLive = Layer.mergeAll(
  PgPool.layer({
    url: databaseUrl(),
    applicationName: "dbpool-example-primary",
    pool: { name: "primary", minConnections: 1, maxConnections: 4 }
  }),
  Replica.layer(
    PgPool.connector({
      url: databaseUrl(),
      applicationName: "dbpool-example-replica",
      onConnect: (client) => Effect.tryPromise(() => client.query("SET default_transaction_read_only = on"))
    }),
    { minConnections: 1, maxConnections: 8 }
  ),
  Analytics.layer(SqlitePool.connector({ filename: exampleFile("several-databases-analytics") }), {
    minConnections: 1,
    maxConnections: 2
  })
)

/**
 * Writes orders on the primary, reads them on the replica (where writing is
 * refused), stores a daily total in analytics.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { program, PoolsLive } from "@dbpool/examples/examples/several-databases"
 *
 * const result = Effect.runPromise(Effect.provide(program, PoolsLive))
 * ```
 *
 * @since 0.1.0
 * @category programs
 */
export const program = Effect.gen(function*() {
  const primary = yield* SqlClient.SqlClient
  yield* primary`DROP TABLE IF EXISTS example_orders`
  yield* primary`CREATE TABLE example_orders (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL)`
  yield* primary`INSERT INTO example_orders ${
    primary.insert([{ id: 1, amount: 25 }, { id: 2, amount: 40 }, { id: 3, amount: 35 }])
  }`

  const replica = yield* Replica.sql
  const [{ total }] = yield* replica<{ total: number }>`SELECT SUM(amount)::int AS total FROM example_orders`
  const refused = yield* replica`INSERT INTO example_orders (id, amount) VALUES (4, 10)`.pipe(Effect.flip)
  yield* Console.log(`the replica refuses writes: ${refused.message}`)

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
  return {
    pools: names,
    replicaTotal: total,
    replicaRefusedWrite: refused._tag,
    stored: [stored.day, stored.total] as const
  }
})

/**
 * @example
 * ```ts
 * import { NodeRuntime } from "@effect/platform-node"
 * import { main } from "@dbpool/examples/examples/several-databases"
 *
 * NodeRuntime.runMain(main)
 * ```
 *
 * @since 0.1.0
 * @category programs
 */
export const main = Effect.provide(program, PoolsLive)

runIfMain(import.meta.url, main)
