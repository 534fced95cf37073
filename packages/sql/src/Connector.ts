/**
 * What a database driver supplies to the pool: how to open, check, cancel and
 * close one native connection, how to run statements on it, and how to tell a
 * broken connection from a failed query. `@dbpool/pg`, `@dbpool/mysql` and
 * `@dbpool/sqlite` each build one; `Pool.layer` turns it into a pool.
 *
 * @since 0.1.0
 */
import { PoolConfigError } from "@dbpool/core/PoolError"
import type * as SqlConnection from "@effect/sql/SqlConnection"
import type * as Statement from "@effect/sql/Statement"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/**
 * Given to `connect`: the driver calls `onBroken` when it learns, outside any
 * query, that the connection is gone (the server closed the socket, an
 * `error` event on an idle client). The pool then never lends it again.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectHooks {
  readonly onBroken: (cause: unknown) => void
}

/**
 * The statements a dialect uses for transactions (defaults: `BEGIN`,
 * `COMMIT`, `ROLLBACK`, `SAVEPOINT name`, `ROLLBACK TO SAVEPOINT name`).
 *
 * @since 0.1.0
 * @category models
 */
export interface TransactionStatements {
  readonly begin?: string | undefined
  readonly commit?: string | undefined
  readonly rollback?: string | undefined
  readonly savepoint?: ((name: string) => string) | undefined
  readonly rollbackSavepoint?: ((name: string) => string) | undefined
}

/**
 * A driver's connector for native connections of type `Native`, whose opening
 * fails with `E`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { Connector } from "@dbpool/sql/Connector"
 *
 * declare const connector: Connector<{ query: (sql: string) => Promise<unknown> }>
 * // a cheap health check with a bound of its own
 * const check = (native: { query: (sql: string) => Promise<unknown> }) =>
 *   connector.validate(native).pipe(Effect.timeout("1 second"))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Connector<Native, E = unknown> {
  /** The database system, for span attributes and messages: "postgresql", "mysql", "sqlite". */
  readonly system: string
  /**
   * Opens one connection (session set-up such as `onConnect` included). The
   * pool bounds it by `connectTimeout`; if interrupted it must close whatever
   * it opened.
   */
  readonly connect: (hooks: ConnectHooks) => Effect.Effect<Native, E>
  /** Closes one connection. Never fails. */
  readonly close: (native: Native) => Effect.Effect<void>
  /** The cheap health query (`SELECT 1` or the driver's ping). The pool bounds it by `validationTimeout`. */
  readonly validate: (native: Native) => Effect.Effect<void, unknown>
  /** Cancels the statement running on this connection, on the server, best effort. */
  readonly cancel: (native: Native) => Effect.Effect<void>
  /**
   * How a connection becomes reusable after its statement was interrupted:
   * waits until the interrupted statement has answered (the driver has
   * nothing in flight) and succeeds with whether the session is idle and
   * outside a transaction. The pool runs it beside `cancel` and keeps the
   * connection only when both have finished and this says `true`; without
   * it, a connection whose statement was interrupted is always closed.
   */
  readonly settle?: ((native: Native) => Effect.Effect<boolean>) | undefined
  /** The @effect/sql connection that runs statements on this native connection. */
  readonly connection: (native: Native) => SqlConnection.Connection
  /** Whether an error of a statement (the `SqlError`'s cause) means the connection is unusable. */
  readonly isConnectionError: (cause: unknown) => boolean
  /** Whether a connection error is worth another attempt (a wrong password is not). Default: always. */
  readonly retryable?: ((error: E) => boolean) | undefined
  /**
   * Bound on one statement; on expiry the statement is cancelled on the
   * server, fails with a `SqlError` whose cause is a `QueryTimeoutError`,
   * and the connection is closed. `undefined`: no bound.
   */
  readonly queryTimeout?: Duration.Duration | undefined
  /** Whether the session is inside a transaction now, when the driver knows it. */
  readonly inTransaction?: ((native: Native) => boolean) | undefined
  /** The dialect's statement compiler. */
  readonly compiler: Statement.Compiler
  /** Row transformation (column names), as in @effect/sql's clients. */
  readonly transformRows?: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
  /** Span attributes (OpenTelemetry: `db.system.name`, `db.namespace`, `server.address`, ...). */
  readonly spanAttributes: ReadonlyArray<readonly [string, unknown]>
  /** Transaction statements when the dialect's differ from the defaults. */
  readonly transactions?: TransactionStatements | undefined
}

/**
 * Where a connector connects, for span attributes and messages: the fields
 * given beside a URL complete or override it, as the drivers apply them.
 *
 * @example
 * ```ts
 * import { Connector } from "@dbpool/sql"
 *
 * Connector.serverAddress({ url: "postgres://app@db:6432/orders", port: 5432 }, 5432)
 * // { host: "db", port: 5432, database: "orders" }
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const serverAddress = (
  options: {
    readonly url?: string | undefined
    readonly host?: string | undefined
    readonly port?: number | undefined
    readonly database?: string | undefined
  },
  defaultPort: number
): { readonly host: string; readonly port: number; readonly database: string | undefined } => {
  let { database, host, port } = options
  if (options.url !== undefined) {
    try {
      const url = new URL(options.url)
      host = host ?? (url.hostname || undefined)
      port = port ?? (url.port === "" ? undefined : Number(url.port))
      database = database ?? (url.pathname.length > 1 ? decodeURIComponent(url.pathname.slice(1)) : undefined)
    } catch {
      // the driver reports a malformed URL when it connects
    }
  }
  return { host: host ?? "localhost", port: port ?? defaultPort, database }
}

/**
 * Checks a driver's `queryTimeout` option: absent, or a positive, finite
 * duration. Anything else fails with `PoolConfigError` naming `queryTimeout`,
 * before any connection is opened.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Connector } from "@dbpool/sql"
 *
 * Effect.runSync(Connector.decodeQueryTimeout("5 seconds")) // Duration of 5 seconds
 * Effect.runSync(Effect.flip(Connector.decodeQueryTimeout(0))).field // "queryTimeout"
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const decodeQueryTimeout = (
  input: Duration.DurationInput | undefined
): Effect.Effect<Duration.Duration | undefined, PoolConfigError> =>
  Effect.suspend(() => {
    if (input === undefined) return Effect.succeed(undefined)
    const invalid = (reason: string) =>
      Effect.fail(new PoolConfigError({ field: "queryTimeout", value: input, reason }))
    if (typeof input === "number" && Number.isNaN(input)) return invalid("must be a duration, not NaN")
    // Duration.decode would turn a negative number into zero: say what was wrong instead.
    if ((typeof input === "number" || typeof input === "bigint") && input < 0) return invalid("must not be negative")
    if (typeof input === "string" && /^\s*-/.test(input)) return invalid("must not be negative")
    const decoded = Duration.decodeUnknown(typeof input === "string" ? input.trim() : input)
    if (Option.isNone(decoded)) {
      return invalid("is not a duration (try \"30 seconds\", \"500 millis\" or a number of milliseconds)")
    }
    if (!Duration.isFinite(decoded.value)) return invalid("must be finite (leave it out for no bound)")
    if (Duration.lessThanOrEqualTo(decoded.value, Duration.zero)) return invalid("must be greater than zero")
    return Effect.succeed(decoded.value)
  })
