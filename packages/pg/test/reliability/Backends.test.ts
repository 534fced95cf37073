/**
 * Scenarios 3, 4 and 10 of docs/fault-scenarios.md on PostgreSQL, each on a disposable cluster: idle backends
 * killed (`pg_terminate_backend`), a backend killed in the middle of a query, and a server at
 * `max_connections`.
 */
import type { ConnectError } from "@dbpool/core/PoolError"
import type { PoolEvent } from "@dbpool/core/PoolEvent"
import type { ConnectionError } from "@dbpool/sql"
import { PgCluster, Reliability } from "@dbpool/testing"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Stream } from "effect"
import Pg from "pg"
import { closeAndCheck, clusterPool, now, preparePgClusters, serverMatchesPool } from "./utils.js"

const { eventually, failureOf, makeLagMeter, sampleSize, timed, watchUnhandled } = Reliability

const healthCheckInterval = 200

preparePgClusters()

describe("scenario 3: idle backends killed", () => {
  /** A cluster of the test's own and a pool of 5 connections on it, once the server counts them. */
  const idlePool = (label: string) =>
    Effect.gen(function*() {
      const cluster = yield* PgCluster.make()
      const testPool = yield* clusterPool(cluster, label, {
        minConnections: 5,
        maxConnections: 10,
        healthCheckInterval: `${healthCheckInterval} millis`,
        // validate on every borrow from the idle set
        validateAfterIdle: 0,
        acquireTimeout: "1 second",
        retryInterval: "50 millis"
      })
      yield* eventually("5 connections on the server", testPool.count, (n) => n === 5)
      return { cluster, testPool }
    })

  it.scopedLive(
    "with nobody borrowing: no crash, no unhandled error, back to min within one health-check period",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        const { cluster, testPool } = yield* idlePool("idle-killed")
        const lag = yield* makeLagMeter
        const { count, name, pool } = testPool
        const before = yield* pool.stats
        const dead = new Set((yield* pool.metrics).map((c) => c.id))
        const size = yield* sampleSize(pool.stats)
        // the pool's account of what happened, timed, and shown if a bound is missed
        const events: Array<{ readonly at: number; readonly event: PoolEvent }> = []
        yield* pool.events.pipe(
          Stream.runForEach((event) => Effect.sync(() => events.push({ at: now(), event }))),
          Effect.forkScoped
        )
        yield* Effect.sleep("20 millis")

        // Timed from the moment the kill is asked: the pool hears of the ends (and replaces the connections)
        // while pg_terminate_backend's own answer is still on its way.
        const killed = now()
        expect(yield* Effect.orDie(cluster.terminateBackends(name))).toBe(5)
        const [after] = yield* eventually(
          "5 new connections, and only those on the server",
          Effect.zip(pool.stats, count),
          ([stats, n]) =>
            stats.connectionsCreated === before.connectionsCreated + 5 && stats.totalConnections === 5 && n === 5,
          3000
        )
        yield* size.stop
        const timeline = events.map(({ at, event }) => `${Math.round(at - killed)} ms ${JSON.stringify(event)}`)
          .join("\n")
        const closedAt = events.filter(({ event }) => event._tag === "ConnectionClosed" && dead.has(event.connectionId))
        const created = events.filter((e) => e.event._tag === "ConnectionCreated" && e.at > killed)
        expect(closedAt.length, timeline).toBe(5)
        expect(created.length, timeline).toBe(5)
        const detected = Math.max(...closedAt.map((e) => e.at)) - killed
        const refilled = Math.max(...created.map((e) => e.at)) - killed
        const connectTimes = created.map(({ event }) => (event as { createTime: number }).createTime).sort((a, b) =>
          b - a
        )
        console.log(
          `scenario 3: dead connections closed ${Math.round(detected)} ms after the kill, ` +
            `5 new ones ${Math.round(refilled)} ms after (connects of ${connectTimes.join(", ")} ms)`
        )
        // The clients report their backends' end and the pool closes them at once (ResourcePool.discard); at the
        // latest a health check would find them within one period (+ ε). The refill starts at once: it takes what
        // the connects take, two waves of maxConnecting (4) for 5 connections.
        const slack = yield* lag.slack
        expect(detected, timeline).toBeLessThanOrEqual(healthCheckInterval + slack)
        expect(refilled, timeline).toBeLessThanOrEqual(detected + connectTimes[0]! + connectTimes[1]! + slack)
        // found by the health checks (or, for those whose end the client reported first, as broken)
        const closed = after.connectionsClosed
        expect(closed.unhealthy + closed.broken).toBe(5)
        expect(after.failedRequests).toBe(0)
        expect(size.violations).toEqual([])
        expect(yield* pool.sql<{ one: number }>`SELECT 1 AS one`).toEqual([{ one: 1 }])
        yield* closeAndCheck(testPool, count)
        expect(unhandled).toEqual([])
      }),
    { timeout: 15_000 }
  )

  it.scopedLive("with validate-on-borrow, callers right after the kill see no error", () =>
    Effect.gen(function*() {
      const unhandled = yield* watchUnhandled
      const { cluster, testPool } = yield* idlePool("idle-killed-busy")
      const { count, name, pool } = testPool

      for (let round = 0; round < 3; round++) {
        // 5, then as many as the bursts below opened (up to 10)
        expect(yield* Effect.orDie(cluster.terminateBackends(name))).toBeGreaterThanOrEqual(5)
        // at once: the clients may not even have read their backend's goodbye yet
        const results = yield* Effect.forEach(
          Array.from({ length: 10 }, (_, i) => i),
          () =>
            Effect.forEach(
              [1, 2, 3, 4, 5],
              () => Effect.exit(pool.sql<{ one: number }>`SELECT 1 AS one`)
            ),
          { concurrency: "unbounded" }
        )
        expect(results.flat().filter(Exit.isFailure)).toEqual([])
        yield* eventually("our connections back on the server", count, (n) => n >= 5)
      }
      const stats = yield* pool.stats
      expect(stats.failedRequests).toBe(0)
      expect(stats.totalConnections).toBeLessThanOrEqual(10)
      yield* closeAndCheck(testPool, count)
      expect(unhandled).toEqual([])
    }), { timeout: 15_000 })
})

