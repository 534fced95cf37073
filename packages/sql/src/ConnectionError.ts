/**
 * Typed connection errors: why a connection could not be opened, why a live
 * one died, why a statement was stopped. A driver's `connect` fails with a
 * `ConnectFailure`, so the pool's error is `ConnectError<ConnectFailure>` and
 * a program tells the cases apart by tag:
 *
 * | tag | meaning | retried by the pool |
 * | --- | --- | --- |
 * | `AuthenticationError` | the server refused the user or password | no |
 * | `TooManyConnectionsError` | the server (or the user's limit) is full | yes, with the pool's backoff |
 * | `UnknownDatabaseError` | the database does not exist | no |
 * | `ServerUnreachableError` | no answer at that address | yes, except an unknown host |
 * | `ConnectionSetupError` | anything else while connecting (TLS, protocol, `onConnect`) | yes |
 *
 * `ConnectionLostError` is the cause of a statement's `SqlError` when its
 * connection died, `QueryTimeoutError` when it ran past `queryTimeout`.
 *
 * Every message names the problem and, where the server explained it, its
 * words; none ever holds a password. `cause` keeps the driver's original
 * error for logs and for what this module does not cover.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Predicate from "effect/Predicate"

/**
 * The database system an error comes from. The three drivers of dbpool use
 * the first three; a connector of another system names its own.
 *
 * @since 0.1.0
 * @category models
 */
export type System = "postgresql" | "mysql" | "sqlite" | (string & {})

/**
 * The reasons opening a connection fails with, as a driver's `connect`
 * reports them.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { ConnectError } from "@dbpool/core/PoolError"
 * import type { ConnectionError } from "@dbpool/sql"
 *
 * const explain = (error: ConnectError<ConnectionError.ConnectFailure>) => {
 *   switch (error.cause?._tag) {
 *     case "AuthenticationError": return "check the credentials"
 *     case "TooManyConnectionsError": return "the server is full: lower maxConnections"
 *     default: return error.message
 *   }
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ConnectFailure =
  | AuthenticationError
  | TooManyConnectionsError
  | UnknownDatabaseError
  | ServerUnreachableError
  | ConnectionSetupError

const serverNames: Record<string, string> = { postgresql: "PostgreSQL", mysql: "MySQL", sqlite: "SQLite" }
/** The system's usual name; another driver's own `system` string as it gave it. */
const server = (system: System): string => serverNames[system] ?? system

/** The driver's own words, when it has some, after the problem we name ourselves. */
const because = (cause: unknown): string => {
  const text = describe(cause)
  return text === "" ? "" : `: ${text}`
}

const describe = (cause: unknown): string => {
  if (typeof cause === "string") return cause
  if (Predicate.hasProperty(cause, "message") && typeof cause.message === "string") return cause.message
  return ""
}

const withCode = (code: string | undefined): string => code === undefined ? "" : ` (${code})`

/**
 * The server refused the credentials: a wrong password, an unknown user, a
 * user not allowed from this host or to this database (PostgreSQL 28P01 and
 * 28000; MySQL/MariaDB 1045, 1044, 1698, 1130). Not retried: the next attempt
 * would be refused the same way.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { PgPool } from "@dbpool/pg"
 *
 * const started = Layer.build(PgPool.layer({ host: "db", username: "app" })).pipe(
 *   Effect.scoped,
 *   Effect.catchTag("ConnectError", (e) =>
 *     e.cause?._tag === "AuthenticationError"
 *       ? Effect.logError(`check the database credentials: ${e.message}`)
 *       : Effect.fail(e))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthenticationError extends Data.TaggedError("AuthenticationError")<{
  readonly system: System
  /** SQLSTATE (PostgreSQL) or errno (MySQL) as a string. */
  readonly code: string | undefined
  /** The user the server refused, when known. */
  readonly user: string | undefined
  readonly cause: unknown
}> {
  override get message(): string {
    const who = this.user === undefined ? "" : ` for user "${this.user}"`
    return `Authentication failed${who} on the ${server(this.system)} server${withCode(this.code)}${
      because(this.cause)
    }`
  }
}

