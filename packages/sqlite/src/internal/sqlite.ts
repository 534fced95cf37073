/**
 * The SQLite connector: better-sqlite3 connections to one file in WAL mode.
 * Readers run side by side; writers take one shared permit, held by a
 * transaction from `BEGIN` to its end, so no connection ever meets another's
 * write lock (better-sqlite3 is synchronous: waiting on SQLITE_BUSY would
 * block the whole program).
 */
import * as PoolConfig from "@dbpool/core/PoolConfig"
import type { ConnectError } from "@dbpool/core/PoolError"
import { PoolConfigError } from "@dbpool/core/PoolError"
import * as ConnectionError from "@dbpool/sql/ConnectionError"
import { type Connector, decodeQueryTimeout } from "@dbpool/sql/Connector"
import type * as Pool from "@dbpool/sql/Pool"
import type * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlConnection from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import Database from "better-sqlite3"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type * as SqlitePool from "../SqlitePool.js"
import * as SqliteClientImpl from "./sqliteClient.js"

const beginPattern = /^\s*BEGIN\b/i
const endPattern = /^\s*(COMMIT|END|ROLLBACK)\b(?!\s+(TRANSACTION\s+)?TO\b)/i

/** Error codes after which a connection is not worth keeping. */
const fatalCodes = /^SQLITE_(IOERR|CORRUPT|NOTADB|CANTOPEN|FULL|PROTOCOL)/

/** The file is not there to be opened as a database: missing (with fileMustExist), no permission, not a database. */
const unopenableCodes = /^SQLITE_(CANTOPEN|NOTADB)/

/**
 * The typed reason a database could not be opened: a file or directory that cannot be opened as a database
 * is an `UnknownDatabaseError` (the database named by `filename` is not there for us), anything else a
 * `ConnectionSetupError`.
 */
export const connectFailure = (cause: unknown, filename: string): ConnectionError.ConnectFailure => {
  const system = "sqlite"
  const code = cause instanceof Database.SqliteError ? cause.code : undefined
  if (
    (code !== undefined && unopenableCodes.test(code)) ||
    (cause instanceof TypeError && /directory does not exist/i.test(cause.message))
  ) {
    return new ConnectionError.UnknownDatabaseError({ system, code, database: filename, cause })
  }
  return new ConnectionError.ConnectionSetupError({ system, code, stage: "connect", cause })
}

export const isMemory = (filename: string): boolean =>
  filename === "" || filename === ":memory:" || /^file::memory:/.test(filename) || /mode=memory/.test(filename)

class Native {
  holdsWriteLock = false
  /** The extensions of `SqliteClient.loadExtension` this connection has loaded. */
  readonly extensions = new Set<string>()
  readonly statements = new Map<string, Database.Statement>()
  constructor(readonly db: Database.Database) {}
  prepare(sql: string): Database.Statement {
    let statement = this.statements.get(sql)
    if (statement === undefined) {
      statement = this.db.prepare(sql)
      if (this.statements.size >= 200) this.statements.delete(this.statements.keys().next().value!)
      this.statements.set(sql, statement)
    }
    return statement
  }
}

/** What the SqliteClient of a pool needs from its connector, beyond the `Connector` itself. */
export interface Extensions {
  /** Loads an extension on this connection now and on every connection of the pool before its next statement. */
  readonly load: (db: Database.Database, path: string) => void
}

/** The connector's extension registry, for `SqliteClient.loadExtension`. */
export const extensionsOf: WeakMap<object, Extensions> = new WeakMap()

