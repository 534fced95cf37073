import type { ConnectError } from "@dbpool/core/PoolError"
import { PgPool } from "@dbpool/pg"
import { ConnectionError } from "@dbpool/sql"
import { Reliability, SparePort } from "@dbpool/testing"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Config, ConfigProvider, Duration, Effect, Fiber, Layer, Redacted } from "effect"
import * as net from "node:net"
import Pg from "pg"
import { startFakeAuthServer } from "./utils/FakeAuthServer.js"

const base = { host: "127.0.0.1", port: 5432, database: "test", username: "postgres" } as const
const password = "s3cret-Pa55word"
const role = `dbpool_limited_${process.pid}`

// Outside CI a missing server skips these tests, saying so; in CI they must run.
const run = await Effect.runPromise(Reliability.mainServer("postgresql", "the @dbpool/pg connection error tests"))
const describeDb = run ? describe : describe.skip

let admin: Pg.Client
beforeAll(async () => {
  if (!run) return
  admin = new Pg.Client({ ...base, user: "postgres", application_name: `dbpool-test-errors-${process.pid}` })
  await admin.connect()
  await admin.query(`DROP ROLE IF EXISTS ${role}`)
  // Not a superuser: CONNECTION LIMIT does not apply to superusers.
  await admin.query(`CREATE ROLE ${role} LOGIN CONNECTION LIMIT 1`)
})
afterAll(async () => {
  if (!run) return
  await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", [role])
  await admin.query(`DROP ROLE IF EXISTS ${role}`)
  await admin.end()
})

type Options = Parameters<typeof PgPool.layer>[0]