/**
 * The server has no connection slot left for us: PostgreSQL 53300 (too many
 * clients, too many connections for the role or database, slots reserved),
 * MySQL/MariaDB 1040 (max_connections), 1203 and 1226 (the user's limit). The
 * pool retries it with its backoff: a slot may free up.
 *
 * @example
 * ```ts
 * import { ConnectionError } from "@dbpool/sql"
 *
 * const full = new ConnectionError.TooManyConnectionsError({ system: "postgresql", code: "53300", cause: undefined })
 * full.message // "The PostgreSQL server refuses more connections (53300)"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class TooManyConnectionsError extends Data.TaggedError("TooManyConnectionsError")<{
  readonly system: System
  readonly code: string | undefined
  readonly cause: unknown
}> {
  override get message(): string {
    return `The ${server(this.system)} server refuses more connections${withCode(this.code)}${because(this.cause)}`
  }
}

/**
 * The database named in the settings does not exist (PostgreSQL 3D000,
 * MySQL/MariaDB 1049). For SQLite: the file cannot be opened as a database
 * (a missing file with `fileMustExist`, a missing directory, no permission,
 * a file that is not a database). Not retried.
 *
 * @example
 * ```ts
 * import { ConnectionError } from "@dbpool/sql"
 *
 * new ConnectionError.UnknownDatabaseError({ system: "mysql", code: "1049", database: "shop", cause: undefined })
 *   .message // "Database \"shop\" does not exist on the MySQL server (1049)"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownDatabaseError extends Data.TaggedError("UnknownDatabaseError")<{
  readonly system: System
  readonly code: string | undefined
  /** The database name (the file name for SQLite), when known. */
  readonly database: string | undefined
  readonly cause: unknown
}> {
  override get message(): string {
    const name = this.database === undefined ? "The database" : `Database "${this.database}"`
    return this.system === "sqlite"
      ? `${name} cannot be opened${withCode(this.code)}${because(this.cause)}`
      : `${name} does not exist on the ${server(this.system)} server${withCode(this.code)}${because(this.cause)}`
  }
}

/**
 * Nothing answered at the address: refused (ECONNREFUSED), unknown host
 * (ENOTFOUND), no route (EHOSTUNREACH, ENETUNREACH), no answer in time
 * (ETIMEDOUT), the socket closed during the handshake, or a server that is
 * starting up or shutting down (PostgreSQL 57P03). Retried with the pool's
 * backoff, except an unknown host.
 *
 * @example
 * ```ts
 * import { ConnectionError } from "@dbpool/sql"
 *
 * new ConnectionError.ServerUnreachableError({
 *   system: "postgresql", code: "ECONNREFUSED", host: "127.0.0.1", port: 5433, cause: undefined
 * }).message // "Cannot reach the PostgreSQL server at 127.0.0.1:5433 (ECONNREFUSED)"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class ServerUnreachableError extends Data.TaggedError("ServerUnreachableError")<{
  readonly system: System
  /** The socket's code (ECONNREFUSED, ENOTFOUND, ...) or the server's, when it answered. */
  readonly code: string | undefined
  readonly host: string | undefined
  readonly port: number | undefined
  readonly cause: unknown
}> {
  override get message(): string {
    const at = this.host === undefined ? "" : ` at ${this.host}${this.port === undefined ? "" : `:${this.port}`}`
    return `Cannot reach the ${server(this.system)} server${at}${withCode(this.code)}${because(this.cause)}`
  }
}

/**
 * Opening the connection failed for another reason: TLS, the protocol, an
 * unsupported authentication method, or the session set-up (`onConnect`,
 * `stage: "onConnect"`). Retried with the pool's backoff.
 *
 * @example
 * ```ts
 * import { ConnectionError } from "@dbpool/sql"
 *
 * new ConnectionError.ConnectionSetupError({
 *   system: "postgresql", code: undefined, stage: "onConnect", cause: new Error("schema app does not exist")
 * }).message // "Setting up a new PostgreSQL connection failed in onConnect: schema app does not exist"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionSetupError extends Data.TaggedError("ConnectionSetupError")<{
  readonly system: System
  readonly code: string | undefined
  /** Where it failed: opening the session (handshake, TLS, login) or the user's `onConnect`. */
  readonly stage: "connect" | "onConnect"
  readonly cause: unknown
}> {
  override get message(): string {
    return this.stage === "onConnect"
      ? `Setting up a new ${server(this.system)} connection failed in onConnect${withCode(this.code)}${
        because(this.cause)
      }`
      : `Opening a ${server(this.system)} connection failed${withCode(this.code)}${because(this.cause)}`
  }
}

/**
 * A live connection died: the server ended the session (killed backend,
 * restart), the socket was reset, the network went away. The cause of the
 * failed statement's `SqlError`; the pool closes that connection and never
 * lends it again.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SqlClient } from "@effect/sql"
 * import { ConnectionError } from "@dbpool/sql"
 *
 * const program = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`).pipe(
 *   Effect.catchTag("SqlError", (e) =>
 *     e.cause instanceof ConnectionError.ConnectionLostError ? Effect.succeed([]) : Effect.fail(e))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionLostError extends Data.TaggedError("ConnectionLostError")<{
  readonly system: System
  readonly code: string | undefined
  readonly cause: unknown
}> {
  override get message(): string {
    return `The ${server(this.system)} connection was lost${withCode(this.code)}${because(this.cause)}`
  }
}

/**
 * A statement ran past the pool's `queryTimeout`: it was cancelled on the
 * server and its connection closed (on a pipelined PostgreSQL connection, see
 * `pipelined`). The cause of the statement's `SqlError`.
 *
 * @example
 * ```ts
 * import { Duration } from "effect"
 * import { ConnectionError } from "@dbpool/sql"
 *
 * new ConnectionError.QueryTimeoutError({ system: "postgresql", timeout: Duration.seconds(5) }).message
 * // "The statement did not finish within 5s on the PostgreSQL server: it was cancelled and its connection closed"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class QueryTimeoutError extends Data.TaggedError("QueryTimeoutError")<{
  readonly system?: System | undefined
  readonly timeout: Duration.Duration
  /**
   * The statement was sent on a pipelined PostgreSQL connection: its answer is dropped, the server is
   * asked to cancel it only when no other statement waits on that connection (a cancel stops whatever
   * the session runs), and the connection is closed once the others are answered.
   */
  readonly pipelined?: boolean | undefined
}> {
  override get message(): string {
    const where = this.system === undefined ? "" : ` on the ${server(this.system)} server`
    const outcome = this.pipelined === true
      ? "its answer will be dropped, it is cancelled once no other statement waits on its pipelined connection, and that connection is closed once drained"
      : "it was cancelled and its connection closed"
    return `The statement did not finish within ${Duration.format(this.timeout)}${where}: ${outcome}`
  }
}

