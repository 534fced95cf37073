/**
 * Scenario 16 of docs/fault-scenarios.md on MariaDB: bad input fails within 1 s with a typed error that names the
 * problem and never the password.
 *
 * Already covered by ../ConnectionErrors.test.ts, not repeated here: a wrong password
 * (AuthenticationError 1045, one attempt, under 1 s, by fields and by URL), an unknown database
 * (UnknownDatabaseError 1049, one attempt), nothing listening (ServerUnreachableError ECONNREFUSED), an
 * unknown host (ServerUnreachableError ENOTFOUND, one attempt), and an invalid `queryTimeout`
 * (PoolConfigError). Added here: the pool's sizes and durations, a malformed URL, a bad port, an unknown
 * scheme, and a wrong password through the layer as a program builds it (no retry until the timeout).
 */
import type * as PoolConfig from "@dbpool/core/PoolConfig"
import { MysqlPool } from "@dbpool/mysql"
import { Reliability } from "@dbpool/testing"
import { expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { describeDb, lag, mainUser } from "./utils.js"

const { taggedFailure, watchUnhandled } = Reliability

const password = "Sup3r-secret_pw"
const url = `mysql://root:${password}@127.0.0.1:3306/test`

/** Builds the layer, expecting a typed failure within 1 s that holds no password in any rendering. */
const failure = (options: MysqlPool.MysqlPoolOptions) =>
  Effect.gen(function*() {
    const started = Date.now()
    const exit = yield* Effect.exit(Effect.scoped(Layer.build(MysqlPool.layer(options))))
    const elapsed = Date.now() - started
    const error = taggedFailure(exit) as { readonly _tag: string; readonly message: string }
    for (const text of Reliability.renderings(error)) expect(text).not.toContain(password)
    expect(elapsed).toBeLessThan(lag.widen(1000))
    return error
  })

describeDb("MariaDB: bad input (scenario 16)", () => {
  it.live(
    "16. pool sizes and durations: max 0, -1, NaN, 1.5; min > max; acquireTimeout ≤ 0; negative durations: " +
      "PoolConfigError naming the field, before any connection",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        const cases: Array<readonly [PoolConfig.Input, string, string]> = [
          [{ maxConnections: 0 }, "maxConnections", "must be at least 1"],
          [{ maxConnections: -1 }, "maxConnections", "must be at least 1"],
          [{ maxConnections: Number.NaN }, "maxConnections", "NaN"],
          [{ maxConnections: 1.5 }, "maxConnections", "must be a whole number"],
          [{ minConnections: 5, maxConnections: 2 }, "minConnections", "must not exceed maxConnections"],
          [{ acquireTimeout: 0 }, "acquireTimeout", "greater than zero"],
          [{ acquireTimeout: -1 }, "acquireTimeout", "must not be negative"],
          [{ connectTimeout: "-5 seconds" }, "connectTimeout", "must not be negative"],
          [{ maxIdleTime: -100 }, "maxIdleTime", "must not be negative"],
          [{ retryInterval: "-1 millis" }, "retryInterval", "must not be negative"]
        ]
        for (const [pool, field, reason] of cases) {
          const error = yield* failure({ url: Redacted.make(url), pool: { minConnections: 0, ...pool } })
          expect({ pool, error }).toMatchObject({ pool, error: { _tag: "PoolConfigError", field } })
          expect(error.message).toContain(reason)
        }
        expect(unhandled).toEqual([])
      }).pipe(Effect.scoped),
    { timeout: 15_000 }
  )

  it.live(
    "16. a malformed URL, a bad port, an unknown scheme: PoolConfigError naming url or port, never the URL, " +
      "and never a defect (mysql2 threw from inside the connect)",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        const urls: Array<readonly [string, string]> = [
          ["not a url", "is not a connection URL"],
          [`mysql//root:${password}@127.0.0.1:3306/test`, "is not a connection URL"],
          [`mysql://root:${password}%ZZ@127.0.0.1:3306/test`, "is not a valid connection URL"],
          [`mysql://root:${password}@127.0.0.1:99999/test`, "is not a valid connection URL"],
          [`mysql://root:${password}@127.0.0.1:0/test`, "has the port 0"],
          [`postgres://root:${password}@127.0.0.1:3306/test`, "has the scheme \"postgres://\""],
          [`http://root:${password}@127.0.0.1:3306/test`, "has the scheme \"http://\""]
        ]
        for (const [text, reason] of urls) {
          const error = yield* failure({ url: Redacted.make(text), pool: { minConnections: 1 } })
          expect(error).toMatchObject({ _tag: "PoolConfigError", field: "url", value: "<redacted>" })
          expect(error.message).toContain(reason)
        }
        for (const port of [0, -1, 70000, 1.5, Number.NaN]) {
          const error = yield* failure({
            host: "127.0.0.1",
            port,
            username: "root",
            password: Redacted.make(password),
            pool: { minConnections: 1 }
          })
          expect(error).toMatchObject({ _tag: "PoolConfigError", field: "port" })
          expect(error.message).toContain("must be a whole number from 1 to 65535")
        }
        // mariadb:// is as good as mysql://.
        yield* Effect.scoped(Layer.build(MysqlPool.layer({
          url: Redacted.make("mariadb://root@127.0.0.1:3306/test"),
          pool: { minConnections: 1, maxConnections: 1 }
        })))
        expect(unhandled).toEqual([])
      }).pipe(Effect.scoped),
    { timeout: 15_000 }
  )

  it.live(
    "16. a wrong password through a layer with the default retry settings: AuthenticationError after one " +
      "attempt, well before the retries (about 35 s) or acquireTimeout (30 s) would end",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        // A user that exists (with no password): an unknown one gets 1045 or 1698 from MariaDB, by chance.
        const { user } = yield* mainUser
        const error = yield* failure({ url: Redacted.make(`mysql://${user}:${password}@127.0.0.1/test`) })
        expect(error).toMatchObject({
          _tag: "ConnectError",
          attempts: 1,
          cause: { _tag: "AuthenticationError", code: "1045", user }
        })
        expect(unhandled).toEqual([])
      }).pipe(Effect.scoped),
    { timeout: 15_000 }
  )
})
