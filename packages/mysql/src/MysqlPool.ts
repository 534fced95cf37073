/**
 * MySQL and MariaDB on the dbpool pool: one mysql2 `Connection` per pooled
 * connection, statements compiled by @effect/sql-mysql2's compiler.
 *
 * @since 0.1.0
 */
import type * as PoolConfig from "@dbpool/core/PoolConfig"
import type { ConnectError, PoolConfigError } from "@dbpool/core/PoolError"
import type { ConnectFailure } from "@dbpool/sql/ConnectionError"
import type { Connector } from "@dbpool/sql/Connector"
import type * as Pool from "@dbpool/sql/Pool"
import type * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type Mysql from "mysql2"
import * as internal from "./internal/mysql.js"

/**
 * Where and how to connect: a `url`, or `host`, `port`, `database`,
 * `username` and `password` (fields given next to a URL complete it).
 *
 * @since 0.1.0
 * @category models
 */
export interface MysqlPoolOptions {
  /** `mysql://user:password@host:port/database`, redacted: it may hold the password. */
  readonly url?: Redacted.Redacted | undefined
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly database?: string | undefined
  readonly username?: string | undefined
  readonly password?: Redacted.Redacted | undefined
  readonly ssl?: Mysql.ConnectionOptions["ssl"] | undefined
  /** Session set-up run on each new connection before its first use (`SET time_zone ...`). */
  readonly onConnect?: ((conn: Mysql.Connection) => Effect.Effect<void, unknown>) | undefined
  /** Any other mysql2 connection option (charset, timezone, ...). */
  readonly connectionOptions?: Mysql.ConnectionOptions | undefined
  readonly transformQueryNames?: ((name: string) => string) | undefined
  readonly transformResultNames?: ((name: string) => string) | undefined
  readonly spanAttributes?: Record<string, unknown> | undefined
  /**
   * Bound on one statement. On expiry the statement is cancelled on the
   * server (`KILL QUERY`), fails with a `SqlError` whose cause is a
   * `QueryTimeoutError`, and its connection is closed. Positive and finite;
   * default: no bound.
   */
  readonly queryTimeout?: Duration.DurationInput | undefined
  /** The pool's sizes and timeouts. */
  readonly pool?: PoolConfig.Input | undefined
}

/**
 * The connector, for `Pool.layer` or an extra pool's tag (a replica), once
 * the options are checked: an invalid `queryTimeout`, a `url` that is not a
 * readable `mysql://` or `mariadb://` URL (never shown: it may hold the
 * password), or a `port` outside 1-65535 fails with `PoolConfigError` naming
 * the field. Its `connect` fails with a typed `ConnectFailure` (see `layer`).
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { Pool } from "@dbpool/sql"
 * import { MysqlPool } from "@dbpool/mysql"
 *
 * const Analytics = Pool.makeTag("Analytics")
 * const AnalyticsLive = Analytics.layer(
 *   MysqlPool.connector({ url: Redacted.make("mysql://root@127.0.0.1:3306/analytics") }),
 *   { maxConnections: 5 }
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const connector: (
  options: MysqlPoolOptions
) => Effect.Effect<Connector<Mysql.Connection, ConnectFailure>, PoolConfigError> = internal.connector

/**
 * A layer providing `Pool`, `SqlClient.SqlClient` and @effect/sql-mysql2's
 * `MysqlClient.MysqlClient` (so `MysqlMigrator` and programs written for
 * @effect/sql-mysql2 run unchanged; its `config` is what the pool connects
 * with: the URL as given, host, port, user, password and database as mysql2
 * resolves them), all over one pool of MySQL or
 * MariaDB connections. When connecting fails, the pool's `ConnectError` has
 * a typed `cause` whose `code` is the server's errno as a string (or the
 * socket's code); each keeps mysql2's error as its own `cause`, no password
 * anywhere:
 *
 * - `AuthenticationError` (1045, 1044, 1698, 1130, locked or expired
 *   account): not retried;
 * - `TooManyConnectionsError` (1040 max_connections, 1203 / 1226 the user's
 *   MAX_USER_CONNECTIONS): retried with the pool's backoff, as a slot may
 *   free up;
 * - `UnknownDatabaseError` (1049): not retried;
 * - `ServerUnreachableError` (ECONNREFUSED, ENOTFOUND, ETIMEDOUT, the socket
 *   closed during the handshake): retried, except an unknown host (ENOTFOUND);
 * - `ConnectionSetupError` (TLS, protocol, `onConnect` failing): retried.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pool } from "@dbpool/sql"
 * import { MysqlPool } from "@dbpool/mysql"
 *
 * const PoolLive = MysqlPool.layer({
 *   host: "127.0.0.1",
 *   username: "root",
 *   database: "test",
 *   pool: { maxConnections: 20 }
 * })
 *
 * const program = Pool.withConnection((conn) => conn.sql`SELECT 1 AS one`).pipe(Effect.provide(PoolLive))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (
  options: MysqlPoolOptions
) => Layer.Layer<
  Pool.Pool | SqlClient.SqlClient | MysqlClient.MysqlClient,
  PoolConfigError | ConnectError<ConnectFailure>
> = internal.layer

/**
 * The same layer, its options read from Effect `Config` (the same checks
 * apply: an invalid `queryTimeout`, `url` or `port` fails with
 * `PoolConfigError`).
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { MysqlPool } from "@dbpool/mysql"
 *
 * const PoolLive = MysqlPool.layerConfig({ url: Config.redacted("DATABASE_URL") })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: (
  config: Config.Config.Wrap<MysqlPoolOptions>
) => Layer.Layer<
  Pool.Pool | SqlClient.SqlClient | MysqlClient.MysqlClient,
  PoolConfigError | ConnectError<ConnectFailure> | ConfigError.ConfigError
> = internal.layerConfig

/**
 * Whether an error (a `SqlError`'s cause) means the connection is gone: a
 * killed connection, a lost socket, a fatal protocol error.
 *
 * @example
 * ```ts
 * import { MysqlPool } from "@dbpool/mysql"
 *
 * MysqlPool.isConnectionError({ code: "PROTOCOL_CONNECTION_LOST", fatal: true }) // true
 * MysqlPool.isConnectionError({ code: "ER_DUP_ENTRY" }) // false
 * ```
 *
 * @since 0.1.0
 * @category refinements
 */
export const isConnectionError: (cause: unknown) => boolean = internal.isConnectionError
