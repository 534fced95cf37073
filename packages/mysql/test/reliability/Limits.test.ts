/**
 * Scenario 10 of docs/fault-scenarios.md on MariaDB: a server at `max_connections`. A disposable server with room
 * for 10 connections (MariaDB's smallest `max_connections`: a lower setting becomes 10), filled by
 * connections of another user (root keeps MariaDB's one extra slot for SUPER, used by the test's admin
 * queries).
 */
import { MariaServer, Reliability } from "@dbpool/testing"
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import MysqlPromise from "mysql2/promise"
import { describeDb, finish, lag, makePool, prepareMariaServers, serverUser, target } from "./utils.js"

const { taggedFailure, watchUnhandled } = Reliability

const maxConnections = 10

/** A server full of another user's connections; `free(n)` closes n of them. */
const fullServer = Effect.gen(function*() {
  const server = yield* MariaServer.make({ maxConnections })
  const user = yield* serverUser(server, "dbpool_app")
  const other = yield* serverUser(server, "dbpool_other")
  const holders = yield* Effect.acquireRelease(
    Effect.promise(() =>
      Promise.all(
        Array.from({ length: maxConnections }, () =>
          MysqlPromise.createConnection({ host: "127.0.0.1", port: server.port, user: other, database: "test" }))
      )
    ),
    (conns) => Effect.promise(() => Promise.all(conns.map((c) => c.end().catch(() => {}))))
  )
  expect(yield* server.countConnections(other)).toBe(maxConnections)
  const free = (n: number) => Effect.promise(() => Promise.all(holders.splice(0, n).map((c) => c.end())))
  return {
    server,
    free,
    count: server.countConnections(user),
    options: target(server.port, user)
  }
})

const tooMany = { _tag: "TooManyConnectionsError", system: "mysql", code: "1040" }

prepareMariaServers()

describeDb("MariaDB: a server at max_connections (scenario 10)", () => {
  it.live(
    "10. the acquire fails with ConnectError whose cause is TooManyConnectionsError 1040, after every attempt " +
      "the retry schedule allows (documented: retried, a slot may free up)",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        const { count, options } = yield* fullServer
        const test = yield* makePool(options, {
          minConnections: 0,
          maxConnections: 2,
          maxRetries: 2,
          acquireTimeout: 3000,
          circuitBreakerThreshold: Infinity
        })
        const started = Date.now()
        const error = taggedFailure(yield* Effect.exit(test.pool.withConnection(() => Effect.void)))
        expect(Date.now() - started).toBeLessThan(lag.widen(3000))
        expect(error).toMatchObject({ _tag: "ConnectError", reason: "failed", attempts: 3, cause: tooMany })
        expect((error as unknown as Error).message).toContain("Too many connections")
        expect((yield* test.pool.stats).connectFailures).toBe(3)
        expect(unhandled).toEqual([])
        yield* finish(test, count)
      }).pipe(Effect.scoped),
    { timeout: 15_000 }
  )

  it.live(
    "10. a caller waiting on a full server gets a connection once connections free up (300 ms later)",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        const { count, free, options } = yield* fullServer
        const test = yield* makePool(options, { minConnections: 0, maxConnections: 2, acquireTimeout: 2000 })
        const started = Date.now()
        yield* Effect.fork(Effect.zipRight(Effect.sleep("300 millis"), free(2)))
        expect(yield* test.pool.sql`SELECT 1 AS one`).toEqual([{ one: 1 }])
        const elapsed = Date.now() - started
        expect(elapsed).toBeGreaterThanOrEqual(300)
        expect(elapsed).toBeLessThan(lag.widen(2000))
        expect(yield* count).toBe(1)
        expect(unhandled).toEqual([])
        yield* finish(test, count)
      }).pipe(Effect.scoped),
    { timeout: 15_000 }
  )

  it.live(
    "10. with the circuit breaker open on a full server (docs/core.md): callers fail at once with the " +
      "TooManyConnectionsError, and the first probe after connections free up brings the pool back",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        const { count, free, options } = yield* fullServer
        const test = yield* makePool(options, {
          minConnections: 0,
          maxConnections: 2,
          acquireTimeout: 2000,
          circuitBreakerThreshold: 3,
          circuitBreakerProbeInterval: "100 millis"
        })
        const first = taggedFailure(yield* Effect.exit(test.pool.withConnection(() => Effect.void)))
        expect(first).toMatchObject({ _tag: "ConnectError", cause: tooMany })
        expect((yield* test.pool.stats).circuitState).toBe("open")
        let started = Date.now()
        const next = taggedFailure(yield* Effect.exit(test.pool.withConnection(() => Effect.void)))
        expect(Date.now() - started).toBeLessThan(lag.widen(50))
        expect(next).toMatchObject({ _tag: "ConnectError", circuitOpen: true, cause: tooMany })

        yield* free(2)
        started = Date.now()
        // The next probe (every 100 ms) connects and closes the circuit.
        while ((yield* test.pool.stats).circuitState === "open" && Date.now() - started < 1000) {
          yield* Effect.sleep("10 millis")
        }
        const closedAfter = Date.now() - started
        expect(closedAfter).toBeLessThanOrEqual(100 + lag.slack())
        expect(yield* test.pool.sql`SELECT 1 AS one`).toEqual([{ one: 1 }])
        expect(unhandled).toEqual([])
        yield* finish(test, count)
      }).pipe(Effect.scoped),
    { timeout: 15_000 }
  )
})