export const connector = (
  options: SqlitePool.SqlitePoolOptions
): Effect.Effect<Connector<Database.Database, ConnectionError.ConnectFailure>, PoolConfigError> =>
  Effect.gen(function*() {
    const filename = options.filename
    const queryTimeout = yield* decodeQueryTimeout(options.queryTimeout)
    // The pool's own default, so that this check and the pool agree on it.
    const max = options.pool?.maxConnections ?? PoolConfig.defaults.maxConnections
    if (isMemory(filename) && max > 1) {
      return yield* Effect.fail(
        new PoolConfigError({
          field: "filename",
          value: filename,
          reason: `is an in-memory database, which cannot be pooled: each of the ${max} connections would ` +
            `see a different, empty database. Use a file, or maxConnections: 1`
        })
      )
    }
    const writer = yield* Effect.makeSemaphore(1)
    const natives = new WeakMap<Database.Database, Native>()
    const busyTimeout = Duration.toMillis(Duration.decode(options.busyTimeout ?? "5 seconds"))
    const compiler = Statement.makeCompilerSqlite(options.transformQueryNames)
    const transformRows = options.transformResultNames === undefined
      ? undefined
      : Statement.defaultTransforms(options.transformResultNames).array

    const fail = (cause: unknown, what: string) =>
      new SqlError({ cause, message: `${what}: ${cause instanceof Error ? cause.message : String(cause)}` })

    /** Extensions loaded through the client: every connection loads them before its next statement. */
    const extensions: Array<string> = []
    const loadExtensions = (native: Native) => {
      for (const path of extensions) {
        if (!native.extensions.has(path)) {
          native.db.loadExtension(path)
          native.extensions.add(path)
        }
      }
    }

    /** Runs one statement; a write outside this connection's transaction waits for the write permit. */
    const run = <A>(
      native: Native,
      sql: string,
      body: (statement: Database.Statement) => A
    ): Effect.Effect<A, SqlError> =>
      Effect.suspend(() => {
        const exec = Effect.withFiberRuntime<A, SqlError>((fiber) => {
          try {
            if (native.extensions.size < extensions.length) loadExtensions(native)
            const statement = native.prepare(sql)
            if (Context.get(fiber.currentContext, SqlClient.SafeIntegers)) statement.safeIntegers(true)
            return Effect.succeed(body(statement))
          } catch (cause) {
            return Effect.fail(fail(cause, "Failed to execute statement"))
          }
        })
        if (native.holdsWriteLock) {
          if (!endPattern.test(sql)) return exec
          return Effect.ensuring(exec, releaseWriteLock(native))
        }
        if (beginPattern.test(sql)) {
          // A transaction holds the write permit until it ends (or its connection closes).
          return Effect.uninterruptibleMask((restore) =>
            Effect.zipRight(
              restore(waitForWriter(writer.take(1))),
              Effect.suspend(() => {
                native.holdsWriteLock = true
                return Effect.tapError(exec, () => releaseWriteLock(native))
              })
            )
          )
        }
        let reader = false
        try {
          reader = native.prepare(sql).reader
        } catch {
          return exec
        }
        return reader ? exec : Effect.zipRight(
          waitForWriter(writer.take(1)),
          Effect.ensuring(exec, writer.release(1))
        )
      })

    /**
     * Waiting for the write permit is bounded by busyTimeout, as SQLite bounds waiting for its lock: a
     * transaction that writes through a second connection of the same pool would otherwise wait for itself.
     */
    const waitForWriter = (take: Effect.Effect<number>) =>
      Effect.timeoutFail(take, {
        duration: busyTimeout,
        onTimeout: () =>
          new SqlError({
            message: `Waited ${busyTimeout} ms for the write lock of "${filename}": another connection's ` +
              `transaction holds it (a transaction writing through a second connection waits for itself)`,
            cause: new Error("SQLITE_BUSY")
          })
      })

    const releaseWriteLock = (native: Native) =>
      Effect.suspend(() => {
        if (!native.holdsWriteLock || native.db.inTransaction) return Effect.void
        native.holdsWriteLock = false
        return writer.release(1)
      })

    const rows = (statement: Database.Statement, params: ReadonlyArray<unknown>): ReadonlyArray<any> =>
      statement.reader ? statement.all(...params) : (statement.run(...params), [])

    const makeConnection = (native: Native): SqlConnection.Connection => ({
      execute: (sql, params, transform) =>
        run(native, sql, (statement) => {
          const result = rows(statement, params)
          return transform === undefined ? result : transform(result)
        }),
      executeRaw: (sql, params) =>
        run(native, sql, (statement) => statement.reader ? statement.all(...params) : statement.run(...params)),
      executeValues: (sql, params) =>
        run(native, sql, (statement) => {
          if (!statement.reader) {
            statement.run(...params)
            return []
          }
          statement.raw(true)
          try {
            return statement.all(...params) as ReadonlyArray<ReadonlyArray<unknown>>
          } finally {
            statement.raw(false)
          }
        }),
      executeUnprepared: (sql, params, transform) =>
        run(native, sql, (statement) => {
          const result = rows(statement, params)
          return transform === undefined ? result : transform(result)
        }),
      executeStream: (sql, params, transform) =>
        Stream.acquireRelease(
          run(native, sql, (statement) => statement.iterate(...params) as IterableIterator<any>),
          (iterator) => Effect.sync(() => iterator.return?.())
        ).pipe(
          Stream.flatMap((iterator) =>
            Stream.repeatEffectOption(
              Effect.suspend(() => {
                try {
                  const next = iterator.next()
                  return next.done === true ? Effect.fail(Option.none()) : Effect.succeed(next.value)
                } catch (cause) {
                  return Effect.fail(Option.some(fail(cause, "Failed to read rows")))
                }
              })
            )
          ),
          Stream.mapChunks((chunk) => transform === undefined ? chunk : (transform(Array.from(chunk)) as any))
        )
    })

    const self: Connector<Database.Database, ConnectionError.ConnectFailure> = {
      system: "sqlite",
      connect: () =>
        Effect.try({
          try: () => {
            const db = new Database(filename, {
              readonly: options.readonly ?? false,
              fileMustExist: options.fileMustExist ?? false,
              timeout: busyTimeout
            })
            try {
              if (options.disableWAL !== true && options.readonly !== true) {
                db.pragma("journal_mode = WAL")
                // In WAL mode NORMAL is safe from corruption and does not fsync on every commit.
                db.pragma(`synchronous = ${options.synchronous ?? "NORMAL"}`)
              } else if (options.synchronous !== undefined) {
                db.pragma(`synchronous = ${options.synchronous}`)
              }
              db.pragma(`busy_timeout = ${busyTimeout}`)
            } catch (error) {
              db.close()
              throw error
            }
            natives.set(db, new Native(db))
            return db
          },
          catch: (cause) => connectFailure(cause, filename)
        }).pipe(
          Effect.tap((db) =>
            options.onConnect === undefined ? Effect.void : Effect.tapErrorCause(
              Effect.mapError(options.onConnect(db), (cause) =>
                new ConnectionError.ConnectionSetupError({
                  system: "sqlite",
                  code: ConnectionError.codeOf(cause),
                  stage: "onConnect",
                  cause
                })),
              () => Effect.sync(() => db.close())
            )
          )
        ),
      close: (db) =>
        Effect.suspend(() => {
          const native = natives.get(db)
          const wasHolding = native?.holdsWriteLock === true
          if (native !== undefined) native.holdsWriteLock = false
          try {
            if (db.open) db.close()
          } catch {
            // already unusable: nothing more to release
          }
          return wasHolding ? writer.release(1) : Effect.void
        }),
      validate: (db) =>
        Effect.try({
          try: () => {
            natives.get(db)!.prepare("SELECT 1").get()
          },
          catch: (cause) => fail(cause, "Health check failed")
        }),
      cancel: () => Effect.void,
      connection: (db) => makeConnection(natives.get(db)!),
      isConnectionError: (cause) =>
        (cause instanceof Database.SqliteError && fatalCodes.test(cause.code)) ||
        (cause instanceof TypeError && /database connection is not open/i.test(cause.message)),
      // A missing directory, a file that is not a database, no permission, a bad option: trying again will not
      // help. A locked file (SQLITE_BUSY while switching to WAL) or a failed onConnect may.
      retryable: (error) =>
        ConnectionError.isRetryable(error) &&
        !(error._tag === "ConnectionSetupError" && error.stage === "connect" &&
          (error.cause instanceof TypeError || error.cause instanceof RangeError ||
            (error.code !== undefined && fatalCodes.test(error.code)))),
      // better-sqlite3 runs a statement synchronously: a timeout cannot interrupt it, only fail it once it
      // returns (and close its connection).
      queryTimeout,
      inTransaction: (db) => db.open && db.inTransaction,
      compiler,
      transformRows,
      spanAttributes: [
        ...Object.entries(options.spanAttributes ?? {}),
        ["db.system.name", "sqlite"],
        ["db.namespace", filename]
      ],
      transactions: { begin: "BEGIN IMMEDIATE" }
    }
    extensionsOf.set(self, {
      load: (db, path) => {
        const native = natives.get(db)!
        native.db.loadExtension(path)
        native.extensions.add(path)
        if (!extensions.includes(path)) extensions.push(path)
      }
    })
    return self
  })

export const layer = (
  options: SqlitePool.SqlitePoolOptions
): Layer.Layer<
  Pool.Pool | SqlClient.SqlClient | SqliteClient.SqliteClient,
  PoolConfigError | ConnectError<ConnectionError.ConnectFailure>
> => SqliteClientImpl.layer(connector(options), options)

export const layerConfig = (
  config: Config.Config.Wrap<SqlitePool.SqlitePoolOptions>
): Layer.Layer<
  Pool.Pool | SqlClient.SqlClient | SqliteClient.SqliteClient,
  PoolConfigError | ConnectError<ConnectionError.ConnectFailure> | ConfigError.ConfigError
> => Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))
