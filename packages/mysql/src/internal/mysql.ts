/**
 * The MySQL / MariaDB connector on mysql2: one `Connection` per pooled
 * connection (never mysql2's own pool), statements compiled by
 * @effect/sql-mysql2's compiler, cancellation with `KILL QUERY` from a short
 * connection of its own.
 */
import type { ConnectError } from "@dbpool/core/PoolError"
import { PoolConfigError } from "@dbpool/core/PoolError"
import * as ConnectionError from "@dbpool/sql/ConnectionError"
import { type Connector, decodeQueryTimeout, serverAddress } from "@dbpool/sql/Connector"
import type * as Pool from "@dbpool/sql/Pool"
import type * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import { makeCompiler } from "@effect/sql-mysql2/MysqlClient"
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
import Mysql from "mysql2"
import type * as MysqlPool from "../MysqlPool.js"
import * as MysqlClientImpl from "./mysqlClient.js"

const connectionCodes = new Set([
  "PROTOCOL_CONNECTION_LOST",
  "PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR",
  "PROTOCOL_ENQUEUE_AFTER_QUIT",
  "PROTOCOL_SEQUENCE_TIMEOUT",
  "ER_CONNECTION_KILLED",
  "ER_SERVER_SHUTDOWN",
  "ER_NET_READ_ERROR",
  "ER_NET_WRITE_INTERRUPTED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT"
])

const field = (cause: unknown, name: string): unknown =>
  typeof cause === "object" && cause !== null && name in cause ? (cause as Record<string, unknown>)[name] : undefined

export const isConnectionError = (cause: unknown): boolean => {
  if (field(cause, "fatal") === true) return true
  const code = field(cause, "code")
  if (typeof code === "string" && connectionCodes.has(code)) return true
  // MariaDB: 1927 connection killed, 1053 server shutdown, 2006 / 2013 server gone / lost
  const errno = field(cause, "errno")
  if (errno === 1927 || errno === 1053 || errno === 2006 || errno === 2013) return true
  return cause instanceof Error && /closed state|connection lost|server has gone away/i.test(cause.message)
}

/**
 * 1045 access denied (wrong password, unknown user), 1044 no access to the database, 1698 no password given
 * where one is needed, 1130 host not allowed, 1862 password expired, 3118 / 4151 account locked (MySQL /
 * MariaDB).
 */
const authenticationErrnos = new Set([1045, 1044, 1698, 1130, 1862, 3118, 4151])
/** 1040 max_connections, 1203 max_user_connections, 1226 a user's resource limit (MAX_USER_CONNECTIONS). */
const tooManyErrnos = new Set([1040, 1203, 1226])
/** The server went away before the handshake ended: shutting down (1053), the socket closed or timed out. */
const handshakeCodes = new Set(["PROTOCOL_CONNECTION_LOST", "PROTOCOL_SEQUENCE_TIMEOUT", "ER_SERVER_SHUTDOWN"])

/** Where a connection was going, as mysql2 resolved it (URL and fields). */
interface Target {
  readonly user: string | undefined
  readonly database: string | undefined
  readonly host: string | undefined
  readonly port: number | undefined
}

const targetOf = (conn: Mysql.Connection): Target => {
  const config = (conn as unknown as { config?: Partial<Record<"user" | "database" | "host" | "port", unknown>> })
    .config ?? {}
  const text = (value: unknown) => typeof value === "string" && value !== "" ? value : undefined
  return {
    user: text(config.user),
    database: text(config.database),
    host: text(config.host),
    port: typeof config.port === "number" ? config.port : undefined
  }
}

/** The typed reason a connection could not be opened. The password is in none of them (nor in the server's words). */
export const connectFailure = (cause: unknown, target: Target): ConnectionError.ConnectFailure => {
  const system = "mysql"
  // The server's errno ("1045") when it answered, else mysql2's or the socket's code ("ECONNREFUSED").
  const code = ConnectionError.codeOf(cause, true)
  const errno = field(cause, "errno")
  const name = field(cause, "code")
  if (typeof errno === "number" && errno > 0) {
    if (authenticationErrnos.has(errno)) {
      return new ConnectionError.AuthenticationError({ system, code, user: target.user, cause })
    }
    if (tooManyErrnos.has(errno)) return new ConnectionError.TooManyConnectionsError({ system, code, cause })
    if (errno === 1049) {
      return new ConnectionError.UnknownDatabaseError({ system, code, database: target.database, cause })
    }
  }
  if (typeof name === "string" && (ConnectionError.unreachableCodes.has(name) || handshakeCodes.has(name))) {
    return new ConnectionError.ServerUnreachableError({ system, code, host: target.host, port: target.port, cause })
  }
  return new ConnectionError.ConnectionSetupError({ system, code, stage: "connect", cause })
}

