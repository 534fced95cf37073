/**
 * Scenario 16 of docs/fault-scenarios.md on PostgreSQL: bad input fails within 1 s with a typed error that names the
 * problem and never shows the password.
 *
 * Already covered in ../ConnectionErrors.test.ts (not repeated here): a wrong password and no password at
 * layer build (AuthenticationError, 1 attempt, < 1 s), an unknown database at layer build, nothing
 * listening (ECONNREFUSED, retried), an unknown host (ENOTFOUND, not retried), a malformed URL (bad port
 * text, broken IPv6) and an unknown scheme (PoolConfigError naming url), an invalid queryTimeout. Here: the
 * pool's counts and durations through the driver's layer, bad ports (field and URL), a URL without a
 * scheme, and the connect failures on the acquisition path of a running pool, where "not retried" means
 * the caller fails at once instead of at acquireTimeout.
 */
import { PgPool } from "@dbpool/pg"
import type { ConnectionError } from "@dbpool/sql"
import { PgCluster, Reliability, SparePort } from "@dbpool/testing"
import { describe, expect, it } from "@effect/vitest"
import { type Duration, Effect, Redacted } from "effect"
import { startFakeAuthServer } from "../utils/FakeAuthServer.js"
import { applicationName, closeAndCheck, lag, makePool, preparePgClusters } from "./utils.js"

const { failureOf, timed } = Reliability

const password = "Sup3r-s3cret-pw"

type Options = Parameters<typeof PgPool.layer>[0]

/** A password that must show up nowhere: not in the message, nor in the error printed or serialized. */
const expectNoPassword = (error: unknown) => {
  const cause = JSON.stringify((error as { cause?: unknown }).cause ?? null)
  for (const text of [...Reliability.renderings(error), cause]) expect(text).not.toContain(password)
}

/** Builds the driver's layer (which checks everything, then opens minConnections) and returns its error. */
const layerError = (options: Options) =>
  Effect.map(Reliability.layerError(PgPool.layer(options)), ({ elapsed, error }) => {
    expectNoPassword(error)
    expect(elapsed).toBeLessThan(lag.widen(1000))
    return error
  })

/** A URL holding the password, on a port nothing listens on: a config check must fail before any connect. */
const urlWithPassword = (port: number) => Redacted.make(`postgres://postgres:${password}@127.0.0.1:${port}/test`)

preparePgClusters()

