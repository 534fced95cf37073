/**
 * Issue 5: "the PostgreSQL suite's basic scenarios (concurrency, kill, restart of PgBouncer itself) also
 * pass through a PgBouncer in transaction mode started by the tests". Each test runs a PgCluster of its own
 * with a PgBouncer (1.18 here, transaction mode) in front, and the pool on the PgBouncer. "Our connections"
 * are counted on both sides: PgBouncer's clients (`SHOW CLIENTS` by application_name) and the cluster's
 * backends. The last tests pin down what docs/pg.md says about transaction mode: unnamed prepared statements
 * (node-postgres' parameterized queries) work, named ones and session state do not hold, and a cancel
 * reaches the server through PgBouncer.
 */
import type { PgPool } from "@dbpool/pg"
import { PgBouncer, PgCluster } from "@dbpool/testing"
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Deferred, Effect, Exit, Fiber, Schedule, Stream } from "effect"
import Pg from "pg"
import { appName, eventually, expectWithinMax, lag, makePool, sampleSize, since, unhandledErrors } from "./utils.js"

const setup = (label: string, options: {
  readonly defaultPoolSize?: number
  readonly pool?: PgPool.PgPoolOptions["pool"]
  readonly queryTimeout?: PgPool.PgPoolOptions["queryTimeout"]
} = {}) =>
  Effect.gen(function*() {
    const unhandled = yield* unhandledErrors
    const cluster = yield* PgCluster.make()
    const bouncer = yield* PgBouncer.make({
      target: { host: cluster.host, port: cluster.port },
      defaultPoolSize: options.defaultPoolSize ?? 20
    })
    const name = appName(label)
    /** Our clients at PgBouncer. */
    const clients = Effect.map(
      Effect.orDie(bouncer.admin("SHOW CLIENTS")),
      (rows) => rows.filter((row) => row.application_name === name).length
    )
    const backends = Effect.orDie(cluster.countConnections(name))
    const { close, pool } = yield* makePool(label, {
      host: bouncer.host,
      port: bouncer.port,
      database: "test",
      username: "postgres",
      applicationName: name,
      queryTimeout: options.queryTimeout ?? "2 seconds",
      pool: {
        acquireTimeout: "2 seconds",
        connectTimeout: "1 second",
        retryInterval: "50 millis",
        circuitBreakerProbeInterval: "100 millis",
        shutdownTimeout: "1 second",
        ...options.pool
      }
    }, () => clients)
    return { unhandled, cluster, bouncer, name, clients, backends, close, pool }
  })

/** Loops `SELECT 1` on `fibers` fibers until `stop`, recording when each statement failed and how. */
const loop = (pool: Effect.Effect.Success<ReturnType<typeof setup>>["pool"], fibers: number, start: number) =>
  Effect.gen(function*() {
    const stop = yield* Deferred.make<void>()
    const failures: Array<{ readonly at: number; readonly tag: string; readonly defect: boolean }> = []
    const successes: Array<Array<number>> = Array.from({ length: fibers }, () => [])
    let ok = 0
    const running = yield* Effect.forEach(
      Array.from({ length: fibers }, (_, i) => i),
      (i) =>
        Effect.fork(Effect.gen(function*() {
          while (!(yield* Deferred.isDone(stop))) {
            const exit = yield* Effect.exit(pool.sql<{ one: number }>`SELECT 1 AS one`)
            if (Exit.isSuccess(exit)) {
              expect(exit.value).toEqual([{ one: 1 }])
              ok++
              successes[i]!.push(since(start))
            } else {
              const failure = Cause.failureOption(exit.cause)
              const error = failure._tag === "Some" ? failure.value as any : undefined
              failures.push({
                at: since(start),
                tag: error === undefined ? "none" : `${error._tag}/${error.cause?._tag ?? error.cause?.code ?? "?"}`,
                defect: Cause.isDie(exit.cause)
              })
              yield* Effect.sleep("5 millis")
            }
          }
        }))
    )
    return {
      failures,
      /** When each fiber first succeeded at or after `t` (Infinity if it never did). */
      firstSuccessAfter: (t: number) => successes.map((times) => times.find((at) => at >= t) ?? Infinity),
      ok: () => ok,
      stop: Effect.zipRight(
        Deferred.succeed(stop, void 0),
        Fiber.joinAll(running).pipe(
          Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("a loop did not stop") })
        )
      )
    }
  })

// The cluster template of this process is built before the tests, under the hook's timeout (see
// ../reliability/utils.ts prepareClusters).
beforeAll(() => Effect.runPromise(Effect.scoped(PgCluster.make({ start: false }))), 120_000)

