import type { ConnectError } from "@dbpool/core/PoolError"
import { MysqlPool } from "@dbpool/mysql"
import { ConnectionError } from "@dbpool/sql"
import { Reliability, SparePort } from "@dbpool/testing"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Config, ConfigProvider, Duration, Effect, Layer, Redacted } from "effect"
import Mysql from "mysql2/promise"

const root = { host: "127.0.0.1", port: 3306, user: "root", database: "test" } as const
const password = "s3cret-Pa55word"
// Users of our own, created and dropped here: one with a password, one limited to a single connection.
const secured = `dbpool_pw_${process.pid}`
const limited = `dbpool_lim_${process.pid}`
const base = { host: "127.0.0.1", port: 3306, database: "test" } as const

// Outside CI a missing server skips these tests, saying so; in CI they must run.
const run = await Effect.runPromise(Reliability.mainServer("mariadb", "the @dbpool/mysql connection error tests"))
const describeDb = run ? describe : describe.skip

let admin: Mysql.Connection
beforeAll(async () => {
  if (!run) return
  admin = await Mysql.createConnection(root)
  await admin.query(`DROP USER IF EXISTS '${secured}'@'127.0.0.1', '${limited}'@'127.0.0.1'`)
  await admin.query(`CREATE USER '${secured}'@'127.0.0.1' IDENTIFIED BY 'the-right-one'`)
  await admin.query(`CREATE USER '${limited}'@'127.0.0.1' WITH MAX_USER_CONNECTIONS 1`)
  await admin.query(`GRANT ALL ON test.* TO '${secured}'@'127.0.0.1', '${limited}'@'127.0.0.1'`)
})
afterAll(async () => {
  if (!run) return
  await admin.query(`DROP USER IF EXISTS '${secured}'@'127.0.0.1', '${limited}'@'127.0.0.1'`)
  await admin.end()
})

type Options = Parameters<typeof MysqlPool.layer>[0]

/** The layer's failure and the build's time; its pool opens one connection at start. */
const built = (options: Options) =>
  Reliability.layerError(MysqlPool.layer({
    ...options,
    pool: {
      minConnections: 1,
      maxConnections: 1,
      maxRetries: 3,
      retryInterval: "2 seconds",
      connectTimeout: "5 seconds",
      acquireTimeout: "10 seconds",
      ...options.pool
    }
  }))

/** The layer's ConnectError, checked for the password in every rendering of it. */
const connectError = (options: Options) =>
  Effect.map(built(options), ({ elapsed, error }) => {
    expect(error._tag).toBe("ConnectError")
    for (const text of Reliability.renderings(error)) expect(text).not.toContain(password)
    return { error: error as ConnectError<ConnectionError.ConnectFailure>, elapsed }
  })

