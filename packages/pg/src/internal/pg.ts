/**
 * The PostgreSQL connector on node-postgres: one `pg.Client` per pooled
 * connection (never `pg.Pool`), statements compiled by @effect/sql-pg's
 * compiler, streams through `pg-cursor`, cancellation with
 * `pg_cancel_backend` from a short connection of its own.
 */
import type { ConnectError } from "@dbpool/core/PoolError"
import { PoolConfigError } from "@dbpool/core/PoolError"
import * as ConnectionError from "@dbpool/sql/ConnectionError"
import { type Connector, decodeQueryTimeout, serverAddress } from "@dbpool/sql/Connector"
import type * as Pool from "@dbpool/sql/Pool"
import type * as PgClient from "@effect/sql-pg/PgClient"
import { makeCompiler } from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlConnection from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import * as Chunk from "effect/Chunk"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import Pg from "pg"
import { parse as parseConnectionString } from "pg-connection-string"
import Cursor from "pg-cursor"
import type * as PgPool from "../PgPool.js"
import { cancelRequest } from "./cancelRequest.js"
import * as PgClientImpl from "./pgClient.js"
import * as PipelineConfig from "./pipelineConfig.js"
import { PreparedCache, staleOf } from "./preparedCache.js"

/** SQLSTATE classes and codes after which the session is gone or unusable. */
const connectionCodes = /^(08|57P0[1-4]|53300|XX000$)/
const socketCodes = new Set(["ECONNRESET", "EPIPE", "ETIMEDOUT", "ECONNREFUSED", "EHOSTUNREACH", "ENOTCONN"])
const connectionMessages = /Connection terminated|not queryable|connection error|Client has already been connected/i

const codeOf = (cause: unknown): string | undefined =>
  typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string"
    ? cause.code
    : undefined

export const isConnectionError = (cause: unknown): boolean => {
  const code = codeOf(cause)
  if (code !== undefined && (connectionCodes.test(code) || socketCodes.has(code))) return true
  return cause instanceof Error && connectionMessages.test(cause.message)
}

/** 28P01 wrong password, 28000 unknown role or not allowed by pg_hba.conf. */
const authenticationCodes = new Set(["28P01", "28000"])
/** The server asked for a password and none was given (node-postgres says so before sending anything). */
const passwordMissing = /password must be a (non-empty )?string/i
/** 57P03: starting up or shutting down, 57P01/57P02: shut down while we logged in. Back soon, worth a retry. */
const unavailableCodes = new Set(["57P01", "57P02", "57P03"])
/** The socket closed (or node-postgres' own timer fired) before the server finished the handshake. */
const handshakeCut = /Connection terminated|timeout expired/i

/** Where a client was going, as node-postgres resolved it (URL, fields, PG* environment variables). */
interface Target {
  readonly user: string | undefined
  readonly database: string | undefined
  readonly host: string | undefined
  readonly port: number | undefined
}

const targetOf = (client: Pg.Client): Target => {
  const params = client as unknown as Partial<Record<"user" | "database" | "host", unknown>> & { port?: unknown }
  const text = (value: unknown) => typeof value === "string" ? value : undefined
  return {
    user: text(params.user),
    database: text(params.database),
    host: text(params.host),
    port: typeof params.port === "number" ? params.port : undefined
  }
}

/** The typed reason a connection could not be opened. The password is in none of them (nor in the server's words). */
export const connectFailure = (cause: unknown, target: Target): ConnectionError.ConnectFailure => {
  const system = "postgresql"
  const code = codeOf(cause)
  const message = cause instanceof Error ? cause.message : ""
  if ((code !== undefined && authenticationCodes.has(code)) || passwordMissing.test(message)) {
    return new ConnectionError.AuthenticationError({ system, code, user: target.user, cause })
  }
  if (code === "53300") return new ConnectionError.TooManyConnectionsError({ system, code, cause })
  if (code === "3D000") {
    return new ConnectionError.UnknownDatabaseError({ system, code, database: target.database, cause })
  }
  if (
    (code !== undefined && (ConnectionError.unreachableCodes.has(code) || unavailableCodes.has(code))) ||
    (code === undefined && handshakeCut.test(message))
  ) {
    return new ConnectionError.ServerUnreachableError({ system, code, host: target.host, port: target.port, cause })
  }
  return new ConnectionError.ConnectionSetupError({ system, code, stage: "connect", cause })
}

