// Type-checked by scripts/test-pack.mjs (tsc --noEmit, strict, exactOptionalPropertyTypes, nodenext)
// against the installed tarballs: what an ES module program of a user writes.
import type { PoolError } from "@dbpool/core"
import { PoolConfig, ResourcePool } from "@dbpool/core"
import type { PoolStats } from "@dbpool/core/PoolStats"
import { Dashboard } from "@dbpool/dashboard"
import { MysqlPool } from "@dbpool/mysql"
import { Alerts, Prometheus } from "@dbpool/observability"
import { PgPool } from "@dbpool/pg"
import { Pool } from "@dbpool/sql"
import { SqlitePool } from "@dbpool/sqlite"
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Redacted } from "effect"

const pg = PgPool.layer({ url: Redacted.make("postgres://postgres@127.0.0.1:5432/test"), pool: { maxConnections: 4 } })
const mysql = MysqlPool.layer({ url: Redacted.make("mysql://root@127.0.0.1:3306/test") })
const sqlite = SqlitePool.layer({ filename: "app.db", pool: { acquireTimeout: "5 seconds" } })

const Replica = Pool.makeTag("Replica")
const ReplicaLive = Replica.layer(PgPool.connector({ url: Redacted.make("postgres://postgres@replica/test") }), {
  maxConnections: 2
})

export const query = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ readonly one: number }>`SELECT 1 AS one`
  const stats: PoolStats = yield* Pool.stats
  const replica = yield* Replica.stats
  return { one: rows[0]?.one, active: stats.activeConnections, replica: replica.totalConnections }
})

export const programs = [
  query.pipe(Effect.provide(Layer.merge(pg, ReplicaLive))),
  query.pipe(Effect.provide(Layer.merge(mysql, ReplicaLive))),
  query.pipe(Effect.provide(Layer.merge(sqlite, ReplicaLive)))
] as const

export const generic = ResourcePool.make({
  acquire: Effect.succeed({ open: true }),
  config: { minConnections: 0, maxConnections: 1 }
}).pipe(
  Effect.flatMap((pool) => pool.use((lease) => Effect.succeed(lease.resource.open))),
  Effect.catchTag("PoolConfigError", (e: PoolError.PoolConfigError) => Effect.succeed(e.message.length > 0)),
  Effect.scoped
)

export const defaults: number = PoolConfig.defaults.maxConnections

// The dashboard over a pool's tag: the layer asks for the pool's service.
export const dashboard: Layer.Layer<Dashboard.Dashboard, unknown, Pool.Pool> = Dashboard.layer({ pools: [Pool.Pool] })
// The observability layers beside a pool: a scrape endpoint and in-process alerts on the default pool.
export const observed = Layer.mergeAll(Prometheus.layerServer({ port: 9464 }), Alerts.layer(Pool.Pool)).pipe(
  Layer.provideMerge(sqlite)
)
export const scrape: Effect.Effect<string, never, Prometheus.Prometheus> = Prometheus.scrape
