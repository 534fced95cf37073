/**
 * Scenarios 1 and 2 of docs/fault-scenarios.md on PostgreSQL, against a disposable cluster of the test's own (the
 * machine's main server is never stopped): a restart while 50 fibers loop on `SELECT 1`, and a server that
 * is down when the pool starts (back after 300 ms, or down for good).
 */
import type { ConnectError, PoolTimeoutError } from "@dbpool/core/PoolError"
import type { PoolEvent } from "@dbpool/core/PoolEvent"
import { PgPool } from "@dbpool/pg"
import type { ConnectionError } from "@dbpool/sql"
import { PgCluster, Reliability } from "@dbpool/testing"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Layer, Redacted, Stream } from "effect"
import {
  applicationName,
  closeAndCheck,
  clusterPool,
  now,
  preparePgClusters,
  serverCount,
  serverMatchesPool
} from "./utils.js"

const { epsilon, eventually, failureOf, makeLagMeter, sampleSize, timed, watchUnhandled } = Reliability

interface Call {
  readonly fiber: number
  readonly asked: number
  /** When the connection was in hand, if it was. */
  readonly acquired: number | undefined
  readonly ended: number
  /** "ok", or the error's tag, with its cause's for a SqlError: "SqlError/ConnectionLostError". */
  readonly outcome: string
  readonly defect: boolean
}

const acquireTimeout = 1000

preparePgClusters()

describe("scenario 1: a server restart while 50 fibers loop on SELECT 1", () => {
  for (const mode of ["fast", "immediate"] as const) {
    it.scopedLive(
      `stop (${mode}), down 500 ms, start: typed errors only while down, bounded acquisitions, all back within 2 s`,
      () =>
        Effect.gen(function*() {
          const unhandled = yield* watchUnhandled
          const cluster = yield* PgCluster.make()
          const lag = yield* makeLagMeter
          const max = 10
          const testPool = yield* clusterPool(cluster, `restart-${mode}`, {
            minConnections: 2,
            maxConnections: max,
            acquireTimeout,
            connectTimeout: "500 millis",
            retryInterval: "50 millis",
            circuitBreakerProbeInterval: "100 millis",
            healthCheckInterval: "200 millis",
            shutdownTimeout: "1 second"
          })
          const { count, pool } = testPool
          const size = yield* sampleSize(pool.stats)

          const calls: Array<Call> = []
          let running = true
          const loop = (fiber: number) =>
            Effect.gen(function*() {
              while (running) {
                const asked = now()
                let acquired: number | undefined
                const exit = yield* Effect.exit(pool.withConnection((conn) =>
                  Effect.suspend(() => {
                    acquired = now()
                    return conn.sql`SELECT 1`
                  })
                ))
                const ended = now()
                if (Exit.isSuccess(exit)) {
                  calls.push({ fiber, asked, acquired, ended, outcome: "ok", defect: false })
                  continue
                }
                const failure = Cause.failureOption(exit.cause)
                const error = failure._tag === "Some" ? failure.value : undefined
                const causeTag = error?._tag === "SqlError" ? `/${(error.cause as { _tag?: string })?._tag}` : ""
                calls.push({
                  fiber,
                  asked,
                  acquired,
                  ended,
                  outcome: error === undefined ? Cause.pretty(exit.cause) : `${error._tag}${causeTag}`,
                  defect: Cause.isDie(exit.cause)
                })
                // A client that backs off a little after a failure, as programs do; the pool's own circuit
                // breaker would otherwise turn 50 loops into a busy spin while the server is down.
                yield* Effect.sleep("10 millis")
              }
            })
          const fibers = yield* Effect.forEach(Array.from({ length: 50 }, (_, i) => i), (i) => Effect.fork(loop(i)))

          yield* Effect.sleep("500 millis")
          const stopped = now()
          yield* cluster.stop(mode)
          yield* Effect.sleep("500 millis")
          yield* cluster.start
          const back = now()
          yield* Effect.sleep("2500 millis")
          running = false
          yield* Fiber.joinAll(fibers)
          yield* size.stop

          const errors = calls.filter((c) => c.outcome !== "ok")
          const histogram: Record<string, number> = {}
          for (const c of errors) histogram[c.outcome] = (histogram[c.outcome] ?? 0) + 1
          console.log(
            `scenario 1 (${mode}): ${calls.length} calls, ${errors.length} errors ${JSON.stringify(histogram)}, ` +
              `down ${Math.round(back - stopped)} ms, last error ${
                errors.length === 0 ? "-" : Math.round(Math.max(...errors.map((c) => c.ended)) - back)
              } ms after back`
          )

          // each error typed, never a defect
          expect(calls.filter((c) => c.defect)).toEqual([])
          const typed = new Set(["SqlError/ConnectionLostError", "ConnectError", "PoolTimeoutError"])
          expect(errors.filter((c) => !typed.has(c.outcome))).toEqual([])
          // ε widened by how late this process got to run during the test (other suites on the same cores)
          const slack = yield* lag.slack
          // errors only between the stop and "back + acquireTimeout"
          expect(errors.length).toBeGreaterThan(0)
          expect(errors.filter((c) => c.ended < stopped || c.ended > back + acquireTimeout + slack)).toEqual([])
          // no acquisition longer than acquireTimeout + ε, successful or not
          const acquisitions = calls.map((c) => (c.acquired ?? c.ended) - c.asked)
          expect(Math.max(...acquisitions)).toBeLessThanOrEqual(acquireTimeout + slack)
          // size ≤ max at every sample (opening ones included), sampled before, while and after the server was
          // down (how many samples a busy machine allows is not the point)
          expect(size.samples.some((s) => s.at < stopped)).toBe(true)
          expect(size.samples.some((s) => s.at > stopped && s.at < back)).toBe(true)
          expect(size.samples.some((s) => s.at > back + 2000)).toBe(true)
          expect(size.violations).toEqual([])
          // every fiber succeeds within 2 s after the server is back, and keeps succeeding
          for (let fiber = 0; fiber < 50; fiber++) {
            const first = calls.find((c) => c.fiber === fiber && c.outcome === "ok" && c.asked >= back)
            expect(first && first.ended - back, `fiber ${fiber}`).toBeLessThanOrEqual(2000 + slack)
          }
          expect(calls.filter((c) => c.asked > back + 2000 + slack && c.outcome !== "ok")).toEqual([])
          // server count = pool size afterwards
          const [settled] = yield* serverMatchesPool(testPool, count, (s) => s.pendingConnections === 0)
          expect(settled.totalConnections).toBeGreaterThanOrEqual(2)
          expect(settled.totalConnections).toBeLessThanOrEqual(max)

          yield* closeAndCheck(testPool, count)
          expect(unhandled).toEqual([])
        }),
      { timeout: 20_000 }
    )
  }
})