const connectionOptions = (options: MysqlPool.MysqlPoolOptions): Mysql.ConnectionOptions => {
  const config: Mysql.ConnectionOptions = {
    multipleStatements: true,
    supportBigNumbers: true,
    ...options.connectionOptions
  }
  if (options.url !== undefined) config.uri = Redacted.value(options.url)
  if (options.host !== undefined) config.host = options.host
  if (options.port !== undefined) config.port = options.port
  if (options.database !== undefined) config.database = options.database
  if (options.username !== undefined) config.user = options.username
  if (options.password !== undefined) config.password = Redacted.value(options.password)
  if (options.ssl !== undefined) config.ssl = options.ssl
  return config
}

const target = (options: MysqlPool.MysqlPoolOptions) =>
  serverAddress({ ...options, url: options.url && Redacted.value(options.url) }, 3306)

const fail = (cause: unknown) =>
  new SqlError({ cause, message: `Failed to execute statement: ${cause instanceof Error ? cause.message : cause}` })

/** How to tell the pool a connection is unusable, by connection (set when it opens). */
const brokenHooks = new WeakMap<Mysql.Connection, (cause: unknown) => void>()

class MysqlConnection implements SqlConnection.Connection {
  constructor(readonly conn: Mysql.Connection, readonly cancel: Effect.Effect<void>) {}

  private runRaw(
    sql: string,
    values: ReadonlyArray<unknown>,
    rowsAsArray = false,
    method: "execute" | "query" = "execute"
  ) {
    return Effect.async<unknown, SqlError>((resume) => {
      ;(this.conn as any)[method]({ sql, values, rowsAsArray }, (cause: unknown, results: unknown) => {
        if (cause) resume(Effect.fail(fail(cause)))
        else resume(Effect.succeed(results))
      })
    })
  }
  private run(
    sql: string,
    values: ReadonlyArray<unknown>,
    rowsAsArray = false,
    method: "execute" | "query" = "execute"
  ) {
    return Effect.map(
      this.runRaw(sql, values, rowsAsArray, method),
      (results) => Array.isArray(results) ? results : []
    )
  }
  execute(
    sql: string,
    params: ReadonlyArray<unknown>,
    transformRows: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
  ) {
    return transformRows === undefined ? this.run(sql, params) : Effect.map(this.run(sql, params), transformRows)
  }
  executeRaw(sql: string, params: ReadonlyArray<unknown>) {
    return this.runRaw(sql, params)
  }
  executeValues(sql: string, params: ReadonlyArray<unknown>) {
    return this.run(sql, params, true) as Effect.Effect<ReadonlyArray<ReadonlyArray<unknown>>, SqlError>
  }
  executeUnprepared(
    sql: string,
    params: ReadonlyArray<unknown>,
    transformRows: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
  ) {
    const rows = this.run(sql, params, false, "query")
    return transformRows === undefined ? rows : Effect.map(rows, transformRows)
  }
  executeStream(
    sql: string,
    params: ReadonlyArray<unknown>,
    transformRows: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
  ): Stream.Stream<any, SqlError> {
    const conn = this.conn
    const cancel = this.cancel
    const rows = Stream.async<any, SqlError>((emit) => {
      const query = (conn as any).query(sql, params).stream({ highWaterMark: 128 })
      query.on("error", (cause: unknown) => void emit.fail(fail(cause)))
      // Backpressure: the result stream pauses until the row is taken into the buffer.
      query.on("data", (row: unknown) => {
        query.pause()
        void emit.single(row).then(() => query.resume())
      })
      let ended = false
      query.on("end", () => {
        ended = true
        void emit.end()
      })
      query.on("error", () => {
        ended = true
      })
      return Effect.suspend(() => {
        if (ended) return Effect.void
        // mysql2 cannot stop a result half read: the server keeps sending rows. Stop the query, drop the connection.
        brokenHooks.get(conn)?.(new Error("a streamed result was abandoned before its last row"))
        return Effect.ensuring(
          cancel,
          Effect.sync(() => {
            query.destroy()
            conn.destroy()
          })
        )
      })
    }, { bufferSize: 256, strategy: "suspend" })
    return transformRows === undefined
      ? rows
      : Stream.mapChunks(
        rows,
        (chunk) => Chunk.unsafeFromArray(transformRows(Chunk.toReadonlyArray(chunk) as Array<object>))
      )
  }
}

