// Run by scripts/test-pack.mjs in a project outside the repository where the packed tarballs are
// installed: plain Node, ES modules, no TypeScript loader. Opens a SQLite pool on a file and a
// PostgreSQL pool, runs a query on each, prints what came back, and exits non-zero on any failure.
// DBPOOL_PACK_SQLITE_FILE: the database file; DBPOOL_PACK_PG_URL: the server, or unset to skip PostgreSQL.
import { ResourcePool } from "@dbpool/core"
import { Dashboard } from "@dbpool/dashboard"
import { Prometheus } from "@dbpool/observability"
import { PgPool } from "@dbpool/pg"
import { Pool } from "@dbpool/sql"
import { SqlitePool } from "@dbpool/sqlite"
import { SqlClient } from "@effect/sql"
import { Context, Effect, Layer, Redacted } from "effect"

const sqliteFile = process.env.DBPOOL_PACK_SQLITE_FILE
const pgUrl = process.env.DBPOOL_PACK_PG_URL

const onSqlite = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS greetings (id INTEGER PRIMARY KEY, text TEXT NOT NULL)`
  yield* sql`DELETE FROM greetings`
  yield* Pool.withTransaction((conn) => conn.sql`INSERT INTO greetings (text) VALUES (${"hello"}), (${"world"})`)
  const rows = yield* sql`SELECT text FROM greetings ORDER BY id`
  const stats = yield* Pool.stats
  // The pool's metrics in the Prometheus text format (@dbpool/observability and its OpenTelemetry packages).
  const scrape = yield* Prometheus.scrape
  return { rows, totalConnections: stats.totalConnections, scrape }
}).pipe(
  Effect.provide(
    SqlitePool.layer({ filename: sqliteFile, pool: { name: "pack-sqlite", minConnections: 1, maxConnections: 2 } })
  ),
  Effect.provide(Prometheus.layer())
)

const onPg = (url) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql`SELECT 1 + 1 AS two, current_database() AS database`
    return { rows }
  }).pipe(Effect.provide(PgPool.layer({ url: Redacted.make(url), pool: { minConnections: 1, maxConnections: 2 } })))

// The dashboard, served on a free port: its JSON, and uPlot found in this project's node_modules.
const onDashboard = Effect.gen(function*() {
  const pool = yield* ResourcePool.make({ acquire: Effect.succeed({}), config: { name: "packed", minConnections: 1 } })
  const context = yield* Layer.build(Dashboard.layer({ pools: [pool], port: 0 }))
  const { url } = Context.get(context, Dashboard.Dashboard)
  const stats = yield* Effect.promise(() => fetch(`${url}stats`).then((r) => r.json()))
  const uplot = yield* Effect.promise(() => fetch(`${url}assets/uPlot.min.js`).then((r) => r.status))
  return { pools: stats.pools.map((p) => p.name), uplot }
}).pipe(Effect.scoped)

const program = Effect.gen(function*() {
  const dashboard = yield* onDashboard
  console.log(`dashboard: ${JSON.stringify(dashboard)}`)
  if (JSON.stringify(dashboard) !== JSON.stringify({ pools: ["packed"], uplot: 200 })) {
    return yield* Effect.dieMessage(`dashboard: unexpected ${JSON.stringify(dashboard)}`)
  }
  const { scrape, ...sqlite } = yield* onSqlite
  console.log(`sqlite: ${JSON.stringify(sqlite)}`)
  if (JSON.stringify(sqlite.rows) !== JSON.stringify([{ text: "hello" }, { text: "world" }])) {
    return yield* Effect.dieMessage(`sqlite: unexpected rows ${JSON.stringify(sqlite.rows)}`)
  }
  const maxLine = "db_client_connection_max{db_client_connection_pool_name=\"pack-sqlite\"} 2"
  if (!scrape.split("\n").includes(maxLine)) {
    return yield* Effect.dieMessage(`observability: no "${maxLine}" in the scrape:\n${scrape}`)
  }
  console.log(`observability: ${maxLine}`)
  if (pgUrl === undefined) {
    console.log("postgresql: skipped (DBPOOL_PACK_PG_URL unset)")
    return
  }
  const pg = yield* onPg(pgUrl)
  console.log(`postgresql: ${JSON.stringify(pg)}`)
  if (JSON.stringify(pg.rows) !== JSON.stringify([{ two: 2, database: "test" }])) {
    return yield* Effect.dieMessage(`postgresql: unexpected rows ${JSON.stringify(pg.rows)}`)
  }
})

if (sqliteFile === undefined) {
  console.error("app.mjs: DBPOOL_PACK_SQLITE_FILE is not set")
  process.exit(2)
}
Effect.runPromiseExit(program).then((exit) => {
  if (exit._tag === "Failure") {
    console.error("app.mjs failed:", exit.cause)
    process.exit(1)
  }
  console.log("app.mjs: ok")
})