/** The layer's failure and the build's time; its pool opens one connection at start. */
const built = (options: Options) =>
  Reliability.layerError(PgPool.layer({
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

/** A server that accepts and closes at once, before any handshake. */
const startHangUpServer = () =>
  new Promise<{ readonly port: number; readonly close: () => Promise<void> }>((resolve) => {
    const server = net.createServer((socket) => socket.destroy())
    server.listen(0, "127.0.0.1", () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        close: () => new Promise<void>((done) => server.close(() => done()))
      }))
  })

const fakeAuthServer = Effect.acquireRelease(Effect.promise(startFakeAuthServer), (s) => Effect.promise(s.close))

/** A connection held by the limited role, taking its only slot until the scope closes. */
const holdRoleSlot = Effect.acquireRelease(
  Effect.promise(async () => {
    const client = new Pg.Client({ ...base, user: role })
    await client.connect()
    return client
  }),
  (client) => Effect.promise(() => client.end())
)

describeDb("PgPool connection errors are typed, carry the server's code, and hold no password", () => {
  it.live(
    "a role at its CONNECTION LIMIT: TooManyConnectionsError 53300, retried with the pool's backoff",
    () =>
      Effect.gen(function*() {
        yield* holdRoleSlot
        const { elapsed, error } = yield* connectError({
          ...base,
          username: role,
          password: Redacted.make(password),
          pool: { maxRetries: 2, retryInterval: "50 millis" }
        })
        expect(error.cause).toBeInstanceOf(ConnectionError.TooManyConnectionsError)
        expect(error.cause).toMatchObject({ _tag: "TooManyConnectionsError", system: "postgresql", code: "53300" })
        expect(error.attempts).toBe(3)
        expect(error.message).toContain(`too many connections for role "${role}"`)
        expect(elapsed).toBeLessThan(5000)
      }).pipe(Effect.scoped),
    { timeout: 10_000 }
  )

  it.live("a role at its CONNECTION LIMIT: the pool connects once the slot frees up", () =>
    Effect.gen(function*() {
      const holder = yield* Effect.forkScoped(Effect.scoped(Effect.zipRight(holdRoleSlot, Effect.sleep("300 millis"))))
      // the slot is taken before the pool starts
      yield* Effect.promise(() =>
        new Promise<void>((resolve) => {
          const poll = () =>
            admin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1", [role]).then((r) =>
              r.rows[0].n === 1 ? resolve() : setTimeout(poll, 10)
            )
          poll()
        })
      )
      const started = Date.now()
      yield* Layer.build(PgPool.layer({
        ...base,
        username: role,
        pool: { minConnections: 1, maxConnections: 1, maxRetries: 10, retryInterval: "100 millis" }
      }))
      expect(Date.now() - started).toBeGreaterThanOrEqual(200)
      expect(Date.now() - started).toBeLessThan(3000)
      yield* Fiber.join(holder)
    }).pipe(Effect.scoped), { timeout: 10_000 })

  it.live("a wrong password: AuthenticationError 28P01 naming the user, not retried", () =>
    Effect.gen(function*() {
      const server = yield* fakeAuthServer
      const { elapsed, error } = yield* connectError({ ...base, port: server.port, password: Redacted.make(password) })
      expect(error.cause).toBeInstanceOf(ConnectionError.AuthenticationError)
      expect(error.cause).toMatchObject({ system: "postgresql", code: "28P01", user: "postgres" })
      expect(error.attempts).toBe(1)
      expect(elapsed).toBeLessThan(1000)
      expect(error.cause!.message).toBe(
        "Authentication failed for user \"postgres\" on the PostgreSQL server (28P01): " +
          "password authentication failed for user \"postgres\""
      )
      // the URL form too
      const fromUrl = yield* connectError({
        url: Redacted.make(`postgres://postgres:${password}@127.0.0.1:${server.port}/test`)
      })
      expect(fromUrl.error.cause).toMatchObject({ _tag: "AuthenticationError", code: "28P01" })
    }).pipe(Effect.scoped), { timeout: 10_000 })

  it.live("no password where the server asks for one: AuthenticationError, not retried", () =>
    Effect.gen(function*() {
      const server = yield* fakeAuthServer
      const { error } = yield* connectError({ ...base, port: server.port })
      expect(error.cause).toMatchObject({ _tag: "AuthenticationError", user: "postgres" })
      expect(error.attempts).toBe(1)
    }).pipe(Effect.scoped), { timeout: 10_000 })

  it.live(
    "a database that does not exist: UnknownDatabaseError 3D000 naming it, not retried",
    () =>
      Effect.gen(function*() {
        const { elapsed, error } = yield* connectError({
          ...base,
          database: "no_such_db",
          password: Redacted.make(password)
        })
        expect(error.cause).toBeInstanceOf(ConnectionError.UnknownDatabaseError)
        expect(error.cause).toMatchObject({ system: "postgresql", code: "3D000", database: "no_such_db" })
        expect(error.attempts).toBe(1)
        expect(elapsed).toBeLessThan(1000)
        expect(error.message).toContain("Database \"no_such_db\" does not exist on the PostgreSQL server (3D000)")
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
          password: Redacted.make(password),
          pool: { maxRetries: 1, retryInterval: "50 millis" }
        })
        expect(error.cause).toBeInstanceOf(ConnectionError.ServerUnreachableError)
        expect(error.cause).toMatchObject({ system: "postgresql", code: "ECONNREFUSED", host: "127.0.0.1", port })
        expect(error.attempts).toBe(2)
        expect(error.message).toContain(`Cannot reach the PostgreSQL server at 127.0.0.1:${port} (ECONNREFUSED)`)
      }),
    { timeout: 10_000 }
  )

  it.live("an unknown host: ServerUnreachableError ENOTFOUND, not retried", () =>
    Effect.gen(function*() {
      const { elapsed, error } = yield* connectError({
        ...base,
        host: "nonexistent.invalid",
        password: Redacted.make(password)
      })
      expect(error.cause).toMatchObject({
        _tag: "ServerUnreachableError",
        code: "ENOTFOUND",
        host: "nonexistent.invalid",
        port: 5432
      })
      expect(error.attempts).toBe(1)
      expect(elapsed).toBeLessThan(2000)
    }), { timeout: 10_000 })

  it.live("the socket closed during the handshake: ServerUnreachableError, retried", () =>
    Effect.gen(function*() {
      const server = yield* Effect.acquireRelease(Effect.promise(startHangUpServer), (s) => Effect.promise(s.close))
      const { error } = yield* connectError({
        ...base,
        port: server.port,
        pool: { maxRetries: 1, retryInterval: "50 millis" }
      })
      expect(error.cause).toMatchObject({ _tag: "ServerUnreachableError", host: "127.0.0.1", port: server.port })
      expect(error.attempts).toBe(2)
    }).pipe(Effect.scoped), { timeout: 10_000 })

  it.live(
    "onConnect failing: ConnectionSetupError in stage onConnect with the server's code",
    () =>
      Effect.gen(function*() {
        const { error } = yield* connectError({
          ...base,
          onConnect: (client) => Effect.tryPromise(() => client.query("SELECT no_such_column")),
          pool: { maxRetries: 0 }
        })
        expect(error.cause).toBeInstanceOf(ConnectionError.ConnectionSetupError)
        // 42703: undefined column, read through the UnknownException of Effect.tryPromise
        expect(error.cause).toMatchObject({ system: "postgresql", stage: "onConnect", code: "42703" })
        expect(error.message).toContain("failed in onConnect")
      }),
    { timeout: 10_000 }
  )
})

