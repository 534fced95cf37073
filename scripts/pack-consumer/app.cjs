// Run by scripts/test-pack.mjs where the tarballs are installed: each package through require(), the
// CommonJS build, used for something that runs without a database server.
const assert = require("node:assert/strict")
const { Effect, Redacted } = require("effect")
const { PoolConfig, ResourcePool } = require("@dbpool/core")
const { Pool } = require("@dbpool/sql")
const { PgPool } = require("@dbpool/pg")
const { MysqlPool } = require("@dbpool/mysql")
const { SqlitePool } = require("@dbpool/sqlite")

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
  // Invalid options fail before any connection is tried: the check runs without a server.
  "@dbpool/pg": () => {
    const error = Effect.runSync(Effect.flip(PgPool.connector({ url: Redacted.make("postgres://h/db"), queryTimeout: -1 })))
    assert.equal(error._tag, "PoolConfigError")
  },
  "@dbpool/mysql": () => assert.equal(MysqlPool.isConnectionError(new Error("no")), false),
  "@dbpool/sqlite": () => {
    const error = Effect.runSync(Effect.flip(SqlitePool.connector({ filename: ":memory:", pool: { maxConnections: 2 } })))
    assert.equal(error._tag, "PoolConfigError")
  }
}

for (const [name, check] of Object.entries(checks)) {
  check()
  console.log(`require("${name}"): ok`)
}