describe("PgBouncer in transaction mode", () => {
  it.scopedLive(
    "concurrency: 200 fibers × 20 queries, each transaction on one server session",
    () =>
      Effect.gen(function*() {
        const max = 20
        const { backends, bouncer, clients, close, pool, unhandled } = yield* setup("bouncer-concurrency", {
          pool: { minConnections: 5, maxConnections: max }
        })
        const samples = yield* sampleSize(pool)
        let backendsMax = 0
        yield* Effect.forkScoped(Effect.repeat(
          Effect.map(backends, (n) => (backendsMax = Math.max(backendsMax, n))),
          Schedule.spaced("20 millis")
        ))
        const start = performance.now()
        const results = yield* Effect.forEach(Array.from({ length: 200 }, (_, f) => f), (f) =>
          Effect.gen(function*() {
            const seen: Array<number> = []
            for (let q = 0; q < 20; q++) {
              if (q % 5 === 4) {
                // Two statements of one transaction run on the same server session.
                const pids = yield* pool.withTransaction((conn) =>
                  Effect.zipWith(
                    conn.sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`,
                    conn.sql<{ pid: number }>`SELECT pg_backend_pid() AS pid, txid_current()`,
                    (a, b) => [a[0]!.pid, b[0]!.pid]
                  )
                )
                expect(pids[0]).toBe(pids[1])
                seen.push(f * 1000 + q)
              } else {
                // Parameters: node-postgres' unnamed prepared statement (Parse/Bind/Execute/Sync in one go).
                const [row] = yield* pool.sql<{ n: number }>`SELECT ${f}::int * 1000 + ${q}::int AS n`
                seen.push(row!.n)
              }
            }
            return seen
          }), { concurrency: "unbounded" })
        const took = since(start)
        expect(results).toEqual(
          Array.from({ length: 200 }, (_, f) => Array.from({ length: 20 }, (_, q) => f * 1000 + q))
        )
        const stats = yield* pool.stats
        const pools = (yield* Effect.orDie(bouncer.admin("SHOW POOLS"))).filter((p) => p.database === "test")
        console.log(
          `PgBouncer concurrency: 4,000 statements from 200 fibers in ${took} ms; pool ${stats.totalConnections} ` +
            `connections (created ${stats.connectionsCreated}), PgBouncer server connections ${
              pools.map((p) => Number(p.sv_active) + Number(p.sv_idle) + Number(p.sv_used)).join()
            }, backends seen ${backendsMax}`
        )
        expect(stats.failedRequests).toBe(0)
        expect(stats.connectionsCreated).toBe(max)
        expect(backendsMax).toBeLessThanOrEqual(20)
        expectWithinMax(samples, max)
        expect(yield* clients).toBe(stats.totalConnections)
        yield* close
        yield* unhandled.assertNone
      }),
    30_000
  )

  it.scopedLive("kill: server backends terminated behind PgBouncer while 20 fibers loop", () =>
    Effect.gen(function*() {
      const max = 10
      const { backends, clients, close, cluster, name, pool, unhandled } = yield* setup("bouncer-kill", {
        pool: { minConnections: 5, maxConnections: max }
      })
      const samples = yield* sampleSize(pool)
      const start = performance.now()
      const loops = yield* loop(pool, 20, start)
      yield* Effect.sleep("300 millis")
      const killedAt: Array<number> = []
      for (let k = 0; k < 3; k++) {
        killedAt.push(since(start))
        const killed = yield* Effect.orDie(cluster.terminateBackends(name))
        expect(killed).toBeGreaterThan(0)
        yield* Effect.sleep("300 millis")
      }
      yield* Effect.sleep("700 millis")
      const lastKill = killedAt.at(-1)!
      const okBefore = loops.ok()
      yield* Effect.sleep("300 millis")
      expect(loops.ok()).toBeGreaterThan(okBefore) // still working
      yield* loops.stop
      const stats = yield* pool.stats
      const tags = [...new Set(loops.failures.map((f) => f.tag))]
      console.log(
        `PgBouncer kill: backends killed at ${killedAt.join(", ")} ms; ${loops.ok()} statements ok, ` +
          `${loops.failures.length} failed (${tags.join(", ")}), the last at ${loops.failures.at(-1)?.at ?? "-"} ms; ` +
          `pool created ${stats.connectionsCreated}, closed ${JSON.stringify(stats.connectionsClosed)}`
      )
      // Every failure is typed, none a defect, and none after the last kill has had its effect.
      expect(loops.failures.filter((f) => f.defect)).toEqual([])
      for (const f of loops.failures) expect(f.tag).toMatch(/^SqlError\//)
      for (const f of loops.failures) expect(f.at).toBeLessThan(lastKill + lag.widen(500))
      // Each fiber succeeded again after the last kill.
      for (const t of loops.firstSuccessAfter(lastKill)) expect(t).toBeLessThan(lastKill + lag.widen(2000))
      expectWithinMax(samples, max)
      yield* eventually(
        "PgBouncer's count of our clients to equal the pool's size",
        Effect.zip(pool.stats, clients),
        ([s, n]) => s.pendingConnections === 0 && s.closingConnections === 0 && s.totalConnections === n
      )
      expect(yield* backends).toBeLessThanOrEqual(20)
      yield* close
      yield* unhandled.assertNone
    }), 30_000)

  it.scopedLive(
    "restart of PgBouncer itself while 20 fibers loop: errors only until it is back, then all succeed",
    () =>
      Effect.gen(function*() {
        const max = 10
        const acquireTimeout = 2000
        const { bouncer, clients, close, pool, unhandled } = yield* setup("bouncer-restart", {
          pool: { minConnections: 5, maxConnections: max, acquireTimeout, validateAfterIdle: "100 millis" }
        })
        const samples = yield* sampleSize(pool)
        const start = performance.now()
        const loops = yield* loop(pool, 20, start)
        yield* Effect.sleep("400 millis")
        const stopAt = since(start)
        yield* Effect.orDie(bouncer.stop("fast"))
        yield* Effect.sleep("200 millis")
        yield* Effect.orDie(bouncer.start)
        const backAt = since(start)
        yield* Effect.sleep("2000 millis")
        yield* loops.stop
        const stats = yield* pool.stats
        const tags = [...new Set(loops.failures.map((f) => f.tag))]
        console.log(
          `PgBouncer restart: stopped at ${stopAt} ms, back at ${backAt} ms; ${loops.ok()} statements ok, ` +
            `${loops.failures.length} failed (${tags.join(", ")}), between ${loops.failures[0]?.at ?? "-"} and ` +
            `${loops.failures.at(-1)?.at ?? "-"} ms; pool created ${stats.connectionsCreated}, closed ${
              JSON.stringify(stats.connectionsClosed)
            }, circuit ${stats.circuitState}`
        )
        expect(loops.failures.filter((f) => f.defect)).toEqual([])
        for (const f of loops.failures) {
          expect(f.at).toBeGreaterThanOrEqual(stopAt)
          expect(f.at).toBeLessThanOrEqual(backAt + acquireTimeout + lag.slack())
          expect(f.tag).toMatch(/^(SqlError\/|PoolTimeoutError|ConnectError)/)
        }
        // Every fiber succeeded within 2 s of PgBouncer being back.
        for (const t of loops.firstSuccessAfter(backAt)) expect(t).toBeLessThanOrEqual(backAt + lag.widen(2000))
        expectWithinMax(samples, max)
        yield* eventually(
          "PgBouncer's count of our clients to equal the pool's size",
          Effect.zip(pool.stats, clients),
          ([s, n]) => s.pendingConnections === 0 && s.closingConnections === 0 && s.totalConnections === n
        )
        yield* close
        yield* unhandled.assertNone
      }),
    30_000
  )

  it.scopedLive(
    "what transaction mode allows: named prepared statements and session SETs do not hold; a cancel gets through",
    () =>
      Effect.gen(function*() {
        // One server connection for everyone, and two pooled connections (two PgBouncer clients).
        const { bouncer, cluster, close, pool, unhandled } = yield* setup("bouncer-session", {
          defaultPoolSize: 1,
          queryTimeout: "300 millis",
          pool: { minConnections: 2, maxConnections: 2 }
        })
        const [a, b] = yield* Effect.all([
          Deferred.make<Pg.Client>(),
          Deferred.make<void>()
        ])
        // A session SET made by one client is seen by another: it stayed on the shared server connection.
        const leaked = yield* Effect.all([
          pool.withConnection((conn) =>
            Effect.zipRight(
              conn.sql`SET statement_timeout = '1234ms'`,
              Effect.zipRight(Deferred.succeed(a, conn.native), Deferred.await(b))
            )
          ),
          Effect.zipRight(
            Deferred.await(a),
            pool.withConnection((conn) =>
              Effect.zipLeft(
                conn.sql<{ statement_timeout: string }>`SHOW statement_timeout`,
                Deferred.succeed(b, void 0)
              )
            )
          )
        ], { concurrency: 2 })
        expect(leaked[1]).toEqual([{ statement_timeout: "1234ms" }])
        yield* Effect.ignore(pool.sql`RESET statement_timeout`)

        // A stream reads through a cursor (an unnamed portal, no Sync until it ends): PgBouncer keeps the
        // server connection for it until then.
        const streamed = yield* Stream.runCollect(pool.sql<{ n: number }>`SELECT generate_series(1, 1000) AS n`.stream)
        expect(Chunk.size(streamed)).toBe(1000)
        expect(Chunk.unsafeLast(streamed)).toEqual({ n: 1000 })

        // A named prepared statement lives on one server connection; used again by the same client, it is not
        // found on another one.
        const bouncer2 = yield* PgBouncer.make({
          target: { host: cluster.host, port: cluster.port },
          defaultPoolSize: 2
        })
        const named = { name: "r2_named", text: "SELECT $1::int AS n" }
        const clientA = new Pg.Client({ host: bouncer2.host, port: bouncer2.port, user: "postgres", database: "test" })
        const clientB = new Pg.Client({ host: bouncer2.host, port: bouncer2.port, user: "postgres", database: "test" })
        yield* Effect.acquireRelease(
          Effect.promise(() => Promise.all([clientA.connect(), clientB.connect()])),
          () => Effect.promise(() => Promise.all([clientA.end(), clientB.end()]))
        )
        const first = yield* Effect.promise(() => clientA.query({ ...named, values: [1] }))
        expect(first.rows).toEqual([{ n: 1 }])
        // B holds A's server connection in a transaction, so A's next statement goes to the other one.
        yield* Effect.promise(() => clientB.query("BEGIN; SELECT 1"))
        const second = yield* Effect.flip(Effect.tryPromise(() => clientA.query({ ...named, values: [2] })))
        expect((second.error as any).code).toBe("26000") // prepared statement "r2_named" does not exist
        yield* Effect.promise(() => clientB.query("COMMIT"))

        // queryTimeout: the cancel request goes to PgBouncer, which forwards it to the right backend; and
        // PgBouncer survives it (1.18 exited when the canceller closed its socket too early).
        const pid = yield* bouncer.pid
        for (let i = 0; i < 3; i++) {
          const slow = yield* Effect.flip(pool.sql`SELECT pg_sleep(5)`)
          expect((slow.cause as any)._tag).toBe("QueryTimeoutError")
          yield* eventually(
            "the sleep cancelled on the server",
            Effect.orDie(
              cluster.sql(
                "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' AND state = 'active'"
              )
            ),
            (rows) => rows[0]!.n === 0,
            1000
          )
        }
        expect(yield* bouncer.isRunning).toBe(true)
        expect(yield* bouncer.pid).toBe(pid)
        expect(yield* pool.sql<{ one: number }>`SELECT 1 AS one`).toEqual([{ one: 1 }])
        yield* close
        yield* unhandled.assertNone
      }),
    30_000
  )

  it.scopedLive(
    "the prepared-statement cache stays off behind PgBouncer: statements with parameters hop server sessions unharmed",
    () =>
      Effect.gen(function*() {
        // Two server connections for four pooled ones: a statement named on one server session would, on its
        // next run from the same pooled connection, often reach the other one (26000).
        const { cluster, close, pool, unhandled } = yield* setup("bouncer-prepared", {
          defaultPoolSize: 2,
          pool: { minConnections: 4, maxConnections: 4 }
        })
        const sessions = new Set<number>()
        yield* Effect.forEach(Array.from({ length: 8 }, (_, f) => f), (f) =>
          Effect.gen(function*() {
            for (let q = 0; q < 25; q++) {
              const rows = yield* pool.sql<{ n: number; pid: number }>`SELECT ${
                f * 100 + q
              }::int AS n, pg_backend_pid() AS pid`
              expect(rows[0]!.n).toBe(f * 100 + q)
              sessions.add(rows[0]!.pid)
            }
          }), { concurrency: 8 })
        expect(sessions.size).toBe(2)
        yield* close

        // The same statements straight to the cluster are cached (the pooler, not the cache, was off).
        const direct = yield* makePool("bouncer-prepared-direct", {
          host: cluster.host,
          port: cluster.port,
          database: "test",
          username: "postgres",
          pool: { minConnections: 1, maxConnections: 1 }
        }, (name) => Effect.orDie(cluster.countConnections(name)))
        // The first statement with parameters runs unnamed, behind the check; the second is named.
        yield* direct.pool.sql`SELECT ${1}::int AS n, pg_backend_pid() AS pid`
        yield* direct.pool.sql`SELECT ${2}::int AS n, pg_backend_pid() AS pid`
        const statements = yield* direct.pool.sql<{ statement: string }>`SELECT statement FROM pg_prepared_statements`
        expect(statements).toEqual([{ statement: "SELECT $1::int AS n, pg_backend_pid() AS pid" }])
        yield* direct.close
        yield* unhandled.assertNone
      }),
    30_000
  )
})