const clientConfig = (options: PgPool.PgPoolOptions): Pg.ClientConfig => {
  const config: Pg.ClientConfig = {
    application_name: options.applicationName ?? "dbpool",
    keepAlive: true
  }
  // node-postgres lets a connection string override every field given beside it, even those the URL
  // lacks (a password given separately was dropped). Parsed here, the URL is the base and the fields
  // given beside it complete or override it, as documented.
  if (options.url !== undefined) {
    for (const [key, value] of Object.entries(parseConnectionString(Redacted.value(options.url)))) {
      if (value !== null && value !== undefined) (config as Record<string, unknown>)[key] = value
    }
  }
  if (options.host !== undefined) config.host = options.host
  if (options.port !== undefined) config.port = options.port
  if (options.database !== undefined) config.database = options.database
  if (options.username !== undefined) config.user = options.username
  if (options.password !== undefined) config.password = Redacted.value(options.password)
  if (options.ssl !== undefined) config.ssl = options.ssl
  if (options.types !== undefined) config.types = options.types
  return config
}

/** Host, port and database as the driver will use them (URL first), for spans and messages. */
const target = (options: PgPool.PgPoolOptions) => {
  const address = serverAddress({ ...options, url: options.url && Redacted.value(options.url) }, 5432)
  return { ...address, database: address.database ?? options.username ?? "postgres" }
}

const fail = (cause: unknown) =>
  new SqlError({ cause, message: `Failed to execute statement: ${cause instanceof Error ? cause.message : cause}` })

/**
 * Calls `f` once node-postgres has read the ReadyForQuery that follows a server's error. node-postgres
 * reports the error as soon as the ErrorResponse arrives, before the ReadyForQuery that carries the new
 * transaction status (`E` after `BEGIN; SELECT 1/0`), so a connection given back at once looked idle and
 * the next borrower's statements failed with 25P02 (reliability scenario 11).
 */
const afterReadyForQuery = (client: Pg.Client, error: Error, f: () => void): void => {
  const internals = client as unknown as {
    readyForQuery?: boolean
    _queryable?: boolean
    connection?: {
      stream?: { destroyed?: boolean }
      on?: (event: string, listener: () => void) => unknown
      off?: (event: string, listener: () => void) => unknown
    }
  }
  const connection = internals.connection
  if (
    !(error instanceof Pg.DatabaseError) || internals.readyForQuery !== false || internals._queryable === false ||
    connection?.stream?.destroyed !== false || typeof connection.on !== "function" ||
    typeof connection.off !== "function"
  ) return f()
  // A FATAL error is followed by the end of the connection instead.
  const done = () => {
    connection.off!("readyForQuery", done)
    connection.off!("end", done)
    f()
  }
  connection.on("readyForQuery", done)
  connection.on("end", done)
}

const rowsOf = (result: Pg.QueryResult): ReadonlyArray<any> =>
  Array.isArray(result) ? (result as Array<Pg.QueryResult>).map((r) => r.rows ?? []) : result.rows ?? []

/**
 * Each client's prepared-statement cache once its check has answered (`null`: none, behind a pooler or the
 * check failed). No entry: turned off, or not answered yet.
 */
const caches = new WeakMap<Pg.Client, PreparedCache | null>()

const transactionStatus = (client: Pg.Client): string | null | undefined =>
  (client as unknown as { getTransactionStatus?: () => string | null }).getTransactionStatus?.()

class PgConnection implements SqlConnection.Connection {
  /** The client's cache: `null` none, `undefined` its check not started or not answered yet. */
  private known: PreparedCache | null | undefined
  private checking = false
  /** `preparedStatements`: the cache's bound, 0 for none. */
  constructor(readonly client: Pg.Client, readonly preparedStatements: number) {
    this.known = preparedStatements > 0 ? undefined : null
  }

  /**
   * The client's cache, for a statement with parameters. Its check is queued before the first of them (which
   * runs unnamed): a connection that never runs one, or whose peer went silent, never waits for it.
   */
  private get cache(): PreparedCache | undefined {
    if (this.known === undefined) {
      this.known = caches.get(this.client)
      if (this.known === undefined && !this.checking) {
        this.checking = true
        prepareCache(this.client, this.preparedStatements)
      }
    }
    return this.known ?? undefined
  }

  private query<A>(
    sql: string,
    rowMode: "array" | undefined,
    params: ReadonlyArray<unknown>,
    map: (result: Pg.QueryResult) => A,
    prepare = true
  ) {
    return Effect.async<A, SqlError>((resume) => this.submit(sql, rowMode, params, map, prepare, false, resume))
  }