describeDb("MysqlPool connection errors are typed, carry the server's errno, and hold no password", () => {
  it.live(
    "a wrong password: AuthenticationError 1045 naming the user, not retried, well before acquireTimeout",
    () =>
      Effect.gen(function*() {
        const { elapsed, error } = yield* connectError({
          ...base,
          username: secured,
          password: Redacted.make(password)
        })
        expect(error.cause).toBeInstanceOf(ConnectionError.AuthenticationError)
        expect(error.cause).toMatchObject({ system: "mysql", code: "1045", user: secured })
        expect(error.attempts).toBe(1)
        expect(elapsed).toBeLessThan(1000)
        expect(error.cause!.message).toBe(
          `Authentication failed for user "${secured}" on the MySQL server (1045): ` +
            `Access denied for user '${secured}'@'127.0.0.1' (using password: YES)`
        )
        // the URL form too
        const fromUrl = yield* connectError({
          url: Redacted.make(`mysql://${secured}:${password}@127.0.0.1:3306/test`)
        })
        expect(fromUrl.error.cause).toMatchObject({ _tag: "AuthenticationError", code: "1045", user: secured })
      }),
    { timeout: 10_000 }
  )

  it.live(
    "a user at MAX_USER_CONNECTIONS: TooManyConnectionsError 1226, retried with the pool's backoff",
    () =>
      Effect.gen(function*() {
        yield* Effect.acquireRelease(
          Effect.promise(() => Mysql.createConnection({ ...root, user: limited })),
          (conn) => Effect.promise(() => conn.end())
        )
        const { elapsed, error } = yield* connectError({
          ...base,
          username: limited,
          pool: { maxRetries: 2, retryInterval: "50 millis" }
        })
        expect(error.cause).toBeInstanceOf(ConnectionError.TooManyConnectionsError)
        expect(error.cause).toMatchObject({ system: "mysql", code: "1226" })
        expect(error.attempts).toBe(3)
        expect(error.message).toContain("max_user_connections")
        expect(elapsed).toBeLessThan(5000)
      }).pipe(Effect.scoped),
    { timeout: 10_000 }
  )

  it.live("a user at MAX_USER_CONNECTIONS: the pool connects once the slot frees up", () =>
    Effect.gen(function*() {
      // The previous test's connection of this user leaves the server's count a moment after its end()
      // returned (refused with 1226 once, on a busy machine): the slot is taken only once it is free.
      yield* Reliability.eventually(
        `no connection of ${limited} on the server`,
        Effect.promise(() =>
          admin.query("SELECT count(*) AS n FROM information_schema.processlist WHERE user = ?", [limited])
            .then(([rows]) => Number((rows as Array<{ n: number }>)[0]!.n))
        ),
        (n) => n === 0,
        3000
      )
      const holder = yield* Effect.promise(() => Mysql.createConnection({ ...root, user: limited }))
      setTimeout(() => void holder.end(), 300)
      const started = Date.now()
      yield* Layer.build(MysqlPool.layer({
        ...base,
        username: limited,
        pool: { minConnections: 1, maxConnections: 1, maxRetries: 10, retryInterval: "100 millis" }
      }))
      expect(Date.now() - started).toBeGreaterThanOrEqual(200)
      expect(Date.now() - started).toBeLessThan(3000)
    }).pipe(Effect.scoped), { timeout: 10_000 })

  it.live(
    "a database that does not exist: UnknownDatabaseError 1049 naming it, not retried",
    () =>
      Effect.gen(function*() {
        const { elapsed, error } = yield* connectError({
          ...base,
          username: "root",
          database: "no_such_db"
        })
        expect(error.cause).toBeInstanceOf(ConnectionError.UnknownDatabaseError)
        expect(error.cause).toMatchObject({ system: "mysql", code: "1049", database: "no_such_db" })
        expect(error.attempts).toBe(1)
        expect(elapsed).toBeLessThan(1000)
        expect(error.message).toContain("Database \"no_such_db\" does not exist on the MySQL server (1049)")
      }),
    { timeout: 10_000 }
  )

  it.live(
    "nothing listening: ServerUnreachableError ECONNREFUSED with host and port, retried",
    () =>
      Effect.gen(function*() {
        const port = yield* SparePort.get
        const { error } = yield* connectError({
          ...base,
          port,
          username: "root",
          password: Redacted.make(password),
          pool: { maxRetries: 1, retryInterval: "50 millis" }
        })
        expect(error.cause).toBeInstanceOf(ConnectionError.ServerUnreachableError)
        expect(error.cause).toMatchObject({ system: "mysql", code: "ECONNREFUSED", host: "127.0.0.1", port })
        expect(error.attempts).toBe(2)
      }),
    { timeout: 10_000 }
  )

  it.live("an unknown host: ServerUnreachableError ENOTFOUND, not retried", () =>
    Effect.gen(function*() {
      const { error } = yield* connectError({
        ...base,
        host: "nonexistent.invalid",
        username: "root",
        password: Redacted.make(password)
      })
      expect(error.cause).toMatchObject({
        _tag: "ServerUnreachableError",
        code: "ENOTFOUND",
        host: "nonexistent.invalid"
      })
      expect(error.attempts).toBe(1)
    }), { timeout: 10_000 })

  it.live("onConnect failing: ConnectionSetupError in stage onConnect", () =>
    Effect.gen(function*() {
      const { error } = yield* connectError({
        ...base,
        username: "root",
        onConnect: (conn) =>
          Effect.async<void, unknown>((resume) => {
            conn.query("SELECT no_such_column", (e) => resume(e ? Effect.fail(e) : Effect.void))
          }),
        pool: { maxRetries: 0 }
      })
      expect(error.cause).toBeInstanceOf(ConnectionError.ConnectionSetupError)
      expect(error.cause).toMatchObject({ system: "mysql", stage: "onConnect", code: "1054" })
    }), { timeout: 10_000 })
})

describe("MysqlPool options are checked before connecting", () => {
  it.effect("a queryTimeout that is not a positive, finite duration fails with PoolConfigError naming it", () =>
    Effect.gen(function*() {
      for (const queryTimeout of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, "-5 seconds", "soon"]) {
        const { error } = yield* built({ ...base, port: 1, queryTimeout: queryTimeout as Duration.DurationInput })
        expect(error).toMatchObject({ _tag: "PoolConfigError", field: "queryTimeout" })
      }
    }))

  it.effect("a valid queryTimeout reaches the connector as a Duration", () =>
    Effect.gen(function*() {
      expect((yield* MysqlPool.connector({ ...base, queryTimeout: 1500 })).queryTimeout).toEqual(Duration.millis(1500))
      expect((yield* MysqlPool.connector(base)).queryTimeout).toBe(undefined)
    }))

  it.effect("layerConfig reads queryTimeout from the environment and checks it", () =>
    Effect.gen(function*() {
      const error = yield* Layer.build(MysqlPool.layerConfig({
        url: Config.redacted("DATABASE_URL"),
        queryTimeout: Config.duration("QUERY_TIMEOUT")
      })).pipe(
        Effect.scoped,
        Effect.flip,
        Effect.withConfigProvider(
          ConfigProvider.fromMap(
            new Map([["DATABASE_URL", `mysql://root:${password}@127.0.0.1:1/test`], ["QUERY_TIMEOUT", "0 millis"]])
          )
        )
      )
      expect(error).toMatchObject({ _tag: "PoolConfigError", field: "queryTimeout" })
    }))
})