describe("scenario 2: the server is down when the pool starts", () => {
  it.scopedLive(
    "back after 300 ms: the first acquisition succeeds between 300 ms and acquireTimeout",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        const cluster = yield* PgCluster.make({ start: false })
        const lag = yield* makeLagMeter
        const testPool = yield* clusterPool(cluster, "down-at-start", {
          minConnections: 0,
          maxConnections: 5,
          acquireTimeout: "2 seconds",
          retryInterval: "50 millis",
          maxRetries: 10,
          // Attempts at about 0, 50, 150, 350, 750 ms: at most 4 fail before the server is back. The breaker
          // (tested below) would fail this caller at once if the server took longer than that.
          circuitBreakerThreshold: 8
        })
        const started = now()
        const starter = yield* Effect.fork(Effect.zipRight(Effect.sleep("300 millis"), cluster.start))
        const { exit } = yield* timed(testPool.pool.sql<{ one: number }>`SELECT 1 AS one`)
        const elapsed = now() - started
        yield* Fiber.join(starter)
        expect(exit).toEqual(Exit.succeed([{ one: 1 }]))
        console.log(`scenario 2: first acquisition after ${Math.round(elapsed)} ms`)
        expect(elapsed).toBeGreaterThanOrEqual(300)
        expect(elapsed).toBeLessThanOrEqual(2000 + (yield* lag.slack))
        const stats = yield* testPool.pool.stats
        expect(stats.connectFailures).toBeGreaterThanOrEqual(1)
        expect(stats.circuitState).toBe("closed")
        yield* closeAndCheck(testPool, testPool.count)
        expect(unhandled).toEqual([])
      }),
    { timeout: 15_000 }
  )

  it.scopedLive(
    "back after 300 ms: a layer with minConnections 1 waits for it and builds",
    () =>
      Effect.gen(function*() {
        const cluster = yield* PgCluster.make({ start: false })
        const lag = yield* makeLagMeter
        const name = applicationName("layer-at-start")
        const started = now()
        yield* Effect.fork(Effect.zipRight(Effect.sleep("300 millis"), cluster.start))
        yield* Effect.scoped(
          Effect.gen(function*() {
            yield* Layer.build(PgPool.layer({
              url: Redacted.make(cluster.url),
              applicationName: name,
              pool: { minConnections: 1, maxConnections: 2, retryInterval: "50 millis", maxRetries: 10 }
            }))
            const elapsed = now() - started
            console.log(`scenario 2: the layer built after ${Math.round(elapsed)} ms`)
            expect(elapsed).toBeGreaterThanOrEqual(300)
            expect(elapsed).toBeLessThan(yield* lag.widen(2000))
            expect(yield* serverCount(cluster, name)).toBe(1)
          })
        )
        yield* eventually("the server to count none of ours", serverCount(cluster, name), (n) => n === 0, 2000)
      }),
    { timeout: 15_000 }
  )

  it.scopedLive(
    "down for good, circuit breaker off: PoolTimeoutError at acquireTimeout ± ε carrying the last connect error",
    () =>
      Effect.gen(function*() {
        const cluster = yield* PgCluster.make({ start: false })
        const lag = yield* makeLagMeter
        const testPool = yield* clusterPool(cluster, "down-for-good", {
          minConnections: 0,
          maxConnections: 5,
          acquireTimeout,
          retryInterval: "50 millis",
          maxRetries: 100,
          circuitBreakerThreshold: Number.POSITIVE_INFINITY
        })
        const failed: Array<PoolEvent> = []
        yield* testPool.pool.events.pipe(
          Stream.runForEach((event) => Effect.sync(() => event._tag === "ConnectFailed" && failed.push(event))),
          Effect.forkScoped
        )
        yield* Effect.sleep("20 millis")
        const { elapsed, exit } = yield* timed(testPool.pool.withConnection(() => Effect.void))
        const error = failureOf(exit) as PoolTimeoutError
        console.log(`scenario 2, down for good, breaker off: ${error._tag} after ${Math.round(elapsed)} ms`)
        expect(error._tag).toBe("PoolTimeoutError")
        expect(elapsed).toBeGreaterThanOrEqual(acquireTimeout - epsilon)
        expect(elapsed).toBeLessThanOrEqual(acquireTimeout + (yield* lag.slack))
        const last = error.lastConnectError as ConnectError<ConnectionError.ConnectFailure>
        expect(last.cause).toMatchObject({ _tag: "ServerUnreachableError", code: "ECONNREFUSED", port: cluster.port })
        // the last attempt's error, as the pool saw it fail
        const lastEvent = failed.at(-1) as Extract<PoolEvent, { _tag: "ConnectFailed" }>
        expect(failed.length).toBeGreaterThanOrEqual(3)
        expect(last.cause).toBe(lastEvent.cause)
        expect(error.message).toContain(`last connection error: Cannot connect`)
        expect(error.message).toContain("ECONNREFUSED")
        // closed while the server is still down; started again only to count
        yield* closeAndCheck(testPool, Effect.zipRight(Effect.orDie(cluster.start), testPool.count))
      }),
    { timeout: 15_000 }
  )

  it.scopedLive(
    "down for good, circuit breaker on: the breaker opens, later callers fail at once with the last connect error, a probe reconnects",
    () =>
      Effect.gen(function*() {
        const cluster = yield* PgCluster.make({ start: false })
        const lag = yield* makeLagMeter
        const testPool = yield* clusterPool(cluster, "breaker", {
          minConnections: 0,
          maxConnections: 5,
          acquireTimeout,
          retryInterval: "50 millis",
          maxRetries: 10,
          circuitBreakerThreshold: 5,
          circuitBreakerProbeInterval: "100 millis"
        })
        const { pool } = testPool
        // The first caller's creation fails its 5th attempt (about 750 ms): the breaker opens and the creation
        // gives up with its own ConnectError, before acquireTimeout.
        const first = yield* timed(pool.withConnection(() => Effect.void))
        const firstError = failureOf(first.exit) as ConnectError<ConnectionError.ConnectFailure>
        expect(firstError).toMatchObject({ _tag: "ConnectError", attempts: 5, reason: "failed" })
        expect(firstError.cause).toMatchObject({ _tag: "ServerUnreachableError", code: "ECONNREFUSED" })
        expect(first.elapsed).toBeLessThan(acquireTimeout + (yield* lag.slack))
        expect((yield* pool.stats).circuitState).toBe("open")
        // while it is open, callers fail at once (not at acquireTimeout) with the last connect error
        for (let i = 0; i < 5; i++) {
          const later = yield* timed(pool.withConnection(() => Effect.void))
          const error = failureOf(later.exit) as ConnectError<ConnectionError.ConnectFailure>
          expect(later.elapsed).toBeLessThan(yield* lag.widen(50))
          expect(error).toMatchObject({ _tag: "ConnectError", circuitOpen: true })
          expect(error.cause).toMatchObject({ _tag: "ServerUnreachableError", code: "ECONNREFUSED" })
          expect(error.message).toContain("circuit breaker open")
          yield* Effect.sleep("60 millis")
        }
        // probes go on (one per 100 ms), each refused
        const probed = (yield* pool.stats).connectFailures
        expect(probed).toBeGreaterThanOrEqual(7)
        // back: a probe connects within an interval or so, and callers are served again
        yield* cluster.start
        const back = now()
        yield* eventually("the circuit to close", pool.stats, (s) => s.circuitState === "closed", 2000)
        expect(now() - back).toBeLessThan(100 + epsilon + (yield* lag.slack))
        expect(yield* pool.sql<{ one: number }>`SELECT 1 AS one`).toEqual([{ one: 1 }])
        yield* closeAndCheck(testPool, testPool.count)
      }),
    { timeout: 15_000 }
  )
})
