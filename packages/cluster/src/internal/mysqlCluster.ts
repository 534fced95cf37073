/** What `MysqlCluster` builds: the cluster's client as a `MysqlClient`, the heartbeat writer. */
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Cluster from "../Cluster.js"
import type { MysqlNodeConfig } from "../MysqlCluster.js"

/**
 * The cluster's routing client as a `MysqlClient`: a copy of it (the cluster's own `sql` is not touched)
 * whose `config` is the primary's settings as given.
 */
export const asMysqlClient = (
  sql: SqlClient.SqlClient,
  primary: MysqlNodeConfig | undefined
): MysqlClient.MysqlClient => {
  const config: MysqlClient.MysqlClientConfig = primary === undefined ? {} : {
    url: primary.url,
    host: primary.host,
    port: primary.port,
    database: primary.database,
    username: primary.username,
    password: primary.password,
    maxConnections: primary.pool?.maxConnections,
    connectionTTL: primary.pool?.maxLifetime,
    spanAttributes: primary.spanAttributes,
    transformResultNames: primary.transformResultNames,
    transformQueryNames: primary.transformQueryNames
  }
  const statement = sql as unknown as (...args: Array<unknown>) => unknown
  const client = Object.assign(
    function(this: unknown, ...args: Array<unknown>) {
      return statement.apply(this, args)
    },
    sql,
    { [MysqlClient.TypeId]: MysqlClient.TypeId, config }
  )
  ;(client as { safe: unknown }).safe = client
  return client as unknown as MysqlClient.MysqlClient
}

/** Writes the heartbeat row on the primary every `every`, skipping a write that fails. */
export const heartbeat = (
  cluster: Cluster.Cluster,
  table: string,
  every: Duration.DurationInput = Duration.millis(100)
): Effect.Effect<never> => {
  const sql = cluster.primary.pool.sql.withoutTransforms()
  const beat = Effect.ignore(sql`REPLACE INTO ${sql(table)} (id, ts) VALUES (1, UTC_TIMESTAMP(6))`)
  return Effect.forever(Effect.zipRight(beat, Effect.sleep(every)))
}