describe("scenario 4: a backend killed mid-query", () => {
  it.scopedLive(
    "that query fails with ConnectionLostError, its connection is closed and never reused, others unaffected",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        const cluster = yield* PgCluster.make()
        const lag = yield* makeLagMeter
        const testPool = yield* clusterPool(cluster, "mid-query", {
          minConnections: 3,
          maxConnections: 5,
          acquireTimeout: "1 second",
          retryInterval: "50 millis"
        })
        const { count, pool } = testPool
        yield* eventually("3 connections on the server", count, (n) => n === 3)

        // 4 fibers loop on their own statements and note which backend and which connection served them
        const seen: Array<{ readonly at: number; readonly pid: number; readonly id: string }> = []
        const failures: Array<unknown> = []
        let running = true
        const loop = Effect.gen(function*() {
          while (running) {
            const exit = yield* Effect.exit(pool.withConnection((conn) =>
              Effect.map(conn.sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`, (rows) => {
                seen.push({ at: now(), pid: rows[0]!.pid, id: conn.id })
              })
            ))
            if (Exit.isFailure(exit)) {
              failures.push(exit.cause)
            }
            yield* Effect.sleep("2 millis")
          }
        })
        const others = yield* Effect.forEach([1, 2, 3, 4], () =>
          Effect.fork(loop))

        const running$ = yield* Deferred.make<{ readonly pid: number; readonly id: string }>()
        const victim = yield* Effect.fork(pool.withConnection((conn) =>
          Effect.gen(function*() {
            const [{ pid }] = yield* conn.sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`
            yield* Deferred.succeed(running$, { pid, id: conn.id })
            const query = yield* timed(conn.sql`SELECT pg_sleep(10)`)
            // the same lease: the connection is known gone, the driver is not asked again
            const next = yield* Effect.exit(conn.sql`SELECT 1`)
            return { query, next }
          })
        ))
        const { id, pid } = yield* Deferred.await(running$)
        yield* Effect.sleep("100 millis")
        const killed = now()
        expect(yield* Effect.orDie(cluster.sql("SELECT pg_terminate_backend($1) AS ok", [pid]))).toEqual([{ ok: true }])
        const { next, query } = yield* Fiber.join(victim)
        const failedAfter = now() - killed
        const returned = now()
        yield* Effect.sleep("300 millis")
        running = false
        yield* Fiber.joinAll(others)

        const error = failureOf(query.exit)
        expect(error._tag).toBe("SqlError")
        expect(error.cause).toMatchObject({ _tag: "ConnectionLostError", system: "postgresql", code: "57P01" })
        // at once: ε, widened by how late this process got to run (118 ms once with two other suites running)
        expect(failedAfter).toBeLessThan(yield* lag.slack)
        const nextError = failureOf(next)
        expect(nextError.cause).toMatchObject({ _tag: "ConnectionLostError" })
        expect(nextError.message).toContain(`Connection ${id} is unusable`)
        // others unaffected: no failure, and they kept going after the kill
        expect(failures).toEqual([])
        // (how many in 300 ms depends on the machine's load; that they went on does not)
        expect(seen.filter((s) => s.at > returned).length).toBeGreaterThanOrEqual(4)
        // the connection is closed, not reused
        expect(seen.filter((s) => s.at > returned && (s.pid === pid || s.id === id))).toEqual([])
        const stats = yield* pool.stats
        expect(stats.connectionsClosed.broken).toBe(1)
        expect(stats.connectionsClosed.unhealthy).toBe(0)
        yield* serverMatchesPool(testPool, count, (s) => s.pendingConnections === 0 && s.closingConnections === 0)
        yield* closeAndCheck(testPool, count)
        expect(unhandled).toEqual([])
      }),
    { timeout: 15_000 }
  )
})

