// Run by scripts/test-pack.mjs where the tarballs are installed: each package through require(), the
// CommonJS build, used for something: the drivers open a pool and run a query (SQLite on
// DBPOOL_PACK_SQLITE_FILE, PostgreSQL on DBPOOL_PACK_PG_URL when set), the others run without a server.
const assert = require("node:assert/strict")
const { Context, Effect, Layer, Redacted } = require("effect")
const { PoolConfig, ResourcePool } = require("@dbpool/core")
const { Pool } = require("@dbpool/sql")
const { PgPool } = require("@dbpool/pg")
const { MysqlPool } = require("@dbpool/mysql")
const { SqlitePool } = require("@dbpool/sqlite")
const { Dashboard } = require("@dbpool/dashboard")
const { AlertRule, Prometheus } = require("@dbpool/observability")

// A query through the pool's own connection: the driver's CommonJS code, default imports included.
const selectOne = (layer) =>
  Effect.runPromise(Pool.withConnection((conn) => conn.sql`SELECT 1 AS one`).pipe(Effect.provide(layer)))

const checks = {
  "@dbpool/core": () => {
    const used = Effect.runSync(
      Effect.scoped(Effect.gen(function*() {
        const pool = yield* ResourcePool.make({ acquire: Effect.succeed({ n: 41 }), config: { maxConnections: 1 } })
        return yield* pool.use((lease) => Effect.succeed(lease.resource.n + 1))
      }))
    )
    assert.equal(used, 42)
    assert.equal(PoolConfig.defaults.minConnections >= 0, true)
  },
  "@dbpool/sql": () => assert.equal(typeof Pool.withConnection, "function"),
  "@dbpool/pg": async () => {
    // Invalid options fail before any connection is tried.
    const error = Effect.runSync(Effect.flip(PgPool.connector({ url: Redacted.make("postgres://h/db"), queryTimeout: -1 })))
    assert.equal(error._tag, "PoolConfigError")
    const url = process.env.DBPOOL_PACK_PG_URL
    if (url !== undefined) assert.deepEqual(await selectOne(PgPool.layer({ url: Redacted.make(url) })), [{ one: 1 }])
  },
  "@dbpool/dashboard": async () => {
    // Served, then asked for uPlot: found from the CommonJS build's own path.
    const status = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const pool = yield* ResourcePool.make({ acquire: Effect.succeed({}), config: { name: "cjs", minConnections: 0 } })
      const context = yield* Layer.build(Dashboard.layer({ pools: [pool], port: 0 }))
      const { url } = Context.get(context, Dashboard.Dashboard)
      return yield* Effect.promise(() => fetch(`${url}assets/uPlot.min.js`).then((r) => r.status))
    })))
    assert.equal(status, 200)
  },
  "@dbpool/mysql": () => assert.equal(MysqlPool.isConnectionError(new Error("no")), false),
  "@dbpool/observability": async () => {
    assert.match(AlertRule.toPrometheus(AlertRule.defaults), /alert: DbPoolSaturated/)
    const text = await Effect.runPromise(Effect.scoped(Effect.flatMap(Prometheus.make(), (p) => p.scrape)))
    assert.equal(typeof text, "string")
  },
  "@dbpool/sqlite": async () => {
    const error = Effect.runSync(Effect.flip(SqlitePool.connector({ filename: ":memory:", pool: { maxConnections: 2 } })))
    assert.equal(error._tag, "PoolConfigError")
    const filename = process.env.DBPOOL_PACK_SQLITE_FILE
    assert.ok(filename, "DBPOOL_PACK_SQLITE_FILE is not set")
    assert.deepEqual(await selectOne(SqlitePool.layer({ filename })), [{ one: 1 }])
  }
}

const main = async () => {
  for (const [name, check] of Object.entries(checks)) {
    await check()
    console.log(`require("${name}"): ok`)
  }
}
main().catch((error) => {
  console.error("app.cjs failed:", error)
  process.exit(1)
})