describe("PgPool options are checked before connecting", () => {
  const field = (options: Options) =>
    Effect.map(built(options), ({ error }) => ({ tag: error._tag, field: "field" in error ? error.field : undefined }))

  it.effect("a queryTimeout that is not a positive, finite duration fails with PoolConfigError naming it", () =>
    Effect.gen(function*() {
      for (const queryTimeout of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, "-5 seconds", "soon", "0 millis"]) {
        expect(yield* field({ ...base, port: 1, queryTimeout: queryTimeout as Duration.DurationInput })).toEqual({
          tag: "PoolConfigError",
          field: "queryTimeout"
        })
      }
    }))

  it.effect("a valid queryTimeout reaches the connector as a Duration; none leaves it unbounded", () =>
    Effect.gen(function*() {
      const connector = yield* PgPool.connector({ ...base, queryTimeout: "2 seconds" })
      expect(connector.queryTimeout).toEqual(Duration.seconds(2))
      expect((yield* PgPool.connector(base)).queryTimeout).toBe(undefined)
    }))

  it.effect("layerConfig reads queryTimeout from the environment and checks it", () =>
    Effect.gen(function*() {
      const error = yield* Layer.build(PgPool.layerConfig({
        url: Config.redacted("DATABASE_URL"),
        queryTimeout: Config.duration("QUERY_TIMEOUT")
      })).pipe(
        Effect.scoped,
        Effect.flip,
        Effect.withConfigProvider(
          ConfigProvider.fromMap(
            new Map([["DATABASE_URL", `postgres://postgres:${password}@127.0.0.1:1/test`], [
              "QUERY_TIMEOUT",
              "0 millis"
            ]])
          )
        )
      )
      expect(error).toMatchObject({ _tag: "PoolConfigError", field: "queryTimeout" })
    }))

  it.effect("a malformed URL or an unknown scheme fails with PoolConfigError naming url, never showing it", () =>
    Effect.gen(function*() {
      for (
        const url of [
          `postgres://postgres:${password}@127.0.0.1:notaport/test`,
          `postgres://postgres:${password}@[::1/test`,
          `mysql://postgres:${password}@127.0.0.1/test`
        ]
      ) {
        const { error } = yield* built({ url: Redacted.make(url) })
        expect(error).toMatchObject({ _tag: "PoolConfigError", field: "url" })
        for (const text of Reliability.renderings(error)) expect(text).not.toContain(password)
      }
    }))
})