/** mysql2's internals that tell whether a connection can still take a QUIT, and its socket. */
interface Internals {
  readonly _command?: unknown
  readonly _fatalError?: unknown
  readonly _protocolError?: unknown
  readonly stream?: {
    readonly destroyed?: boolean
    readonly closed?: boolean
    destroy?: () => void
    once?: (event: "close", listener: () => void) => void
    off?: (event: "close", listener: () => void) => void
  }
}

/**
 * Destroys the socket itself: mysql2's `destroy()` only half-closes it (FIN), which leaves it open as long as a
 * peer that stopped answering (a dead network) never closes its side. A statement still waiting on the
 * connection is failed by mysql2 (connection lost), so its caller never hangs.
 */
const destroySocket = (conn: Mysql.Connection): Effect.Effect<void> =>
  Effect.sync(() => {
    const stream = (conn as unknown as Internals).stream
    if (stream?.destroyed !== true) stream?.destroy?.()
  })

/** Until the socket has closed (the server answers a QUIT by closing it). */
const socketClosed = (conn: Mysql.Connection): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const stream = (conn as unknown as Internals).stream
    if (stream === undefined || stream.closed === true || stream.once === undefined) return resume(Effect.void)
    const done = () => resume(Effect.void)
    stream.once("close", done)
    return Effect.sync(() => stream.off?.("close", done))
  })

/**
 * Closes a connection: a QUIT when it is idle and sound, waiting (at most 2 seconds) for the server to close
 * the socket; at once, by destroying the socket, when a statement is still running on it (a QUIT would wait
 * behind the statement) or it already failed, and also when the QUIT gets no answer in time or the close
 * is interrupted (the pool bounds it), so that no socket outlives its connection.
 */
const endConnection = (conn: Mysql.Connection): Effect.Effect<void> =>
  Effect.suspend(() => {
    const internals = conn as unknown as Internals
    if (internals._command || internals._fatalError || internals._protocolError) return destroySocket(conn)
    return Effect.async<void>((resume) => {
      conn.end(() => resume(Effect.void))
    }).pipe(
      Effect.zipRight(socketClosed(conn)),
      Effect.timeoutOption("2 seconds"),
      Effect.ensuring(destroySocket(conn))
    )
  })

/** mysql2's own reading of the options (URL included), as its connections do it. */
const ConnectionConfig = (Mysql as unknown as {
  readonly ConnectionConfig: { new(options: Mysql.ConnectionOptions): { readonly port: unknown } }
}).ConnectionConfig

const schemes = new Set(["mysql:", "mariadb:"])

const isPort = (port: unknown): boolean =>
  typeof port === "number" && Number.isInteger(port) && port >= 1 && port <= 65535

/**
 * The options mysql2 would reject when opening a connection, rejected here instead, before any connection: a
 * URL it cannot read, a bad port (mysql2 threw from inside the connect, a defect, and Node's error held the
 * whole URL, password included). A URL is never shown: it may hold the password.
 */
