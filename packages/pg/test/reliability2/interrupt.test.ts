/**
 * docs/fault-scenarios.md scenario 8, interrupted during connect (node-postgres #3543, pgx #1259): a FaultProxy with
 * per-chunk latency in front of the main server makes each connect slow. A caller interrupted while its
 * connection is being opened returns at once; the connect in flight is not aborted, and the late
 * connection ends idle, counted once (by the pool, the proxy and the server). Then a storm: 1,000
 * acquisitions with random 0-2 ms timeouts against that slow server never push the server's count of our
 * backends past the maximum.
 */
import { FaultProxy } from "@dbpool/testing"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Schedule } from "effect"
import Pg from "pg"
import {
  eventually,
  expectWithinMax,
  lag,
  mainServer,
  makePool,
  random,
  sampleSize,
  seeds,
  serverCounter,
  since,
  unhandledErrors
} from "./utils.js"

/** How long one plain node-postgres connect through the proxy takes. */
const timeConnect = (port: number) =>
  Effect.promise(async () => {
    const client = new Pg.Client({ host: "127.0.0.1", port, user: "postgres", database: "test" })
    const start = performance.now()
    await client.connect()
    const took = performance.now() - start
    await client.end()
    return took
  })

describe("scenario 8: interrupted during connect", () => {
  it.scopedLive(
    "the interrupt returns at once; the late connection ends idle, counted once",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* unhandledErrors
        const proxy = yield* FaultProxy.make({ target: mainServer, latency: 50 })
        const connectTime = yield* timeConnect(proxy.port)
        console.log(`scenario 8: one connect through the proxy (50 ms a chunk) takes ${connectTime.toFixed(0)} ms`)
        expect(connectTime).toBeGreaterThanOrEqual(90)
        const acceptedBefore = yield* proxy.accepted
        const counter = yield* serverCounter()
        const { close, name, pool } = yield* makePool("interrupt-connect", {
          host: "127.0.0.1",
          port: proxy.port,
          database: "test",
          username: "postgres",
          pool: { minConnections: 0, maxConnections: 2, connectTimeout: "2 seconds", acquireTimeout: "2 seconds" }
        }, counter.count)
        const samples = yield* sampleSize(pool)

        let ran = false
        const caller = yield* Effect.fork(pool.withConnection(() => Effect.sync(() => (ran = true))))
        yield* Effect.sleep("25 millis")
        expect(yield* pool.stats).toMatchObject({ pendingConnections: 1, waitingRequests: 1, totalConnections: 0 })
        const start = performance.now()
        const exit = yield* Fiber.interrupt(caller)
        const took = since(start)
        console.log(`scenario 8: the interrupt at 25 ms returned after ${took} ms`)
        expect(took).toBeLessThan(lag.slack())
        expect(Exit.isInterrupted(exit)).toBe(true)
        expect(ran).toBe(false)
        // The connect was not aborted: the connection arrives late and goes idle, nobody's.
        expect((yield* pool.stats).pendingConnections).toBe(1)
        yield* eventually("the late connection", pool.stats, (s) => s.connectionsCreated === 1, 2000)
        yield* eventually("the late connection in pg_stat_activity", counter.count(name), (n) => n === 1, 2000)
        yield* Effect.sleep("200 millis")
        expect(yield* pool.stats).toMatchObject({
          totalConnections: 1,
          idleConnections: 1,
          activeConnections: 0,
          pendingConnections: 0,
          waitingRequests: 0,
          cancelledRequests: 1,
          connectionsCreated: 1,
          connectFailures: 0
        })
        expect(yield* counter.count(name)).toBe(1)
        expect((yield* proxy.accepted) - acceptedBefore).toBe(1)
        expect(yield* proxy.liveSockets).toBe(1)

        // It serves the next caller, without a new connect.
        const rows = yield* pool.withConnection((conn) => conn.sql<{ one: number }>`SELECT 1 AS one`)
        expect(rows).toEqual([{ one: 1 }])
        expect((yield* pool.stats).connectionsCreated).toBe(1)
        expectWithinMax(samples, 2)
        yield* close
        yield* eventually("no socket left at the proxy", proxy.liveSockets, (n) => n === 0, 2000)
        yield* unhandled.assertNone
      }),
    15_000
  )

  // The slow server of the storm is slow on the server side (onConnect sleeps 50 ms in a session the server
  // already counts), not behind the FaultProxy: the proxy ends a client's socket as soon as the client ends
  // its side and forwards the FIN to the server only after its latency, so node-postgres' end() resolves
  // while the backend lives on for that latency, and the server would count connections the pool has
  // rightly closed (see the report). Through a real network, end() resolves once the server closed.
  it.scopedLive(
    "storm: 1,000 acquisitions with random 0-2 ms timeouts against a slow server never exceed max on the server",
    () =>
      Effect.gen(function*() {
        const seed = seeds(1)[0]!
        console.log(`scenario 8 storm: seed ${seed} (rerun with DBPOOL_SEED=${seed})`)
        const rng = random(seed)
        const unhandled = yield* unhandledErrors
        const max = 5
        const counter = yield* serverCounter()
        const { close, name, pool } = yield* makePool("interrupt-storm", {
          onConnect: (client) => Effect.promise(() => client.query("SELECT pg_sleep(0.05)")),
          pool: { minConnections: 0, maxConnections: max, connectTimeout: "2 seconds", acquireTimeout: "2 seconds" }
        }, counter.count)
        const samples = yield* sampleSize(pool)
        let serverMax = 0
        let serverSamples = 0
        yield* Effect.forkScoped(Effect.repeat(
          Effect.map(counter.count(name), (n) => {
            serverSamples++
            serverMax = Math.max(serverMax, n)
          }),
          Schedule.spaced("2 millis")
        ))

        const start = performance.now()
        const settle: Array<number> = []
        const fibers: Array<Fiber.RuntimeFiber<Exit.Exit<unknown, unknown>>> = []
        for (let i = 0; i < 1000; i++) {
          const timeout = rng.int(0, 2)
          fibers.push(
            yield* Effect.fork(Effect.suspend(() => {
              const asked = performance.now()
              return pool.withConnection((conn) => conn.sql`SELECT 1`).pipe(
                Effect.timeout(timeout),
                Effect.exit,
                Effect.tap(() => Effect.sync(() => settle.push(performance.now() - asked)))
              )
            }))
          )
          // Arrivals spread over about a second, so that some find a connection and are cut mid-query.
          if (i % 3 === 2) yield* Effect.sleep("1 millis")
        }
        // Every acquisition settles, within a bound.
        const exits = yield* Effect.forEach(fibers, Fiber.join).pipe(
          Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("an acquisition did not settle") })
        )
        settle.sort((a, b) => a - b)
        const ok = exits.filter(Exit.isSuccess).length
        const timedOut = exits.filter((e) =>
          Exit.isFailure(e) &&
          Cause.failureOption(e.cause).pipe((o) => o._tag === "Some" && (o.value as any)._tag === "TimeoutException")
        ).length
        const stats = yield* pool.stats
        console.log(
          `scenario 8 storm: ${exits.length} settled in ${since(start)} ms (${ok} ran, ${timedOut} timed out; ` +
            `settle p50 ${settle[500]!.toFixed(1)} ms, max ${settle[999]!.toFixed(1)} ms); ` +
            `connections created ${stats.connectionsCreated}, closed ${JSON.stringify(stats.connectionsClosed)}; ` +
            `server count max ${serverMax} over ${serverSamples} samples`
        )
        expect(exits.length).toBe(1000)
        // Only two outcomes: the statement ran, or the caller's own timeout; never a defect or a pool error.
        expect(ok + timedOut).toBe(1000)
        expect(settle[999]!).toBeLessThan(2000 + lag.slack())
        expect(stats.cancelledRequests).toBeGreaterThan(0)
        expect(serverSamples).toBeGreaterThan(50)
        expect(serverMax).toBeLessThanOrEqual(max)
        expectWithinMax(samples, max)

        // The pool still works, and the server agrees with it.
        expect(yield* pool.withConnection((conn) => conn.sql<{ one: number }>`SELECT 1 AS one`)).toEqual([{ one: 1 }])
        const settled = yield* eventually(
          "the pool and the server to agree",
          Effect.zip(pool.stats, counter.count(name)),
          ([s, n]) => s.pendingConnections === 0 && s.closingConnections === 0 && s.totalConnections === n,
          3000
        )
        expect(settled[0].totalConnections).toBeLessThanOrEqual(max)
        yield* close
        yield* unhandled.assertNone
      }),
    30_000
  )
})