describe("scenario 10: a server at max_connections", () => {
  /** Sessions that hold the cluster's slots until the scope closes (or `release` ends one). */
  const holdSlots = (port: number, n: number) =>
    Effect.acquireRelease(
      Effect.promise(async () => {
        const clients: Array<Pg.Client> = []
        for (let i = 0; i < n; i++) {
          const client = new Pg.Client({
            host: "127.0.0.1",
            port,
            user: "postgres",
            database: "test",
            application_name: "dbpool-rel-blocker"
          })
          client.on("error", () => {})
          await client.connect()
          clients.push(client)
        }
        return clients
      }),
      (clients) => Effect.promise(() => Promise.allSettled(clients.map((c) => c.end())))
    )

  it.scopedLive(
    "TooManyConnectionsError 53300, retried with the pool's backoff; success once a connection frees up",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        // postgres is a superuser: without reserved slots, it is refused at max_connections like anyone
        const cluster = yield* PgCluster.make({ maxConnections: 4, settings: { superuser_reserved_connections: 0 } })
        const config = {
          minConnections: 0,
          maxConnections: 2,
          acquireTimeout: "2 seconds",
          retryInterval: "50 millis",
          maxRetries: 3
        } as const
        const blockers = yield* holdSlots(cluster.port, 4)
        const lag = yield* makeLagMeter

        // full: the documented behaviour is to retry (a slot may free up), then fail with the typed cause
        const full = yield* clusterPool(cluster, "full", config)
        const refused = yield* timed(full.pool.withConnection(() => Effect.void))
        const error = failureOf(refused.exit) as ConnectError<ConnectionError.ConnectFailure>
        expect(error).toMatchObject({ _tag: "ConnectError", attempts: 4, reason: "failed" })
        expect(error.cause).toMatchObject({ _tag: "TooManyConnectionsError", system: "postgresql", code: "53300" })
        expect(error.message).toContain("The PostgreSQL server refuses more connections (53300)")
        expect(error.message).toContain("sorry, too many clients already")
        // attempts at about 0, 50, 150, 350 ms: failed on the last one, long before acquireTimeout
        expect(refused.elapsed).toBeGreaterThanOrEqual(200)
        expect(refused.elapsed).toBeLessThan(yield* lag.widen(1000))
        expect((yield* full.close).totalConnections).toBe(0)

        // success once connections free up: one blocker leaves 200 ms after the caller asked
        const freed = yield* clusterPool(cluster, "full", config)
        const asked = now()
        yield* Effect.fork(
          Effect.zipRight(Effect.sleep("200 millis"), Effect.promise(() => blockers[0]!.end()))
        )
        const served = yield* freed.pool.sql<{ one: number }>`SELECT 1 AS one`
        const elapsed = now() - asked
        expect(served).toEqual([{ one: 1 }])
        console.log(`scenario 10: served ${Math.round(elapsed)} ms after asking, a slot freed at 200 ms`)
        expect(elapsed).toBeGreaterThanOrEqual(200)
        expect(elapsed).toBeLessThan(yield* lag.widen(2000))
        const stats = yield* freed.pool.stats
        expect(stats.connectFailures).toBeGreaterThanOrEqual(1)
        expect(stats.totalConnections).toBe(1)

        // the other slots free: counting needs one
        yield* Effect.promise(() => Promise.all(blockers.slice(1).map((c) => c.end())))
        expect(yield* freed.count).toBe(1)
        yield* closeAndCheck(freed, freed.count)
        expect(unhandled).toEqual([])
      }),
    { timeout: 15_000 }
  )
  it.scopedLive(
    "a pool with connections when the server fills up: they keep serving and callers queue behind them (the open circuit fails nobody while connections are out); all served again once slots free up",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        // 5 slots: the pool's 2, 3 blockers; once they leave, the pool's 4 and one for counting
        const cluster = yield* PgCluster.make({ maxConnections: 5, settings: { superuser_reserved_connections: 0 } })
        const testPool = yield* clusterPool(cluster, "full-busy", {
          minConnections: 2,
          maxConnections: 4,
          acquireTimeout: "2 seconds",
          retryInterval: "50 millis",
          circuitBreakerProbeInterval: "100 millis"
        })
        const { count, pool } = testPool
        yield* eventually("2 connections on the server", count, (n) => n === 2)
        const blockers = yield* holdSlots(cluster.port, 3)
        const size = yield* sampleSize(pool.stats)

        // 6 fibers on a pool of 2 that cannot grow: each statement holds its connection 10 ms
        const calls: Array<{ readonly asked: number; readonly ended: number; readonly error?: any }> = []
        const busy = (until: number) =>
          Effect.gen(function*() {
            while (now() < until) {
              const asked = now()
              const exit = yield* Effect.exit(pool.withConnection((conn) => conn.sql`SELECT pg_sleep(0.01)`))
              if (Exit.isSuccess(exit)) calls.push({ asked, ended: now() })
              else {
                calls.push({ asked, ended: now(), error: failureOf(exit) })
                yield* Effect.sleep("10 millis")
              }
            }
          })
        const start = now()
        yield* Effect.forEach([1, 2, 3, 4, 5, 6], () => busy(start + 800), { concurrency: "unbounded" })
        const full = calls.splice(0)
        const failed = full.filter((c) => c.error !== undefined)
        console.log(
          `scenario 10: server full, pool of 2 open: ${full.length - failed.length} served, ${failed.length} failed`
        )
        expect(full.length - failed.length).toBeGreaterThan(20)
        // A failure can only be a creation that used up its retries before the circuit opened, typed with the
        // server's refusal; once the circuit is open, callers wait for the two connections out instead of failing.
        for (const { error } of failed) {
          expect(error).toMatchObject({ _tag: "ConnectError" })
          expect(error.cause).toMatchObject({ _tag: "TooManyConnectionsError", code: "53300" })
        }
        expect(failed.filter((c) => c.error.circuitOpen === true)).toEqual([])
        expect((yield* pool.stats).circuitState).toBe("open")
        expect((yield* pool.stats).totalConnections).toBe(2)

        // slots free up: a probe connects, the pool grows, nobody fails
        yield* Effect.promise(() => Promise.all(blockers.map((c) => c.end())))
        yield* eventually("the circuit to close", pool.stats, (s) => s.circuitState === "closed", 1000)
        const again = now()
        yield* Effect.forEach([1, 2, 3, 4, 5, 6], () => busy(again + 300), { concurrency: "unbounded" })
        expect(calls.filter((c) => c.error !== undefined)).toEqual([])
        yield* size.stop
        expect(size.violations).toEqual([])
        expect((yield* pool.stats).totalConnections).toBe(4)
        yield* serverMatchesPool(testPool, count)
        yield* closeAndCheck(testPool, count)
        expect(unhandled).toEqual([])
      }),
    { timeout: 15_000 }
  )
})