  /**
   * Sends the statement, named by the cache when it has parameters (with none node-postgres sends the simple
   * protocol, which also runs several statements in one text: those are never named), and resumes with its
   * result. A named statement the server refused as stale is, outside a transaction, sent once more.
   */
  private submit<A>(
    sql: string,
    rowMode: "array" | undefined,
    params: ReadonlyArray<unknown>,
    map: (result: Pg.QueryResult) => A,
    prepare: boolean,
    retried: boolean,
    resume: (effect: Effect.Effect<A, SqlError>) => void
  ): void {
    const client = this.client
    const cache = prepare && params.length > 0 ? this.cache : undefined
    const name = cache?.nameOf(sql)
    const config = name !== undefined
      ? { name, text: sql, rowMode }
      : rowMode === undefined
      ? sql
      : { text: sql, rowMode }
    client.query(config as any, params as Array<unknown>, (error: Error | null, result: Pg.QueryResult) => {
      if (!error) {
        this.known?.ran(sql)
        return resume(Effect.succeed(map(result)))
      }
      const stale = cache === undefined ? "none" : staleOf(error)
      if (stale !== "none") cache!.failed(sql, stale)
      afterReadyForQuery(client, error, () => {
        // Nothing ran (the server refused the statement at Bind): outside a transaction it is prepared
        // again and run once more; inside one, the transaction has failed and the error is the caller's.
        if (stale !== "none" && !retried && transactionStatus(client) === "I") {
          this.submit(sql, rowMode, params, map, prepare, true, resume)
        } else resume(Effect.fail(fail(error)))
      })
    })
  }

  private rows(sql: string, params: ReadonlyArray<unknown>, prepare = true) {
    return this.query(sql, undefined, params, rowsOf, prepare)
  }

  execute(
    sql: string,
    params: ReadonlyArray<unknown>,
    transformRows: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
  ) {
    return transformRows === undefined ? this.rows(sql, params) : Effect.map(this.rows(sql, params), transformRows)
  }
  executeRaw(sql: string, params: ReadonlyArray<unknown>) {
    return this.query<unknown>(sql, undefined, params, (result) => result)
  }
  executeValues(sql: string, params: ReadonlyArray<unknown>) {
    return this.query<ReadonlyArray<ReadonlyArray<unknown>>>(
      sql,
      "array",
      params,
      (result) => result.rows as Array<Array<unknown>>
    )
  }
  executeUnprepared(
    sql: string,
    params: ReadonlyArray<unknown>,
    transformRows: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
  ) {
    const rows = this.rows(sql, params, false)
    return transformRows === undefined ? rows : Effect.map(rows, transformRows)
  }
  executeStream(
    sql: string,
    params: ReadonlyArray<unknown>,
    transformRows: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
  ): Stream.Stream<any, SqlError> {
    const client = this.client
    return Stream.unwrapScoped(Effect.gen(function*() {
      const cursor = yield* Effect.acquireRelease(
        Effect.sync(() => client.query(new Cursor(sql, params as Array<unknown>))),
        (cursor) =>
          Effect.async<void>((resume) => {
            cursor.close(() => resume(Effect.void))
          }).pipe(Effect.timeoutOption("1 second"))
      )
      const pull = Effect.async<Chunk.Chunk<any>, Option.Option<SqlError>>((resume) => {
        cursor.read(128, (error, rows) => {
          if (error) resume(Effect.fail(Option.some(fail(error))))
          else if (rows.length === 0) resume(Effect.fail(Option.none()))
          else resume(Effect.succeed(Chunk.unsafeFromArray(transformRows === undefined ? rows : transformRows(rows))))
        })
      })
      return Stream.repeatEffectChunkOption(pull)
    }))
  }
}

/**
 * Ends the session politely (Terminate, then the socket's end), waiting at most 2 seconds; the socket is
 * destroyed afterwards in every case. node-postgres' `end()` waits for the server to close its side: a
 * peer gone silent (a partition) never does, and the socket stayed open after the bound, or after the
 * pool's own bound on a close (`connectTimeout`) interrupted it, while the pool counted the connection
 * closed (reliability scenario 6). After a clean end, destroying it does nothing.
 */