const checkedConfig = (options: MysqlPool.MysqlPoolOptions): Effect.Effect<Mysql.ConnectionOptions, PoolConfigError> =>
  Effect.suspend(() => {
    if (options.url !== undefined) {
      const invalid = (reason: string) =>
        Effect.fail(new PoolConfigError({ field: "url", value: "<redacted>", reason }))
      const text = Redacted.value(options.url)
      const scheme = /^([a-z][a-z0-9+.-]*:)\/\//i.exec(text)?.[1]?.toLowerCase()
      if (scheme === undefined) {
        return invalid("is not a connection URL (expected mysql://user:password@host:port/database)")
      }
      if (!schemes.has(scheme)) return invalid(`has the scheme "${scheme}//" (expected mysql:// or mariadb://)`)
      let port: string
      try {
        const url = new URL(text)
        // mysql2 decodes these, and throws on a bad escape.
        for (const part of [url.username, url.password, url.pathname]) decodeURIComponent(part)
        port = url.port
      } catch {
        return invalid(
          "is not a valid connection URL (check the host, the port and the escaping of special characters)"
        )
      }
      if (port !== "" && !isPort(Number(port))) return invalid(`has the port ${port} (expected 1 to 65535)`)
    }
    for (const port of [options.port, options.connectionOptions?.port]) {
      if (port !== undefined && !isPort(port)) {
        return Effect.fail(
          new PoolConfigError({ field: "port", value: port, reason: "must be a whole number from 1 to 65535" })
        )
      }
    }
    const config = connectionOptions(options)
    try {
      // A copy: mysql2 writes the URL's parts into the object it is given.
      new ConnectionConfig({ ...config })
    } catch (error) {
      const reason = `is not accepted by mysql2: ${error instanceof Error ? error.message : String(error)}`
      return Effect.fail(new PoolConfigError({ field: "connectionOptions", value: "<redacted>", reason }))
    }
    return Effect.succeed(config)
  })

export const connector = (
  options: MysqlPool.MysqlPoolOptions
): Effect.Effect<Connector<Mysql.Connection, ConnectionError.ConnectFailure>, PoolConfigError> =>
  Effect.zipWith(
    checkedConfig(options),
    decodeQueryTimeout(options.queryTimeout),
    (config, queryTimeout) => make(options, config, queryTimeout)
  )

/** How long a statement is given to answer a KILL QUERY before the KILL is sent again. */
const resendAfter = "100 millis"

/**
 * Waits until mysql2 has nothing in flight on `conn` (the statement stopped by KILL QUERY answered, with
 * ER_QUERY_INTERRUPTED or its result) and says whether the connection is still whole. Whether it is in a
 * transaction the pool knows from the statements it ran (mysql2 does not say).
 */
const settle = (conn: Mysql.Connection): Effect.Effect<boolean> => {
  const c = conn as unknown as {
    _command?: unknown
    _commands?: { readonly length: number }
    _fatalError?: unknown
    _closing?: boolean
    stream?: { destroyed?: boolean }
  }
  const state = (): boolean | undefined => {
    if (c._fatalError || c._closing === true || c.stream?.destroyed === true) return false
    return c._command == null && (c._commands?.length ?? 0) === 0 ? true : undefined
  }
  const loop: Effect.Effect<boolean> = Effect.suspend(() => {
    const s = state()
    return s === undefined ? Effect.zipRight(Effect.sleep("1 millis"), loop) : Effect.succeed(s)
  })
  return loop
}

