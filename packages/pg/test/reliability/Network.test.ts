/**
 * Scenarios 5, 6 and 9 of docs/fault-scenarios.md on PostgreSQL: network faults made by a FaultProxy in front of a
 * disposable cluster. A blackhole during connect, a blackhole on an established connection (queryTimeout,
 * and a caller giving up with Effect.timeout), and a slow network (250 ms a chunk) against connectTimeout.
 */
import type * as PoolConfig from "@dbpool/core/PoolConfig"
import type { ConnectError, PoolTimeoutError } from "@dbpool/core/PoolError"
import type { PoolEvent } from "@dbpool/core/PoolEvent"
import { FaultProxy, PgCluster, Reliability } from "@dbpool/testing"
import { describe, expect, it } from "@effect/vitest"
import { Cause, type Duration, Effect, Exit, Redacted, Stream } from "effect"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"
import {
  allBackends,
  clientProcesses,
  closeAndCheck,
  clusterPool,
  lag,
  makePool,
  now,
  preparePgClusters,
  serverMatchesPool,
  type TestPool
} from "./utils.js"

const { epsilon, eventually, failureOf, timed, watchUnhandled } = Reliability

/** The URL of the proxy, for the cluster's database. */
const proxyUrl = (proxy: FaultProxy.FaultProxy, user = "postgres", password?: string) =>
  Redacted.make(
    `postgres://${user}${password === undefined ? "" : `:${password}`}@127.0.0.1:${proxy.port}/test`
  )

/** Within `bound` ± ε. */
const expectNear = (elapsed: number, bound: number) => {
  expect(elapsed).toBeGreaterThanOrEqual(bound - epsilon)
  expect(elapsed, `event-loop lag up to ${lag.max()} ms`).toBeLessThanOrEqual(bound + lag.slack())
}

preparePgClusters()

describe("scenario 5: a blackhole during connect", () => {
  /** A cluster behind a proxy that swallows everything, and a pool through it with no connection yet. */
  const blackholed = (label: string, timeouts: Pick<PoolConfig.Input, "connectTimeout" | "acquireTimeout">) =>
    Effect.gen(function*() {
      const cluster = yield* PgCluster.make()
      const proxy = yield* FaultProxy.make({ target: cluster, mode: "blackhole" })
      const testPool = yield* clusterPool(cluster, label, {
        minConnections: 0,
        maxConnections: 2,
        maxRetries: 0,
        ...timeouts
      }, { url: proxyUrl(proxy) })
      const acquired = yield* timed(testPool.pool.withConnection(() => Effect.void))
      return { proxy, testPool, ...acquired }
    })

  it.scopedLive(
    "connectTimeout first: ConnectError timeout at connectTimeout ± ε, no socket left, works when healed",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        const { elapsed, exit, proxy, testPool } = yield* blackholed("blackhole-connect", {
          connectTimeout: "500 millis",
          acquireTimeout: "2 seconds"
        })
        const error = failureOf(exit) as ConnectError
        console.log(
          `scenario 5: ${error._tag} (${error.reason}) after ${
            Math.round(elapsed)
          } ms (event-loop lag up to ${lag.max()} ms)`
        )
        expect(error).toMatchObject({ _tag: "ConnectError", reason: "timeout", attempts: 1 })
        expectNear(elapsed, 500)
        expect(yield* proxy.accepted).toBe(1)
        // the interrupted connect closed its socket
        yield* eventually("no socket open at the proxy", proxy.liveSockets, (n) => n === 0, lag.slack())

        yield* proxy.setMode("pass")
        expect(yield* testPool.pool.sql<{ one: number }>`SELECT 1 AS one`).toEqual([{ one: 1 }])
        expect(yield* testPool.count).toBe(1)
        expect(yield* proxy.liveSockets).toBe(1)
        yield* closeAndCheck(testPool, testPool.count)
        expect(yield* proxy.liveSockets).toBe(0)
        expect(unhandled).toEqual([])
      }),
    { timeout: 15_000 }
  )

  it.scopedLive(
    "acquireTimeout first: PoolTimeoutError at acquireTimeout ± ε; the connect ends at connectTimeout",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        const { elapsed, exit, proxy, testPool } = yield* blackholed("blackhole-acquire", {
          connectTimeout: "1 second",
          acquireTimeout: "600 millis"
        })
        const error = failureOf(exit) as PoolTimeoutError
        expect(error._tag).toBe("PoolTimeoutError")
        expectNear(elapsed, 600)
        // The caller's timeout does not abort the connect (pgx #1259): it runs to connectTimeout, then its
        // socket is closed.
        expect(yield* proxy.liveSockets).toBe(1)
        yield* eventually("no socket open at the proxy", proxy.liveSockets, (n) => n === 0, 400 + lag.slack())
        const stats = yield* testPool.pool.stats
        expect(stats.totalConnections + stats.pendingConnections).toBe(0)

        yield* proxy.setMode("pass")
        expect(yield* testPool.pool.sql<{ one: number }>`SELECT 1 AS one`).toEqual([{ one: 1 }])
        yield* closeAndCheck(testPool, testPool.count)
        expect(yield* proxy.liveSockets).toBe(0)
        expect(unhandled).toEqual([])
      }),
    { timeout: 15_000 }
  )
})

