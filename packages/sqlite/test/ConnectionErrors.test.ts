import type { ConnectError } from "@dbpool/core/PoolError"
import { ConnectionError } from "@dbpool/sql"
import { SqlitePool } from "@dbpool/sqlite"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Config, ConfigProvider, Duration, Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dbpool-sqlite-errors-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

type Options = Parameters<typeof SqlitePool.layer>[0]

/** Builds the layer, expecting it to fail; a retry would wait an hour, so one attempt means "not retried". */
const buildError = (options: Options) =>
  Layer.build(SqlitePool.layer({
    ...options,
    pool: { minConnections: 1, maxConnections: 2, retryInterval: "1 hour", ...options.pool }
  })).pipe(Effect.scoped, Effect.flip)

const connectError = (options: Options) =>
  Effect.map(buildError(options), (error) => {
    expect(error._tag).toBe("ConnectError")
    return error as ConnectError<ConnectionError.ConnectFailure>
  })

describe("SqlitePool opening errors are typed", () => {
  it.effect("a file in a directory that does not exist: UnknownDatabaseError naming the file, not retried", () =>
    Effect.gen(function*() {
      const filename = path.join(dir, "missing", "x.db")
      const error = yield* connectError({ filename })
      expect(error.cause).toBeInstanceOf(ConnectionError.UnknownDatabaseError)
      expect(error.cause).toMatchObject({ system: "sqlite", code: undefined, database: filename })
      expect(error.attempts).toBe(1)
    }))

  it.effect("a missing file with fileMustExist: UnknownDatabaseError SQLITE_CANTOPEN, not retried", () =>
    Effect.gen(function*() {
      const filename = path.join(dir, "absent.db")
      const error = yield* connectError({ filename, fileMustExist: true })
      expect(error.cause).toMatchObject({ _tag: "UnknownDatabaseError", code: "SQLITE_CANTOPEN", database: filename })
      expect(error.attempts).toBe(1)
      expect(error.cause!.message).toBe(
        `Database "${filename}" cannot be opened (SQLITE_CANTOPEN): unable to open database file`
      )
    }))

  it.effect("a file that is not a database: UnknownDatabaseError SQLITE_NOTADB, not retried", () =>
    Effect.gen(function*() {
      const filename = path.join(dir, "not-a-db.db")
      fs.writeFileSync(filename, "this is not an SQLite database, only text long enough to hold a header ".repeat(20))
      const error = yield* connectError({ filename })
      expect(error.cause).toMatchObject({ _tag: "UnknownDatabaseError", code: "SQLITE_NOTADB", database: filename })
      expect(error.attempts).toBe(1)
    }))

  it.live("onConnect failing: ConnectionSetupError in stage onConnect, retried", () =>
    Effect.gen(function*() {
      const error = yield* connectError({
        filename: path.join(dir, "on-connect.db"),
        onConnect: (db) => Effect.try(() => db.exec("SELECT no_such_column")),
        pool: { maxRetries: 1, retryInterval: "1 millis" }
      })
      expect(error.cause).toBeInstanceOf(ConnectionError.ConnectionSetupError)
      expect(error.cause).toMatchObject({ system: "sqlite", stage: "onConnect", code: "SQLITE_ERROR" })
      expect(error.attempts).toBe(2)
    }))
})

describe("SqlitePool options are checked before opening", () => {
  it.effect("a queryTimeout that is not a positive, finite duration fails with PoolConfigError naming it", () =>
    Effect.gen(function*() {
      for (const queryTimeout of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, "-5 seconds", "soon"]) {
        const error = yield* buildError({
          filename: path.join(dir, "timeout.db"),
          queryTimeout: queryTimeout as Duration.DurationInput
        })
        expect(error).toMatchObject({ _tag: "PoolConfigError", field: "queryTimeout" })
      }
      expect(fs.existsSync(path.join(dir, "timeout.db"))).toBe(false)
    }))

  it.effect("a valid queryTimeout reaches the connector as a Duration", () =>
    Effect.gen(function*() {
      const connector = yield* SqlitePool.connector({ filename: path.join(dir, "t.db"), queryTimeout: "250 millis" })
      expect(connector.queryTimeout).toEqual(Duration.millis(250))
    }))

  it.effect("layerConfig reads queryTimeout from the environment and checks it", () =>
    Effect.gen(function*() {
      const error = yield* Layer.build(SqlitePool.layerConfig({
        filename: Config.string("SQLITE_FILE"),
        queryTimeout: Config.duration("QUERY_TIMEOUT")
      })).pipe(
        Effect.scoped,
        Effect.flip,
        Effect.withConfigProvider(
          ConfigProvider.fromMap(new Map([["SQLITE_FILE", path.join(dir, "env.db")], ["QUERY_TIMEOUT", "0 millis"]]))
        )
      )
      expect(error).toMatchObject({ _tag: "PoolConfigError", field: "queryTimeout" })
    }))
})
