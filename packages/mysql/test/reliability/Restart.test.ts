/**
 * Scenarios 1 and 2 of docs/fault-scenarios.md on MariaDB: a server restarted under load, and a server down when
 * the pool starts. Each runs a disposable MariaServer, never the machine's main server.
 */
import { MariaServer, Reliability, SparePort } from "@dbpool/testing"
import { expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { describeDb, finish, kind, lag, makePool, prepareMariaServers, serverUser, target } from "./utils.js"

const { taggedFailure, until, watchUnhandled } = Reliability

interface Iteration {
  readonly fiber: number
  readonly start: number
  /** When the connection was in hand (undefined: the acquisition failed). */
  readonly acquired: number | undefined
  readonly end: number
  readonly exit: Exit.Exit<unknown, unknown>
}

const acquireTimeout = 1000

/** A pool on a port nothing listens on, retrying from 50 ms (doubling) up to 100 times, and no connection at start. */
const nothingListening = (config: { readonly acquireTimeout: number; readonly circuitBreakerThreshold: number }) =>
  Effect.gen(function*() {
    const port = yield* SparePort.get
    const test = yield* makePool(target(port, "root"), {
      minConnections: 0,
      maxConnections: 2,
      maxRetries: 100,
      ...config
    })
    return { port, test }
  })

prepareMariaServers()

describeDb("MariaDB: a server restarted or down at start (scenarios 1, 2)", () => {
  it.live.each(["fast", "immediate"] as const)(
    "1. restart (%s stop) while 50 fibers loop on SELECT 1: typed errors only between the stop and back + " +
      "acquireTimeout, no acquire past acquireTimeout + ε, size ≤ max, every fiber succeeds within 2 s of the " +
      "server's return, server count = pool size afterwards",
    (mode) =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        const server = yield* MariaServer.make()
        const user = yield* serverUser(server)
        const count = server.countConnections(user)
        const test = yield* makePool(
          target(server.port, user),
          { minConnections: 2, maxConnections: 10, acquireTimeout }
        )
        const { pool } = test

        const iterations: Array<Iteration> = []
        let running = true
        const loop = (fiber: number) =>
          Effect.gen(function*() {
            while (running) {
              const start = Date.now()
              let acquired: number | undefined
              const exit = yield* Effect.exit(pool.withConnection((conn) => {
                acquired = Date.now()
                return conn.sql`SELECT 1 AS one`
              }))
              iterations.push({ fiber, start, acquired, end: Date.now(), exit })
              // A client backs off a little after an error, instead of spinning on a pool that fails fast.
              if (Exit.isFailure(exit)) yield* Effect.sleep("10 millis")
            }
          })
        const fibers = yield* Effect.forEach(Array.from({ length: 50 }, (_, i) => i), (i) => Effect.fork(loop(i)))

        yield* Effect.sleep("500 millis")
        // Every fiber has been served before the stop (how many statements a busy machine runs in 500 ms is
        // not the point: 40 of 50 once, under another suite).
        yield* Reliability.eventually(
          "every fiber to have run a statement before the stop",
          Effect.sync(() => new Set(iterations.filter((i) => Exit.isSuccess(i.exit)).map((i) => i.fiber)).size),
          (n) => n === 50,
          30_000
        )
        const stopAt = Date.now()
        yield* server.stop(mode)
        yield* Effect.sleep("500 millis")
        yield* server.start
        const backAt = Date.now()
        yield* Effect.sleep("2500 millis")
        running = false
        yield* Fiber.joinAll(fibers)

        const failures = iterations.filter((i) => Exit.isFailure(i.exit))
        const tags = new Set<string>()
        for (const failure of failures) {
          const error = taggedFailure(failure.exit)
          tags.add(`${error._tag}(${kind(error.cause)})`)
          if (error._tag === "SqlError") expect(kind(error.cause)).toBe("ConnectionLostError")
          expect({ end: failure.end, after: failure.end >= stopAt }).toMatchObject({ after: true })
          expect({ end: failure.end - backAt, before: failure.end <= backAt + acquireTimeout + lag.slack() })
            .toMatchObject({ before: true })
        }
        expect(failures.length).toBeGreaterThan(0)
        for (const tag of tags) expect(["SqlError", "ConnectError", "PoolTimeoutError"]).toContain(tag.split("(")[0])
        // No acquisition took longer than acquireTimeout + ε, failed or not.
        const slowest = Math.max(...iterations.map((i) => (i.acquired ?? i.end) - i.start))
        expect(slowest).toBeLessThanOrEqual(acquireTimeout + lag.slack())
        for (let fiber = 0; fiber < 50; fiber++) {
          const mine = iterations.filter((i) => i.fiber === fiber && i.start >= backAt)
          const firstSuccess = mine.find((i) => Exit.isSuccess(i.exit))
          expect({ fiber, back: (firstSuccess?.end ?? Infinity) - backAt <= 2000 }).toEqual({ fiber, back: true })
          expect(mine.filter((i) => Exit.isFailure(i.exit) && i.end > backAt + 2000)).toEqual([])
        }

        const settled = yield* until(
          Effect.zip(count, pool.stats),
          ([n, s]) => s.pendingConnections === 0 && n === s.totalConnections
        )
        expect(settled.value[0]).toBe(settled.value[1].totalConnections)
        expect(unhandled).toEqual([])
        console.log(
          `scenario 1 (${mode}): ${iterations.length} iterations, ${failures.length} failed (${
            [...tags].join(", ")
          }), ` +
            `slowest acquire ${slowest} ms, max size ${test.samples.maxSize}, ${test.samples.samples.length} samples`
        )
        yield* finish(test, count)
      }).pipe(Effect.scoped),
    { timeout: 20_000 }
  )

  it.live(
    "2. down at start, back after 300 ms: the first acquire succeeds between 300 ms and acquireTimeout",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        const server = yield* MariaServer.make({ start: false })
        const test = yield* makePool(
          target(server.port, "root"),
          // Retries from 50 ms (doubling), and no circuit breaker: the caller waits for the creation's attempts.
          {
            minConnections: 0,
            maxConnections: 2,
            acquireTimeout: 2000,
            circuitBreakerThreshold: Infinity,
            maxRetries: 100
          }
        )
        const started = Date.now()
        yield* Effect.sleep("300 millis").pipe(Effect.zipRight(server.start), Effect.fork)
        const rows = yield* test.pool.sql`SELECT 1 AS one`
        const elapsed = Date.now() - started
        expect(rows).toEqual([{ one: 1 }])
        expect(elapsed).toBeGreaterThanOrEqual(300)
        expect(elapsed).toBeLessThanOrEqual(lag.widen(2000))
        expect(unhandled).toEqual([])
        yield* finish(test, server.countConnections("root"))
      }).pipe(Effect.scoped),
    { timeout: 15_000 }
  )

  it.live(
    "2. down for good, circuit breaker off: the acquire fails at acquireTimeout ± ε with the last connect error",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        const { port, test } = yield* nothingListening({ acquireTimeout, circuitBreakerThreshold: Infinity })
        const started = Date.now()
        const error = taggedFailure(yield* Effect.exit(test.pool.withConnection(() => Effect.void)))
        const elapsed = Date.now() - started
        expect(elapsed).toBeGreaterThanOrEqual(acquireTimeout)
        expect(elapsed).toBeLessThanOrEqual(acquireTimeout + lag.slack())
        expect(error).toMatchObject({
          _tag: "PoolTimeoutError",
          lastConnectError: {
            _tag: "ConnectError",
            reason: "failed",
            cause: { _tag: "ServerUnreachableError", code: "ECONNREFUSED", host: "127.0.0.1", port }
          }
        })
        expect(unhandled).toEqual([])
        yield* finish(test, Effect.succeed(0))
      }).pipe(Effect.scoped),
    { timeout: 10_000 }
  )

  it.live(
    "2. down for good, circuit breaker on (docs/core.md): the first caller fails with the ConnectError once " +
      "the breaker opens, before acquireTimeout; the next ones at once, circuitOpen: true, with the same cause",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        const { port, test } = yield* nothingListening({ acquireTimeout: 2000, circuitBreakerThreshold: 5 })
        const cause = { _tag: "ServerUnreachableError", code: "ECONNREFUSED", host: "127.0.0.1", port }
        let started = Date.now()
        const first = taggedFailure(yield* Effect.exit(test.pool.withConnection(() => Effect.void)))
        // 5 attempts, 50 + 100 + 200 + 400 ms apart (± 20 % jitter): the breaker opens after about 750 ms.
        expect(Date.now() - started).toBeLessThan(lag.widen(2000))
        expect(first).toMatchObject({ _tag: "ConnectError", reason: "failed", cause })
        expect((yield* test.pool.stats).circuitState).toBe("open")
        for (let i = 0; i < 3; i++) {
          started = Date.now()
          const next = taggedFailure(yield* Effect.exit(test.pool.withConnection(() => Effect.void)))
          expect(Date.now() - started).toBeLessThanOrEqual(lag.slack())
          expect(next).toMatchObject({ _tag: "ConnectError", circuitOpen: true, cause })
        }
        expect(unhandled).toEqual([])
        yield* finish(test, Effect.succeed(0))
      }).pipe(Effect.scoped),
    { timeout: 10_000 }
  )
})