describe("scenario 6: a blackhole on an established connection", () => {
  /** A pool through a proxy on a cluster of the test's own, with one connection that served; then the blackhole. */
  const established = (label: string, queryTimeout?: Duration.DurationInput) =>
    Effect.gen(function*() {
      const cluster = yield* PgCluster.make()
      const proxy = yield* FaultProxy.make({ target: cluster })
      const testPool = yield* clusterPool(cluster, label, {
        minConnections: 1,
        maxConnections: 3,
        acquireTimeout: "1 second",
        connectTimeout: "500 millis",
        retryInterval: "50 millis"
      }, { url: proxyUrl(proxy), ...(queryTimeout === undefined ? {} : { queryTimeout }) })
      expect(yield* testPool.pool.sql<{ one: number }>`SELECT 1 AS one`).toEqual([{ one: 1 }])
      const [before] = yield* testPool.pool.metrics
      yield* proxy.setMode("blackhole")
      return { proxy, testPool, before: before! }
    })

  /** Healed: the server counts what the pool holds; closed, nothing is left on the server nor at the proxy. */
  const healedEnd = (proxy: FaultProxy.FaultProxy, testPool: TestPool & { readonly count: Effect.Effect<number> }) =>
    Effect.gen(function*() {
      yield* serverMatchesPool(testPool, testPool.count, (s) => s.closingConnections === 0)
      yield* closeAndCheck(testPool, testPool.count)
      yield* eventually("no socket open at the proxy", proxy.liveSockets, (n) => n === 0, 1000)
    })

  it.scopedLive(
    "with queryTimeout: the statement fails on time with QueryTimeoutError, its connection is closed",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        const { before, proxy, testPool } = yield* established("blackhole-query", "300 millis")
        const { pool } = testPool
        const { elapsed, exit } = yield* timed(pool.sql`SELECT 1`)
        const error = failureOf(exit)
        console.log(`scenario 6: ${error._tag}/${(error.cause as any)?._tag} after ${Math.round(elapsed)} ms`)
        expect(error._tag).toBe("SqlError")
        expect(error.cause).toMatchObject({ _tag: "QueryTimeoutError", system: "postgresql" })
        expectNear(elapsed, 300)
        // that connection is closed (its socket too), never lent again
        // Held for its cancel's verdict, which a silent network never gives: closed once the 5 s settle bound passes.
        const stats = yield* eventually(
          "the connection closed",
          pool.stats,
          (s) => s.connectionsClosed.broken === 1,
          9000
        )
        expect((yield* pool.metrics).map((c) => c.id)).not.toContain(before.id)
        expect(stats.connectionsClosed.unhealthy).toBe(0)

        // the pool stays usable: once the network is back, a new connection serves
        yield* proxy.setMode("pass")
        const [{ id }] = yield* pool.withConnection((conn) =>
          Effect.map(conn.sql<{ one: number }>`SELECT 1 AS one`, () => [{ id: conn.id }] as const)
        )
        expect(id).not.toBe(before.id)
        yield* healedEnd(proxy, testPool)
        expect(unhandled).toEqual([])
      }),
    { timeout: 15_000 }
  )

  it.scopedLive(
    "a caller that gives up (Effect.timeout) invalidates its connection; the pool stays usable",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        const { before, proxy, testPool } = yield* established("blackhole-timeout")
        const { pool } = testPool
        const { elapsed, exit } = yield* timed(Effect.timeout(pool.sql`SELECT 1`, "300 millis"))
        expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(false)
        expect(failureOf(exit)._tag).toBe("TimeoutException")
        console.log(`scenario 6: Effect.timeout returned after ${Math.round(elapsed)} ms`)
        expectNear(elapsed, 300)
        // Held for its cancel's verdict, which a silent network never gives: closed once the 5 s settle bound passes.
        const stats = yield* eventually(
          "the connection closed",
          pool.stats,
          (s) => s.connectionsClosed.broken === 1,
          9000
        )
        expect(stats.activeConnections).toBe(0)
        expect((yield* pool.metrics).map((c) => c.id)).not.toContain(before.id)

        yield* proxy.setMode("pass")
        expect(yield* pool.sql<{ one: number }>`SELECT 1 AS one`).toEqual([{ one: 1 }])
        yield* healedEnd(proxy, testPool)
        expect(unhandled).toEqual([])
      }),
    { timeout: 25_000 }
  )
})