describe("scenario 16: bad input fails at once with a typed error naming the problem, never the password", () => {
  it.live("pool sizes: maxConnections 0, -1, NaN, 1.5; minConnections above maxConnections", () =>
    Effect.gen(function*() {
      const port = yield* SparePort.get
      const cases: ReadonlyArray<readonly [Options["pool"], string, string]> = [
        [{ maxConnections: 0 }, "maxConnections", "must be at least 1 (got 0)"],
        [{ maxConnections: -1 }, "maxConnections", "must be at least 1 (got -1)"],
        [{ maxConnections: Number.NaN }, "maxConnections", "NaN"],
        [{ maxConnections: 1.5 }, "maxConnections", "must be a whole number"],
        [{ minConnections: 11, maxConnections: 10 }, "minConnections", "must not exceed maxConnections (10)"]
      ]
      for (const [pool, field, reason] of cases) {
        const error = yield* layerError({ url: urlWithPassword(port), pool })
        expect(error).toMatchObject({ _tag: "PoolConfigError", field })
        expect(error.message).toContain(`Invalid pool configuration: ${field}`)
        expect(error.message).toContain(reason)
      }
    }))

  it.live("durations: acquireTimeout 0 or negative, and negative durations, each named", () =>
    Effect.gen(function*() {
      const port = yield* SparePort.get
      const cases: ReadonlyArray<readonly [Options["pool"], string, string]> = [
        [{ acquireTimeout: 0 }, "acquireTimeout", "must be greater than zero"],
        [{ acquireTimeout: "0 millis" }, "acquireTimeout", "must be greater than zero"],
        [{ acquireTimeout: -1 }, "acquireTimeout", "must not be negative"],
        [{ acquireTimeout: "-5 seconds" }, "acquireTimeout", "must not be negative"],
        [{ connectTimeout: -1 }, "connectTimeout", "must not be negative"],
        [{ retryInterval: "-100 millis" }, "retryInterval", "must not be negative"],
        [{ maxIdleTime: -1 }, "maxIdleTime", "must not be negative"],
        [{ maxLifetime: "-1 minutes" }, "maxLifetime", "must not be negative"],
        [{ healthCheckInterval: -1 }, "healthCheckInterval", "must not be negative"],
        [{ validationTimeout: -1 }, "validationTimeout", "must not be negative"],
        [{ validateAfterIdle: -1 }, "validateAfterIdle", "must not be negative"],
        [{ shutdownTimeout: -1 }, "shutdownTimeout", "must not be negative"],
        [{ leakDetectionThreshold: -1 }, "leakDetectionThreshold", "must not be negative"],
        [{ circuitBreakerProbeInterval: -1 }, "circuitBreakerProbeInterval", "must not be negative"],
        [{ connectTimeout: Number.NaN }, "connectTimeout", "NaN"]
      ]
      for (const [pool, field, reason] of cases) {
        const error = yield* layerError({ url: urlWithPassword(port), pool })
        expect(error).toMatchObject({ _tag: "PoolConfigError", field })
        expect(error.message).toContain(reason)
      }
    }))

  it.live("a bad port, given as a field or in the URL, is a PoolConfigError before any connect", () =>
    Effect.gen(function*() {
      // Before the check, node-postgres connected to 5432 for 0 and NaN, to port 1 for 1.5, and threw inside
      // the connect for -1 and 70000 (a ConnectionSetupError the pool retried).
      for (const port of [0, -1, 1.5, Number.NaN, 65536, 70000]) {
        const error = yield* layerError({
          host: "127.0.0.1",
          port,
          username: "postgres",
          password: Redacted.make(password),
          pool: { minConnections: 1 }
        })
        expect(error).toMatchObject({ _tag: "PoolConfigError", field: "port" })
        expect(error.message).toContain("port must be a whole number from 1 to 65535")
      }
      for (
        const url of [
          `postgres://postgres:${password}@127.0.0.1:0/test`,
          `postgres://postgres:${password}@127.0.0.1:99999/test`,
          `postgres://postgres:${password}@127.0.0.1/test?port=abc`,
          `postgres://postgres:${password}@127.0.0.1:-5/test`
        ]
      ) {
        const error = yield* layerError({ url: Redacted.make(url), pool: { minConnections: 1 } })
        expect(error).toMatchObject({ _tag: "PoolConfigError", field: "url", value: "<redacted>" })
      }
    }))

  it.live("a URL without a scheme is a PoolConfigError naming url (node-postgres would try a host named \"base\")", () =>
    Effect.gen(function*() {
      for (const url of [`postgres:${password}@127.0.0.1/test`, "not a url at all", `127.0.0.1:5432/test`]) {
        const error = yield* layerError({ url: Redacted.make(url), pool: { minConnections: 1 } })
        expect(error).toMatchObject({ _tag: "PoolConfigError", field: "url", value: "<redacted>" })
        expect(error.message).toContain("url has no scheme")
      }
    }))
})

