/**
 * @effect/sql-mysql2's `MysqlClient` answered over a dbpool pool: statements borrow the pool's connections,
 * `config` is what the pool connects with (mysql2's own reading of the URL and the fields).
 */
import type { Connector } from "@dbpool/sql/Connector"
import * as Pool from "@dbpool/sql/Pool"
import type * as MysqlClientNs from "@effect/sql-mysql2/MysqlClient"
import { MysqlClient, TypeId } from "@effect/sql-mysql2/MysqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import Mysql from "mysql2"
import type * as MysqlPool from "../MysqlPool.js"

/** mysql2's reading of connection options, the URL's parts included. */
const ConnectionConfig = (Mysql as unknown as {
  readonly ConnectionConfig: {
    new(options: Mysql.ConnectionOptions): {
      readonly host?: string
      readonly port?: number
      readonly user?: string
      readonly password?: string
      readonly database?: string
    }
  }
}).ConnectionConfig

/** `MysqlClient.config`: the URL as given, the fields as mysql2 resolved them. */
export const configOf = (
  options: MysqlPool.MysqlPoolOptions,
  connection: Mysql.ConnectionOptions
): MysqlClientNs.MysqlClientConfig => {
  // A copy: mysql2 writes the URL's parts into the object it is given.
  const resolved = new ConnectionConfig({ ...connection })
  return {
    url: options.url,
    host: resolved.host,
    port: resolved.port,
    database: resolved.database,
    username: resolved.user,
    password: resolved.password ? Redacted.make(resolved.password) : undefined,
    maxConnections: options.pool?.maxConnections,
    connectionTTL: options.pool?.maxLifetime,
    spanAttributes: options.spanAttributes,
    transformResultNames: options.transformResultNames,
    transformQueryNames: options.transformQueryNames
  }
}

/** A new MysqlClient over the pool; the pool's own `sql` is not touched. */
export const make = (pool: Pool.Pool<any>, config: MysqlClientNs.MysqlClientConfig): MysqlClientNs.MysqlClient =>
  Object.assign(Pool.makeClient(pool), { [TypeId]: TypeId, config }) as unknown as MysqlClientNs.MysqlClient

/**
 * The layer's services: `Pool.layer`'s (the pool and its SqlClient), and a MysqlClient over that pool.
 * `connection` is what the pool connects with.
 */
export const layer = <E>(
  connector: Effect.Effect<Connector<Mysql.Connection, any>, E>,
  options: MysqlPool.MysqlPoolOptions,
  connection: Effect.Effect<Mysql.ConnectionOptions, E>
) =>
  Layer.effect(
    MysqlClient,
    Effect.zipWith(Pool.Pool, connection, (pool, connection) => make(pool, configOf(options, connection)))
  ).pipe(Layer.provideMerge(Pool.layer(connector, options.pool)))