/**
 * A "server" that logs anyone in (AuthenticationOk, ReadyForQuery) and then goes silent, like a peer behind
 * a network partition: it never answers, never closes, and keeps its side open when the client closes
 * its own (the FaultProxy's blackhole acknowledges a close at once, a partition does not). `closed` has the
 * time its side saw the client's socket gone for good.
 */
const silentServer = Effect.acquireRelease(
  Effect.async<{
    readonly port: number
    readonly closed: Array<number>
    /** Sockets the server still has open, cancel requests included. */
    readonly open: () => number
    readonly close: () => Promise<void>
  }>(
    (resume) => {
      const closed: Array<number> = []
      const sockets = new Set<Net.Socket>()
      const server = Net.createServer({ allowHalfOpen: true }, (socket) => {
        sockets.add(socket)
        socket.on("error", () => {})
        socket.on("close", () => {
          sockets.delete(socket)
          closed.push(now())
        })
        // After the client's FIN the peer keeps talking: a client socket still open takes it in silently,
        // a destroyed one answers with a reset, and the server side closes.
        socket.on("end", () => {
          const timer = setInterval(() => socket.destroyed ? clearInterval(timer) : socket.write("N"), 20)
          socket.on("close", () => clearInterval(timer))
        })
        socket.once("data", (first) => {
          // a CancelRequest (length 16, code 80877102) is swallowed too: no answer, no close
          if (first.length >= 8 && first.readInt32BE(4) === 80877102) return
          const ok = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0]) // 'R' AuthenticationOk
          const key = Buffer.from([0x4b, 0, 0, 0, 12, 0, 0, 0x30, 0x39, 0, 0, 0, 42]) // 'K' BackendKeyData
          const ready = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]) // 'Z' ReadyForQuery, idle
          socket.write(Buffer.concat([ok, key, ready]))
        })
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({
          port: (server.address() as Net.AddressInfo).port,
          closed,
          open: () => sockets.size,
          close: () =>
            new Promise<void>((done) => {
              for (const socket of sockets) socket.destroy()
              server.close(() => done())
            })
        })))
    }
  ),
  (silent) => Effect.promise(silent.close)
)