const endClient = (client: Pg.Client): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    client.end().then(() => resume(Effect.void), () => resume(Effect.void))
  }).pipe(
    Effect.timeoutOption("2 seconds"),
    Effect.ensuring(Effect.sync(() => {
      const stream = (client as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream
      stream?.destroy?.()
    })),
    Effect.asVoid
  )

const schemes = new Set(["postgres:", "postgresql:", "socket:"])

/**
 * A TCP port node-postgres would not use as given: `parseInt` truncates 1.5 to 1, a 0 or NaN falls back to
 * 5432 without a word (another server than the one meant), and a port out of range throws inside the
 * connect, which the pool would retry as a set-up failure. Strings come from the URL.
 */
const badPort = (port: unknown): boolean => {
  if (port === undefined || port === null || port === "") return false
  const n = typeof port === "string" && /^\d+$/.test(port) ? Number(port) : port
  return typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 65535
}

/**
 * A URL node-postgres cannot use fails here, naming `url` and never showing it (it may hold the password);
 * so does a port it would silently change.
 */
const checkedConfig = (options: PgPool.PgPoolOptions): Effect.Effect<Pg.ClientConfig, PoolConfigError> =>
  Effect.suspend(() => {
    const invalid = (reason: string) => Effect.fail(new PoolConfigError({ field: "url", value: "<redacted>", reason }))
    if (options.port !== undefined && badPort(options.port)) {
      return Effect.fail(
        new PoolConfigError({ field: "port", value: options.port, reason: "must be a whole number from 1 to 65535" })
      )
    }
    if (options.url !== undefined) {
      const url = Redacted.value(options.url)
      const scheme = /^([a-z][a-z0-9+.-]*:)\/\//i.exec(url)?.[1]?.toLowerCase()
      if (scheme !== undefined && !schemes.has(scheme)) {
        return invalid(`has the scheme "${scheme}//" (expected postgres:// or postgresql://)`)
      }
      // Without a scheme, pg-connection-string reads the text as a path relative to postgres://base and
      // connects to a host named "base"; only a socket directory ("/var/run/postgresql db") may go without.
      if (scheme === undefined && !url.startsWith("/") && !/^socket:/i.test(url)) {
        return invalid("has no scheme (expected postgres://user@host:port/database)")
      }
    }
    try {
      const config = clientConfig(options)
      return badPort(config.port)
        ? invalid("has a port that is not a whole number from 1 to 65535")
        : Effect.succeed(config)
    } catch {
      return invalid("is not a valid connection URL (check the host, the port and the escaping of special characters)")
    }
  })

/** The default bound on each connection's prepared-statement cache. */
export const defaultPreparedStatements = 100

const checkedPreparedStatements = (options: PgPool.PgPoolOptions): Effect.Effect<number, PoolConfigError> => {
  const value = options.preparedStatements ?? defaultPreparedStatements
  return Number.isSafeInteger(value) && value >= 0
    ? Effect.succeed(value)
    : Effect.fail(
      new PoolConfigError({ field: "preparedStatements", value, reason: "must be a whole number, 0 or more" })
    )
}

export const connector = (
  options: PgPool.PgPoolOptions
): Effect.Effect<Connector<Pg.Client, ConnectionError.ConnectFailure>, PoolConfigError> =>
  Effect.zipWith(
    Effect.zip(checkedConfig(options), checkedPreparedStatements(options)),
    Effect.zipLeft(decodeQueryTimeout(options.queryTimeout), PipelineConfig.decode(options.pipeline)),
    ([config, prepared], queryTimeout) => make(options, config, queryTimeout, prepared)
  )

/**
 * Gives `client` a prepared-statement cache, unless it reaches the server through a pooler that lends server
 * sessions (PgBouncer, and any proxy that multiplexes): a statement prepared on one server session would be
 * run on another (26000). Such a pooler must give its clients cancel keys of its own, so the process id the
 * client was given differs from the backend's own `pg_backend_pid()`. The check is queued, not awaited, and
 * until it has answered nothing is named.
 */
const prepareCache = (client: Pg.Client, max: number): void => {
  client.query("SELECT pg_backend_pid() AS pid", (error: Error | null, result: Pg.QueryResult) => {
    const processID = (client as unknown as { processID?: number | null }).processID
    const direct = !error && processID != null && Number(result.rows[0]?.pid) === processID
    caches.set(client, direct ? new PreparedCache(client, max) : null)
  })
}

const make = (
  options: PgPool.PgPoolOptions,
  config: Pg.ClientConfig,
  queryTimeout: Duration.Duration | undefined,
  preparedStatements: number
): Connector<Pg.Client, ConnectionError.ConnectFailure> => {
  const { database, host, port } = target(options)
  const compiler = makeCompiler(options.transformQueryNames, options.transformJson)
  const transformRows = options.transformResultNames === undefined
    ? undefined
    : Statement.defaultTransforms(options.transformResultNames, options.transformJson).array

  const open = (onError: (error: Error) => void): Effect.Effect<Pg.Client, ConnectionError.ConnectFailure> =>
    Effect.async<Pg.Client, ConnectionError.ConnectFailure>((resume) => {
      const client = new Pg.Client(config)
      // An error listener for the client's whole life: an idle client's error must never crash the process.
      client.on("error", onError)
      // Dropped once used: node-postgres keeps listeners that share this callback's scope for the client's
      // whole life, and through `resume` they kept the finished connecting fiber (~3 KB per connection).
      let pending: typeof resume | undefined = resume
      client.connect((error: Error | undefined) => {
        const settle = pending
        pending = undefined
        if (settle === undefined) return
        if (error) {
          client.end().catch(() => {})
          settle(Effect.fail(connectFailure(error, targetOf(client))))
        } else {
          settle(Effect.succeed(client))
        }
      })
      // Interrupted (connectTimeout): close whatever was opened, and only then let the attempt end, so that the
      // pool (and a pool group's budget) stops counting this session once the server has let it go.
      return Effect.suspend(() => {
        pending = undefined
        return endClient(client)
      })
    })

  /** Fallback: pg_cancel_backend from a short connection of our own (needs a free connection slot). */
  const cancelWithQuery = (client: Pg.Client): Effect.Effect<void> => {
    const pid = (client as unknown as { processID?: number | null }).processID
    if (pid === undefined || pid === null) return Effect.void
    return Effect.acquireUseRelease(
      Effect.orElseSucceed(open(() => {}), () => undefined),
      (canceller) =>
        canceller === undefined ? Effect.void : Effect.async<void>((resume) => {
          canceller.query("SELECT pg_cancel_backend($1)", [pid], () => resume(Effect.void))
        }),
      (canceller) => canceller === undefined ? Effect.void : endClient(canceller)
    )
  }

  return {
    system: "postgresql",
    connect: (hooks) =>
      Effect.flatMap(
        open((error) => hooks.onBroken(error)),
        (client) => {
          client.on("end", () => hooks.onBroken(new Error("Connection terminated")))
          if (options.onConnect === undefined) return Effect.succeed(client)
          return options.onConnect(client).pipe(
            Effect.mapError((cause) =>
              new ConnectionError.ConnectionSetupError({
                system: "postgresql",
                code: ConnectionError.codeOf(cause),
                stage: "onConnect",
                cause
              })
            ),
            Effect.onExit((exit) => exit._tag === "Failure" ? endClient(client) : Effect.void),
            Effect.as(client)
          )
        }
      ),
    close: endClient,
    validate: (client) =>
      Effect.async<void, Error>((resume) => {
        client.query("SELECT 1", (error: Error | null) => resume(error ? Effect.fail(error) : Effect.void))
      }),
    cancel: (client) => Effect.flatMap(cancelRequest(client), (sent) => sent ? Effect.void : cancelWithQuery(client)),
    settle: PgClientImpl.settle,
    connection: (client) => new PgConnection(client, preparedStatements),
    isConnectionError,
    retryable: ConnectionError.isRetryable,
    queryTimeout,
    inTransaction: (client) => {
      const status = (client as unknown as { getTransactionStatus?: () => string | null }).getTransactionStatus?.()
      return status === "T" || status === "E"
    },
    compiler,
    transformRows,
    spanAttributes: [
      ...Object.entries(options.spanAttributes ?? {}),
      ["db.system.name", "postgresql"],
      ["db.namespace", database],
      ["server.address", host],
      ["server.port", port]
    ]
  }
}

export const layer = (
  options: PgPool.PgPoolOptions
): Layer.Layer<
  Pool.Pool | SqlClient.SqlClient | PgClient.PgClient,
  PoolConfigError | ConnectError<ConnectionError.ConnectFailure>
> => PgClientImpl.layer(connector(options), options, checkedConfig(options))

export const layerConfig = (
  config: Config.Config.Wrap<PgPool.PgPoolOptions>
): Layer.Layer<
  Pool.Pool | SqlClient.SqlClient | PgClient.PgClient,
  PoolConfigError | ConnectError<ConnectionError.ConnectFailure> | ConfigError.ConfigError
> => Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))

export const json = PgClientImpl.json

export { cancelRequest }
