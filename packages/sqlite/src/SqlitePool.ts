/**
 * SQLite on the dbpool pool: better-sqlite3 connections to one database file
 * in WAL mode, so readers run side by side while writes are serialised (one
 * writer at a time, a transaction holding the write permit from `BEGIN` to
 * its end). Statements compile with @effect/sql's SQLite compiler.
 *
 * @since 0.1.0
 */
import type * as PoolConfig from "@dbpool/core/PoolConfig"
import type { ConnectError, PoolConfigError } from "@dbpool/core/PoolError"
import type { ConnectFailure } from "@dbpool/sql/ConnectionError"
import type { Connector } from "@dbpool/sql/Connector"
import type * as Pool from "@dbpool/sql/Pool"
import type * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import type Database from "better-sqlite3"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as internal from "./internal/sqlite.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface SqlitePoolOptions {
  /** The database file. `:memory:` is accepted only with `maxConnections: 1`. */
  readonly filename: string
  readonly readonly?: boolean | undefined
  /** Fail instead of creating the file when it does not exist. */
  readonly fileMustExist?: boolean | undefined
  /** Keep the rollback journal instead of WAL (then readers wait for writers). */
  readonly disableWAL?: boolean | undefined
  /** The `synchronous` pragma. Default `NORMAL` in WAL mode (durable up to the last checkpoint, never corrupt). */
  readonly synchronous?: "OFF" | "NORMAL" | "FULL" | "EXTRA" | undefined
  /** How long SQLite itself waits for a lock held by another process. Default 5 seconds. */
  readonly busyTimeout?: Duration.DurationInput | undefined
  /** Session set-up run on each new connection before its first use (pragmas, functions). */
  readonly onConnect?: ((db: Database.Database) => Effect.Effect<void, unknown>) | undefined
  readonly transformQueryNames?: ((name: string) => string) | undefined
  readonly transformResultNames?: ((name: string) => string) | undefined
  readonly spanAttributes?: Record<string, unknown> | undefined
  /**
   * Bound on one statement, passed to the pool like the other drivers'. Positive and finite; default: no
   * bound. better-sqlite3 is synchronous: a running statement cannot be interrupted (the whole program
   * waits for it), so a statement past the bound fails with a `SqlError` whose cause is a
   * `QueryTimeoutError` only once it returns, and its connection is closed. Only the asynchronous part,
   * waiting for the write permit, can be cut short on time.
   */
  readonly queryTimeout?: Duration.DurationInput | undefined
  /** The pool's sizes and timeouts. */
  readonly pool?: PoolConfig.Input | undefined
}

/**
 * The connector, for `Pool.layer` or an extra pool's tag. Fails with
 * `PoolConfigError` (field `filename`) for an in-memory database with more
 * than one connection: each would see a different, empty database; and
 * (field `queryTimeout`) for a `queryTimeout` that is not a positive, finite
 * duration. Its `connect` fails with a typed `ConnectFailure` (see `layer`).
 *
 * @example
 * ```ts
 * import { Pool } from "@dbpool/sql"
 * import { SqlitePool } from "@dbpool/sqlite"
 *
 * const Analytics = Pool.makeTag("Analytics")
 * const AnalyticsLive = Analytics.layer(SqlitePool.connector({ filename: "analytics.db" }), { maxConnections: 4 })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const connector: (
  options: SqlitePoolOptions
) => Effect.Effect<Connector<Database.Database, ConnectFailure>, PoolConfigError> = internal.connector

/**
 * A layer providing `Pool`, `SqlClient.SqlClient` and @effect/sql-sqlite-node's
 * `SqliteClient.SqliteClient` (so `SqliteMigrator` and programs written for
 * it run unchanged: `export` and `backup` borrow one of the pool's
 * connections, `loadExtension` loads on one now and on every other before
 * its next statement), all over one pool of
 * connections to one SQLite file. When opening fails, the pool's
 * `ConnectError` has a typed `cause` (better-sqlite3's error as its own
 * `cause`):
 *
 * - `UnknownDatabaseError` (`database` is the file name): the file cannot be
 *   opened as a database: missing with `fileMustExist`, in a directory that
 *   does not exist, not readable, not a database (SQLITE_CANTOPEN,
 *   SQLITE_NOTADB). Not retried;
 * - `ConnectionSetupError`: anything else (a locked file while switching to
 *   WAL, `onConnect` failing: retried; a corrupt file or a bad option: not).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SqlClient } from "@effect/sql"
 * import { SqlitePool } from "@dbpool/sqlite"
 *
 * const PoolLive = SqlitePool.layer({ filename: "app.db", pool: { maxConnections: 8 } })
 *
 * const program = Effect.gen(function*() {
 *   const sql = yield* SqlClient.SqlClient
 *   yield* sql`CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT)`
 * }).pipe(Effect.provide(PoolLive))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (
  options: SqlitePoolOptions
) => Layer.Layer<
  Pool.Pool | SqlClient.SqlClient | SqliteClient.SqliteClient,
  PoolConfigError | ConnectError<ConnectFailure>
> = internal.layer

/**
 * The same layer, its options read from Effect `Config`.
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { SqlitePool } from "@dbpool/sqlite"
 *
 * const PoolLive = SqlitePool.layerConfig({ filename: Config.string("SQLITE_FILE") })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: (
  config: Config.Config.Wrap<SqlitePoolOptions>
) => Layer.Layer<
  Pool.Pool | SqlClient.SqlClient | SqliteClient.SqliteClient,
  PoolConfigError | ConnectError<ConnectFailure> | ConfigError.ConfigError
> = internal.layerConfig