/** A pool on the silent server (which logs anyone in), with one connection at start. */
const silentPool = (port: number, pool: PoolConfig.Input, queryTimeout?: Duration.DurationInput) =>
  makePool({
    host: "127.0.0.1",
    port,
    username: "postgres",
    database: "test",
    ...(queryTimeout === undefined ? {} : { queryTimeout }),
    pool: { minConnections: 1, ...pool }
  })

describe("scenario 6: closing a connection whose peer went silent", () => {
  for (
    const [label, connectTimeout, bound] of [["the driver's 2 s bound", "10 seconds", 2000], [
      "connectTimeout (500 ms)",
      "500 millis",
      500
    ]] as const
  ) {
    it.scopedLive(
      `the socket is destroyed at ${label}, not left open with the pool counting it closed`,
      () =>
        Effect.gen(function*() {
          const silent = yield* silentServer
          const testPool = yield* silentPool(silent.port, { maxConnections: 1, connectTimeout })
          expect((yield* testPool.pool.stats).totalConnections).toBe(1)
          const started = now()
          const stats = yield* testPool.close
          const closedIn = now() - started
          expect(stats.totalConnections).toBe(0)
          // the pool waited for the close up to its bound, and the socket is gone with it
          expectNear(closedIn, bound)
          yield* eventually(
            "the server to see the socket closed",
            Effect.sync(() => silent.closed.length),
            (n) => n === 1,
            lag.slack()
          )
          console.log(
            `scenario 6: a silent peer's socket closed ${
              Math.round(silent.closed[0]! - started)
            } ms after the pool began closing`
          )
        }),
      { timeout: 10_000 }
    )
  }
})

describe("scenario 6: a statement to a peer gone silent, cancel request included", () => {
  it.scopedLive(
    "with queryTimeout: fails at queryTimeout ± ε though the cancel cannot get through",
    () =>
      Effect.gen(function*() {
        const silent = yield* silentServer
        const testPool = yield* silentPool(
          silent.port,
          { maxConnections: 2, connectTimeout: "500 millis" },
          "300 millis"
        )
        const { elapsed, exit } = yield* timed(testPool.pool.sql`SELECT 1`)
        const error = failureOf(exit)
        console.log(
          `scenario 6: silent peer: ${error._tag}/${(error.cause as any)?._tag} after ${Math.round(elapsed)} ms`
        )
        expect(error.cause).toMatchObject({ _tag: "QueryTimeoutError" })
        expect(elapsed).toBeLessThanOrEqual(300 + lag.slack())
        expect((yield* testPool.close).totalConnections).toBe(0)
        // The cancel goes on in the background (a CancelRequest, 1 s, then pg_cancel_backend on a connection
        // of its own, up to the pool's 2 s bound): then every socket is closed.
        yield* eventually("no socket open at the server", Effect.sync(silent.open), (n) => n === 0, 3000)
      }),
    { timeout: 10_000 }
  )

  it.scopedLive("a caller that gives up (Effect.timeout) gets control back on time", () =>
    Effect.gen(function*() {
      const silent = yield* silentServer
      const testPool = yield* silentPool(silent.port, { maxConnections: 2, connectTimeout: "500 millis" })
      const { elapsed, exit } = yield* timed(Effect.timeout(testPool.pool.sql`SELECT 1`, "300 millis"))
      expect(failureOf(exit)._tag).toBe("TimeoutException")
      console.log(`scenario 6: silent peer: Effect.timeout returned after ${Math.round(elapsed)} ms`)
      expect(elapsed).toBeLessThanOrEqual(300 + lag.slack())
      // (the cancel left running in the background is the same as above; the server's close cuts it)
      expect((yield* testPool.close).totalConnections).toBe(0)
    }), { timeout: 10_000 })
})