const connectTags: ReadonlySet<unknown> = new Set([
  "AuthenticationError",
  "TooManyConnectionsError",
  "UnknownDatabaseError",
  "ServerUnreachableError",
  "ConnectionSetupError"
])

/**
 * Whether a value is one of the `ConnectFailure` errors.
 *
 * @example
 * ```ts
 * import { ConnectionError } from "@dbpool/sql"
 *
 * ConnectionError.isConnectFailure(new Error("x")) // false
 * ```
 *
 * @since 0.1.0
 * @category refinements
 */
export const isConnectFailure = (u: unknown): u is ConnectFailure =>
  Predicate.hasProperty(u, "_tag") && connectTags.has(u._tag) && u instanceof Error

/**
 * The code a driver's error carries, as a string: the `code` field
 * (PostgreSQL's SQLSTATE, a socket's ECONNREFUSED, mysql2's ER_... name) or,
 * with `preferErrno`, a server's numeric `errno` (MySQL's 1045) first. A
 * wrapper without a code (Effect's `UnknownException`, a `SqlError`) gives
 * the code of the error it wraps.
 *
 * @example
 * ```ts
 * import { ConnectionError } from "@dbpool/sql"
 *
 * ConnectionError.codeOf({ code: "57P01" }) // "57P01"
 * ConnectionError.codeOf({ code: "ER_BAD_DB_ERROR", errno: 1049 }, true) // "1049"
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const codeOf = (cause: unknown, preferErrno = false): string | undefined =>
  ownCode(cause, preferErrno) ??
    // A wrapper without a code of its own (Effect's UnknownException, a SqlError): the code of what it wraps.
    (Predicate.hasProperty(cause, "cause") ? ownCode(cause.cause, preferErrno) : undefined)

const ownCode = (cause: unknown, preferErrno: boolean): string | undefined => {
  if (!Predicate.isObject(cause)) return undefined
  const { code, errno } = cause as { code?: unknown; errno?: unknown }
  // Node's own socket errors carry a negative errno: their code (ECONNREFUSED) says more.
  if (preferErrno && typeof errno === "number" && errno > 0) return String(errno)
  if (typeof code === "string") return code
  if (typeof code === "number") return String(code)
  return undefined
}

/**
 * Wraps the cause of a failed statement whose connection died (the
 * connector's `isConnectionError` said so) in a `ConnectionLostError`, with
 * the code it carries (MySQL's errno when it has one).
 *
 * @example
 * ```ts
 * import { ConnectionError } from "@dbpool/sql"
 *
 * const lost = ConnectionError.lost("postgresql", { code: "57P01", message: "terminating connection" })
 * lost.code // "57P01"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const lost = (system: System, cause: unknown): ConnectionLostError =>
  new ConnectionLostError({ system, code: codeOf(cause, system === "mysql"), cause })

/**
 * The retry policy the drivers share: an `AuthenticationError`, an
 * `UnknownDatabaseError` or an unknown host (`ServerUnreachableError` with
 * ENOTFOUND) would fail the same way again and are not retried; a full
 * server (`TooManyConnectionsError`), an unreachable one and a failed
 * set-up are, with the pool's backoff.
 *
 * @example
 * ```ts
 * import { ConnectionError } from "@dbpool/sql"
 *
 * ConnectionError.isRetryable(
 *   new ConnectionError.TooManyConnectionsError({ system: "mysql", code: "1040", cause: undefined })
 * ) // true
 * ```
 *
 * @since 0.1.0
 * @category refinements
 */
export const isRetryable = (error: ConnectFailure): boolean => {
  switch (error._tag) {
    case "AuthenticationError":
    case "UnknownDatabaseError":
      return false
    case "ServerUnreachableError":
      return error.code !== "ENOTFOUND"
    default:
      return true
  }
}

/**
 * Socket codes that mean nothing answered at the address (shared by the
 * network drivers' mappings).
 *
 * @since 0.1.0
 * @category constants
 */
export const unreachableCodes: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EAI_FAIL",
  "EAI_NONAME",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ETIMEDOUT",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ENOENT"
])
