/**
 * PostgreSQL on the dbpool pool: one node-postgres `pg.Client` per pooled
 * connection, statements compiled by @effect/sql-pg's compiler (JSON and
 * arrays as in @effect/sql-pg), streams through a server-side cursor.
 *
 * @since 0.1.0
 */
import type * as PoolConfig from "@dbpool/core/PoolConfig"
import type { ConnectError, PoolConfigError } from "@dbpool/core/PoolError"
import type { ConnectFailure } from "@dbpool/sql/ConnectionError"
import type { Connector } from "@dbpool/sql/Connector"
import type * as Pool from "@dbpool/sql/Pool"
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as Statement from "@effect/sql/Statement"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type { ConnectionOptions } from "node:tls"
import type Pg from "pg"
import * as internal from "./internal/pg.js"

/**
 * Where and how to connect: a `url`, or `host`, `port`, `database`,
 * `username` and `password` (fields given next to a URL complete and override it).
 *
 * @since 0.1.0
 * @category models
 */
export interface PgPoolOptions {
  /** `postgres://user:password@host:port/database?...`, redacted: it may hold the password. */
  readonly url?: Redacted.Redacted | undefined
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly database?: string | undefined
  readonly username?: string | undefined
  readonly password?: Redacted.Redacted | undefined
  readonly ssl?: boolean | ConnectionOptions | undefined
  /** Shown in `pg_stat_activity.application_name`. Default `"dbpool"`. */
  readonly applicationName?: string | undefined
  /** Session set-up run on each new connection before its first use (`SET search_path ...`). */
  readonly onConnect?: ((client: Pg.Client) => Effect.Effect<void, unknown>) | undefined
  readonly types?: Pg.CustomTypesConfig | undefined
  readonly transformQueryNames?: ((name: string) => string) | undefined
  readonly transformResultNames?: ((name: string) => string) | undefined
  /** Apply the name transforms inside JSON values too (as @effect/sql-pg). Default true. */
  readonly transformJson?: boolean | undefined
  readonly spanAttributes?: Record<string, unknown> | undefined
  /**
   * Bound on one statement. On expiry the statement is cancelled on the
   * server (the protocol's cancel request), fails with a `SqlError` whose
   * cause is a `QueryTimeoutError`, and its connection is closed. Positive and
   * finite; default: no bound.
   */
  readonly queryTimeout?: Duration.DurationInput | undefined
  /** The pool's sizes and timeouts. */
  readonly pool?: PoolConfig.Input | undefined
}

/**
 * The connector, for `Pool.layer` or an extra pool's tag (a replica), once
 * the options are checked: a malformed `url` (or one without a scheme), a
 * `port` (given or in the URL) that is not a whole number from 1 to 65535,
 * or an invalid `queryTimeout` fails with `PoolConfigError` naming the field
 * (never showing the URL).
 * Its `connect` fails with a typed `ConnectFailure` (see `layer`).
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { Pool } from "@dbpool/sql"
 * import { PgPool } from "@dbpool/pg"
 *
 * const Replica = Pool.makeTag("Replica")
 * const ReplicaLive = Replica.layer(
 *   PgPool.connector({ url: Redacted.make("postgres://postgres@replica:5432/app") }),
 *   { maxConnections: 20 }
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const connector: (
  options: PgPoolOptions
) => Effect.Effect<Connector<Pg.Client, ConnectFailure>, PoolConfigError> = internal.connector

/**
 * A layer providing `Pool` and `SqlClient.SqlClient` over a pool of
 * PostgreSQL connections. When connecting fails, the pool's `ConnectError`
 * has a typed `cause` (each keeps node-postgres' error as its own `cause`,
 * no password anywhere):
 *
 * - `AuthenticationError` (28P01, 28000, no password given): not retried;
 * - `TooManyConnectionsError` (53300, also the role's or database's
 *   CONNECTION LIMIT): retried with the pool's backoff, as a slot may free up;
 * - `UnknownDatabaseError` (3D000): not retried;
 * - `ServerUnreachableError` (ECONNREFUSED, ENOTFOUND, ETIMEDOUT, the socket
 *   closed during the handshake, 57P03 starting up): retried, except an
 *   unknown host (ENOTFOUND);
 * - `ConnectionSetupError` (TLS, protocol, `onConnect` failing): retried.
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import { Pool } from "@dbpool/sql"
 * import { PgPool } from "@dbpool/pg"
 *
 * const PoolLive = PgPool.layer({
 *   url: Redacted.make("postgres://postgres@127.0.0.1:5432/test"),
 *   pool: { minConnections: 5, maxConnections: 50, acquireTimeout: "10 seconds" }
 * })
 *
 * const program = Pool.withConnection((conn) => conn.sql`SELECT 1 AS one`).pipe(Effect.provide(PoolLive))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (
  options: PgPoolOptions
) => Layer.Layer<Pool.Pool | SqlClient.SqlClient, PoolConfigError | ConnectError<ConnectFailure>> = internal.layer

/**
 * The same layer, its options read from Effect `Config` (the same checks
 * apply: an invalid `queryTimeout` fails with `PoolConfigError`).
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { PgPool } from "@dbpool/pg"
 *
 * const PoolLive = PgPool.layerConfig({
 *   url: Config.redacted("DATABASE_URL"),
 *   queryTimeout: Config.withDefault(Config.duration("QUERY_TIMEOUT"), undefined)
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: (
  config: Config.Config.Wrap<PgPoolOptions>
) => Layer.Layer<
  Pool.Pool | SqlClient.SqlClient,
  PoolConfigError | ConnectError<ConnectFailure> | ConfigError.ConfigError
> = internal.layerConfig

/**
 * A JSON parameter (as `PgClient.json` of @effect/sql-pg).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SqlClient } from "@effect/sql"
 * import { PgPool } from "@dbpool/pg"
 *
 * const save = Effect.flatMap(SqlClient.SqlClient, (sql) =>
 *   sql`INSERT INTO docs (body) VALUES (${PgPool.json({ a: 1 })})`)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const json: (value: unknown) => Statement.Fragment = internal.json

/**
 * Whether an error (a `SqlError`'s cause) means the connection is gone: a
 * terminated backend, a closed socket, a protocol error.
 *
 * @example
 * ```ts
 * import { PgPool } from "@dbpool/pg"
 *
 * PgPool.isConnectionError({ code: "57P01" }) // true: terminated by the administrator
 * PgPool.isConnectionError({ code: "23505" }) // false: a unique violation
 * ```
 *
 * @since 0.1.0
 * @category refinements
 */
export const isConnectionError: (cause: unknown) => boolean = internal.isConnectionError