describe("scenario 9: a slow connect (250 ms a chunk) against connectTimeout 800 ms", () => {
  const role = "dbpool_scram"
  const password = "scram-Pa55"

  /**
   * A cluster where `role` logs in with SCRAM (three round trips: 1.5 s at 250 ms a chunk), as a real server
   * with a password would; `postgres` keeps trust (one round trip: 0.5 s).
   */
  const scramCluster = Effect.gen(function*() {
    const cluster = yield* PgCluster.make({ start: false })
    const hba = Path.join(cluster.dataDir, "pg_hba.conf")
    // pg_hba.conf: the first matching line wins
    Fs.writeFileSync(hba, `host all ${role} 127.0.0.1/32 scram-sha-256\n${Fs.readFileSync(hba, "utf8")}`)
    yield* cluster.start
    yield* cluster.sql(`SET password_encryption = 'scram-sha-256'; CREATE ROLE ${role} LOGIN PASSWORD '${password}'`)
    return cluster
  })

  it.scopedLive(
    "each attempt fails near 800 ms; nothing is left on the server or at the proxy",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        const cluster = yield* scramCluster
        const proxy = yield* FaultProxy.make({ target: cluster, latency: "250 millis" })

        // trust: one round trip, 500 ms, within connectTimeout
        const trusted = yield* clusterPool(cluster, "slow-connect-trust", {
          minConnections: 0,
          maxConnections: 1,
          connectTimeout: "800 millis",
          maxRetries: 0
        }, { url: proxyUrl(proxy) })
        const quick = yield* timed(trusted.pool.withConnection(() => Effect.void))
        expect(Exit.isSuccess(quick.exit)).toBe(true)
        expect(quick.elapsed).toBeGreaterThanOrEqual(500)
        expect(quick.elapsed).toBeLessThan(lag.widen(800))
        yield* trusted.close

        // SCRAM: three round trips, never within 800 ms; two attempts back to back
        const testPool = yield* clusterPool(cluster, "slow-connect", {
          minConnections: 0,
          maxConnections: 2,
          connectTimeout: "800 millis",
          acquireTimeout: "3 seconds",
          maxRetries: 1,
          retryInterval: 0
        }, { url: proxyUrl(proxy, role, password) })
        const failed: Array<number> = []
        yield* testPool.pool.events.pipe(
          Stream.runForEach((event: PoolEvent) =>
            Effect.sync(() => event._tag === "ConnectFailed" && event.cause === "timeout" && failed.push(now()))
          ),
          Effect.forkScoped
        )
        yield* Effect.sleep("20 millis")
        const started = now()
        const { elapsed, exit } = yield* timed(testPool.pool.withConnection(() => Effect.void))
        const error = failureOf(exit) as ConnectError
        console.log(
          `scenario 9: attempts failed at ${failed.map((t) => Math.round(t - started)).join(", ")} ms; ` +
            `${error._tag} after ${Math.round(elapsed)} ms`
        )
        expect(error).toMatchObject({ _tag: "ConnectError", reason: "timeout", attempts: 2 })
        expect(error.message).toContain("timed out")
        expect(failed.length).toBe(2)
        expectNear(failed[0]! - started, 800)
        expectNear(failed[1]! - failed[0]!, 800)
        const ended = now()

        // Still logging in when cut: seen by the server's process list, not yet by pg_stat_activity.
        const lingering = yield* clientProcesses(cluster)
        // three seconds later: no backend of ours, logged in or still logging in, and no socket at the proxy
        yield* eventually("no backend process on the server", clientProcesses(cluster), (n) => n === 0, 3000)
        expect(yield* allBackends(cluster)).toBe(0)
        yield* eventually("no socket open at the proxy", proxy.liveSockets, (n) => n === 0, 3000 - (now() - ended))
        console.log(
          `scenario 9: ${lingering} backend(s) still logging in at the failure; server and proxy clear ` +
            `${Math.round(now() - ended)} ms after it`
        )
        yield* closeAndCheck(testPool, clientProcesses(cluster))
        expect(unhandled).toEqual([])
      }),
    { timeout: 20_000 }
  )
})
