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
import type * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { ConnectionOptions } from "node:tls"
import type Pg from "pg"
import * as internal from "./internal/pg.js"
import * as internalClient from "./internal/pgClient.js"

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
  /**
   * The bound on each connection's cache of named prepared statements
   * (least recently used out first). A statement with parameters is then
   * parsed and planned by the server once per connection, not at every run.
   * `0` turns the cache off. Default 100. A connection that reaches the
   * server through a pooler lending server sessions (PgBouncer in
   * transaction mode, seen as a backend process id that differs from the
   * one the pooler gave) never caches. The cache forgets what `DISCARD ALL`
   * and `DEALLOCATE` drop, and a statement whose plan a schema change made
   * stale (0A000) or that the server lost (26000) is prepared again and,
   * outside a transaction, run once more.
   */
  readonly preparedStatements?: number | undefined
  /** The pool's sizes and timeouts. */
  readonly pool?: PoolConfig.Input | undefined
  /**
   * Off unless given: statements outside transactions share connections,
   * up to `maxInFlight` in flight on each, pipelined (see `PipelineOptions`).
   */
  readonly pipeline?: PipelineOptions | undefined
}

/**
 * Pipelining, for links where the round trip dominates (another zone,
 * another region): statements run through `SqlClient` (or `PgClient`)
 * outside a transaction share the pool's connections, each connection
 * carrying up to `maxInFlight` of them at once; each is answered as soon as
 * its result arrives, in the order sent. Each statement ends with its own
 * Sync, so it runs in an implicit transaction of its own and an error fails
 * that statement only. Transactions, `reserve`, `Pool.withConnection`,
 * streams, and statements that open or end a transaction block or run COPY
 * keep a connection of their own. A slow statement delays those sent after
 * it on the same connection. `maxInFlight` is a whole number from 1 to
 * 1024; anything else fails with `PoolConfigError` naming
 * `pipeline.maxInFlight`.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { PgPool } from "@dbpool/pg"
 *
 * const PoolLive = PgPool.layer({
 *   url: Redacted.make("postgres://postgres@db.other-region:5432/app"),
 *   pool: { maxConnections: 10 },
 *   pipeline: { maxInFlight: 16 }
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface PipelineOptions {
  /** Statements in flight at once on one connection. */
  readonly maxInFlight: number
}

/**
 * The connector, for `Pool.layer` or an extra pool's tag (a replica), once
 * the options are checked: a malformed `url` (or one without a scheme), a
 * `port` (given or in the URL) that is not a whole number from 1 to 65535,
 * an invalid `queryTimeout` or `pipeline` fails with `PoolConfigError` naming the field
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
 * A layer providing `Pool`, `SqlClient.SqlClient` and @effect/sql-pg's
 * `PgClient.PgClient` over a pool of PostgreSQL connections, so a program
 * written for @effect/sql-pg (and `PgMigrator`, which asks for `PgClient`)
 * runs on the pool unchanged. The `PgClient` answers over the pool's
 * connections: its statements borrow them, its `config` is what the pool
 * connects with (resolved from the URL and the fields), `json` and `notify`
 * run through the pool, and `listen` opens one connection of its own outside
 * the pool, on the first call, shared by every channel and closed with the
 * layer. It also provides `Reactivity.layer` to the pool, so `sql.reactive`
 * hears a program's `Reactivity.mutation` when the program provides
 * `Reactivity.layer` in the same layer graph.
 *
 * When connecting fails, the pool's `ConnectError`
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
) => Layer.Layer<
  Pool.Pool | SqlClient.SqlClient | PgClient.PgClient,
  PoolConfigError | ConnectError<ConnectFailure>
> = internal.layer

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
  Pool.Pool | SqlClient.SqlClient | PgClient.PgClient,
  PoolConfigError | ConnectError<ConnectFailure> | ConfigError.ConfigError
> = internal.layerConfig

/**
 * What `layerFromPool` needs: the pool (`Pool.Pool`, an extra pool's tag, or
 * any effect giving a pool of node-postgres connections), and the client's
 * own name transforms when they differ from the pool's.
 *
 * @since 0.1.0
 * @category models
 */
export interface PgPoolFromPoolOptions<E = never, R = never> {
  readonly acquire: Effect.Effect<Pool.Pool<any>, E, R>
  /** Reported in `config`; the pool's connections keep their own. */
  readonly applicationName?: string | undefined
  readonly spanAttributes?: Record<string, unknown> | undefined
  readonly transformResultNames?: ((name: string) => string) | undefined
  readonly transformQueryNames?: ((name: string) => string) | undefined
  readonly transformJson?: boolean | undefined
  /** Type parsers of the `listen` connection (the pool's connections keep their own). */
  readonly types?: Pg.CustomTypesConfig | undefined
}

/**
 * A layer providing `PgClient.PgClient` and `SqlClient.SqlClient` over a
 * PostgreSQL pool built elsewhere, as `PgClient.layerFromPool` of
 * @effect/sql-pg does over a `pg.Pool`. The client is a new object (the
 * pool's own `sql` is untouched; two clients over one pool have their own
 * `config` and transforms); its `config` is read from the settings of one of
 * the pool's connections (borrowed once, when the layer is built); `listen`
 * opens one connection of its own with those settings.
 *
 * @example
 * ```ts
 * import { Layer, Redacted } from "effect"
 * import { Pool } from "@dbpool/sql"
 * import { PgPool } from "@dbpool/pg"
 *
 * const Replica = Pool.makeTag("Replica")
 * const ReplicaLive = Replica.layer(
 *   PgPool.connector({ url: Redacted.make("postgres://postgres@replica:5432/app") })
 * )
 * // a PgClient (and SqlClient) answering on the replica's pool
 * const ReplicaClient = PgPool.layerFromPool({ acquire: Replica }).pipe(Layer.provide(ReplicaLive))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromPool: <E = never, R = never>(
  options: PgPoolFromPoolOptions<E, R>
) => Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, E | SqlError, Exclude<R, Scope.Scope>> = internalClient
  .layerFromPool as any

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