describe("scenario 16: on a running pool, a connect failure that retrying cannot fix fails the caller at once", () => {
  /** A pool started with no connection (minConnections 0), then one acquisition; acquireTimeout is long on purpose. */
  const acquireError = (options: Options, acquireTimeout: Duration.DurationInput = "5 seconds") =>
    Effect.gen(function*() {
      const testPool = yield* makePool({
        ...options,
        pool: { minConnections: 0, maxConnections: 2, acquireTimeout, retryInterval: "50 millis", ...options.pool }
      })
      const { elapsed, exit } = yield* timed(testPool.pool.sql`SELECT 1`)
      const error = failureOf(exit)
      expectNoPassword(error)
      expect(error._tag).toBe("SqlError")
      const stats = yield* testPool.close
      expect(stats.totalConnections).toBe(0)
      return { error: error.cause as { readonly _tag: string } & Record<string, any>, elapsed }
    })

  it.scopedLive(
    "a wrong password: AuthenticationError after 1 attempt, not at acquireTimeout",
    () =>
      Effect.gen(function*() {
        const server = yield* Effect.acquireRelease(Effect.promise(startFakeAuthServer), (s) => Effect.promise(s.close))
        const { elapsed, error } = yield* acquireError({
          host: "127.0.0.1",
          port: server.port,
          username: "postgres",
          password: Redacted.make(password)
        })
        expect(elapsed).toBeLessThan(lag.widen(1000))
        expect(error).toMatchObject({ _tag: "ConnectError", attempts: 1, reason: "failed" })
        expect(error.cause as ConnectionError.ConnectFailure).toMatchObject({
          _tag: "AuthenticationError",
          code: "28P01",
          user: "postgres"
        })
        expect(error.message).toContain("Authentication failed for user \"postgres\"")
      }),
    { timeout: 10_000 }
  )

  it.scopedLive(
    "an unknown host: ServerUnreachableError ENOTFOUND after 1 attempt, within 1 s",
    () =>
      Effect.gen(function*() {
        const { elapsed, error } = yield* acquireError({
          url: Redacted.make(`postgres://postgres:${password}@no-such-host.invalid:5432/test`)
        })
        expect(elapsed).toBeLessThan(lag.widen(1000))
        expect(error).toMatchObject({ _tag: "ConnectError", attempts: 1 })
        expect(error.cause).toMatchObject({
          _tag: "ServerUnreachableError",
          code: "ENOTFOUND",
          host: "no-such-host.invalid"
        })
      }),
    { timeout: 10_000 }
  )

  it.scopedLive(
    "nothing listening: the caller fails within 1 s with ECONNREFUSED naming the address",
    () =>
      Effect.gen(function*() {
        const port = yield* SparePort.get
        // Retried (the server may come up): maxRetries 3 at 50, 100, 200 ms, then the creation's ConnectError
        // reaches the caller, before its acquireTimeout.
        const { elapsed, error } = yield* acquireError(
          { url: urlWithPassword(port), pool: { maxRetries: 3 } },
          "1 second"
        )
        expect(elapsed).toBeLessThan(1000 + lag.slack())
        expect(error).toMatchObject({ _tag: "ConnectError", attempts: 4, reason: "failed" })
        expect(error.cause).toMatchObject({ _tag: "ServerUnreachableError", code: "ECONNREFUSED", port })
        expect(error.message).toContain(`Cannot reach the PostgreSQL server at 127.0.0.1:${port} (ECONNREFUSED)`)
      }),
    { timeout: 10_000 }
  )

  it.scopedLive(
    "an unknown database: UnknownDatabaseError 3D000 naming it, after 1 attempt",
    () =>
      Effect.gen(function*() {
        const cluster = yield* PgCluster.make()
        const name = applicationName("baddb")
        const { elapsed, error } = yield* acquireError({
          url: Redacted.make(`postgres://postgres:${password}@127.0.0.1:${cluster.port}/no_such_database`),
          applicationName: name
        })
        expect(elapsed).toBeLessThan(lag.widen(1000))
        expect(error).toMatchObject({ _tag: "ConnectError", attempts: 1 })
        expect(error.cause).toMatchObject({ _tag: "UnknownDatabaseError", code: "3D000", database: "no_such_database" })
        // and the same cluster serves a good URL at once
        const good = yield* makePool({
          url: Redacted.make(cluster.url),
          applicationName: name,
          pool: { minConnections: 1 }
        })
        expect(yield* good.pool.sql<{ one: number }>`SELECT 1 AS one`).toEqual([{ one: 1 }])
        yield* closeAndCheck(good, Effect.orDie(cluster.countConnections(name)))
      }),
    { timeout: 20_000 }
  )
})