const make = (
  options: MysqlPool.MysqlPoolOptions,
  config: Mysql.ConnectionOptions,
  queryTimeout: Duration.Duration | undefined
): Connector<Mysql.Connection, ConnectionError.ConnectFailure> => {
  const { database, host, port } = target(options)
  const compiler = makeCompiler(options.transformQueryNames)
  const transformRows = options.transformResultNames === undefined
    ? undefined
    : Statement.defaultTransforms(options.transformResultNames).array

  const open = (onError: (error: Error) => void): Effect.Effect<Mysql.Connection, ConnectionError.ConnectFailure> =>
    Effect.async<Mysql.Connection, ConnectionError.ConnectFailure>((resume) => {
      const conn = Mysql.createConnection(config)
      // An error listener for the connection's whole life: an idle connection's error must never crash the process.
      conn.on("error", onError)
      // Dropped once used: a driver that keeps this callback (or a listener sharing its scope) for the
      // connection's life would otherwise keep the finished connecting fiber through `resume`.
      let pending: typeof resume | undefined = resume
      conn.connect((error) => {
        const settle = pending
        pending = undefined
        if (settle === undefined) return
        if (error) {
          conn.destroy()
          settle(Effect.fail(connectFailure(error, targetOf(conn))))
        } else {
          settle(Effect.succeed(conn))
        }
      })
      // Interrupted (connectTimeout, shutdown): the socket goes at once, also when the server stopped answering.
      return Effect.sync(() => {
        pending = undefined
        conn.destroy()
      }).pipe(Effect.zipRight(destroySocket(conn)))
    })

  /**
   * KILL QUERY from a short connection of our own (the busy one cannot take a statement). With `resend`, the
   * KILL is sent again on that same connection while the statement has not answered (a KILL that reaches the
   * server before the statement starts running is ignored there), rather than a handshake for each attempt,
   * and nothing is sent while that connection is still connecting. Connecting and
   * killing stay interruptible, so that the pool's bound holds against a server that does not answer; once
   * open, the short connection is closed whatever happens.
   */
  const kill = (conn: Mysql.Connection, resend: boolean): Effect.Effect<void> => {
    const threadId = conn.threadId
    if (threadId === null || threadId === undefined) return Effect.void
    const killOn = (killer: Mysql.Connection): Effect.Effect<void> => {
      const once = Effect.async<boolean>((resume) => {
        // On a fatal error the short connection is gone: nothing more can be sent on it.
        killer.query(`KILL QUERY ${Number(threadId)}`, (error) => resume(Effect.succeed(error?.fatal !== true)))
      })
      if (!resend) return Effect.asVoid(once)
      const loop: Effect.Effect<void> = Effect.flatMap(once, (usable) =>
        usable ?
          Effect.flatMap(
            Effect.timeoutOption(settle(conn), resendAfter),
            Option.match({ onNone: () => loop, onSome: () => Effect.void })
          ) :
          Effect.void)
      return loop
    }
    return Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(
        Effect.option(restore(open(() => {}))),
        Option.match({
          onNone: () => Effect.void,
          onSome: (killer) => restore(killOn(killer)).pipe(Effect.ensuring(endConnection(killer)))
        })
      )
    )
  }
  const cancel = (conn: Mysql.Connection): Effect.Effect<void> => kill(conn, true)

  return {
    system: "mysql",
    connect: (hooks) =>
      Effect.flatMap(open((error) => hooks.onBroken(error)), (conn) => {
        brokenHooks.set(conn, hooks.onBroken)
        conn.on("end", () => hooks.onBroken(new Error("Connection closed")))
        if (options.onConnect === undefined) return Effect.succeed(conn)
        return options.onConnect(conn).pipe(
          Effect.mapError((cause) =>
            new ConnectionError.ConnectionSetupError({
              system: "mysql",
              code: ConnectionError.codeOf(cause, true),
              stage: "onConnect",
              cause
            })
          ),
          Effect.onExit((exit) => exit._tag === "Failure" ? endConnection(conn) : Effect.void),
          Effect.as(conn)
        )
      }),
    close: endConnection,
    validate: (conn) =>
      Effect.async<void, Error>((resume) => {
        conn.ping((error) => resume(error ? Effect.fail(error) : Effect.void))
      }),
    cancel,
    settle,
    connection: (conn) => new MysqlConnection(conn, kill(conn, false)),
    isConnectionError,
    retryable: ConnectionError.isRetryable,
    queryTimeout,
    compiler,
    transformRows,
    spanAttributes: [
      ...Object.entries(options.spanAttributes ?? {}),
      ["db.system.name", "mysql"],
      ...(database === undefined ? [] : [["db.namespace", database] as const]),
      ["server.address", host],
      ["server.port", port]
    ]
  }
}

export const layer = (
  options: MysqlPool.MysqlPoolOptions
): Layer.Layer<
  Pool.Pool | SqlClient.SqlClient | MysqlClient.MysqlClient,
  PoolConfigError | ConnectError<ConnectionError.ConnectFailure>
> => MysqlClientImpl.layer(connector(options), options, checkedConfig(options))

export const layerConfig = (
  config: Config.Config.Wrap<MysqlPool.MysqlPoolOptions>
): Layer.Layer<
  Pool.Pool | SqlClient.SqlClient | MysqlClient.MysqlClient,
  PoolConfigError | ConnectError<ConnectionError.ConnectFailure> | ConfigError.ConfigError
> => Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))
