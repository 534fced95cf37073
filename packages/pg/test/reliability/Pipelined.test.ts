/**
 * The fault scenarios of docs/fault-scenarios.md that apply to a pipelined pool (`pipeline: { maxInFlight }`),
 * where several statements are in flight on one connection when the fault strikes: a backend killed
 * mid-query (4), the network going silent on an open connection (6), randomized stress with resets and
 * interruptions (15). Against the machine's PostgreSQL, through a FaultProxy where the network is the fault.
 */
import { PgPool } from "@dbpool/pg"
import { Pool } from "@dbpool/sql"
import { FaultProxy, Reliability } from "@dbpool/testing"
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Cause, Context, Effect, Exit, Fiber, Layer, Option } from "effect"
import Pg from "pg"
import { applicationName, lag } from "./utils.js"

const { epsilon, eventually, timed, watchUnhandled } = Reliability
const base = { host: "127.0.0.1", port: 5432, database: "test", username: "postgres" } as const

const run = await Effect.runPromise(Reliability.mainServer("postgresql", "the pipelined fault scenarios"))
const describeDb = run ? describe : describe.skip

let admin: Pg.Client
beforeAll(async () => {
  if (!run) return
  admin = new Pg.Client({ ...base, user: "postgres", application_name: `dbpool-rel-pipelined-admin-${process.pid}` })
  await admin.connect()
})
afterAll(async () => {
  if (run) await admin.end()
})

const adminQuery = <A = any>(text: string, params: Array<unknown> = []) =>
  Effect.promise(() => admin.query(text, params).then((r) => r.rows as Array<A>))

/** Our backends: how many, how many running a statement, and their pids. */
const backends = (name: string) =>
  Effect.map(
    adminQuery<{ pid: number; state: string }>("SELECT pid, state FROM pg_stat_activity WHERE application_name = $1", [
      name
    ]),
    (rows) => ({ n: rows.length, active: rows.filter((r) => r.state === "active").map((r) => r.pid) })
  )

/** A pipelined pool in a scope of its own, through `at` (a proxy or the server). */
const pipelinedPool = (
  label: string,
  at: { readonly host: string; readonly port: number },
  options: Partial<PgPool.PgPoolOptions> = {}
) =>
  Effect.gen(function*() {
    const name = applicationName(label)
    const own = yield* Reliability.ownScope(Layer.build(PgPool.layer({
      ...base,
      ...at,
      applicationName: name,
      pipeline: { maxInFlight: 4 },
      ...options,
      pool: { minConnections: 0, maxConnections: 3, acquireTimeout: "2 seconds", shutdownTimeout: "1 second" }
    })))
    return {
      name,
      sql: Context.get(own.value, SqlClient.SqlClient),
      pool: Context.get(own.value, Pool.Pool),
      close: own.close
    }
  })

const causeTag = (exit: Exit.Exit<unknown, SqlError>): string | undefined =>
  Exit.isFailure(exit) ? (Option.getOrUndefined(Cause.failureOption(exit.cause))?.cause as any)?._tag : undefined

/** The end of every scenario: healed, the server counts what the pool holds; closed, nothing of ours is left. */
const healedEnd = (p: { name: string; pool: Pool.Pool; close: Effect.Effect<void> }) =>
  Effect.gen(function*() {
    yield* eventually(
      "the server to count the pool's connections, none running",
      Effect.zip(p.pool.stats, backends(p.name)),
      ([stats, b]) => stats.activeConnections === 0 && b.n === stats.totalConnections && b.active.length === 0
    )
    yield* p.close
    yield* eventually("no backend of ours once closed", backends(p.name), (b) => b.n === 0, 2000)
  })

describeDb("pipelined, scenario 4: a backend killed mid-query", () => {
  it.scopedLive(
    "the statements in flight on it fail with ConnectionLostError, the others succeed, it is not reused",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        const p = yield* pipelinedPool("pipelined-kill", base)
        // 3 connections × 4 statements: one `pg_sleep` heads each connection's pipeline
        const fibers = yield* Effect.forEach(
          Array.from({ length: 12 }, (_, i) => i),
          (i) =>
            Effect.fork(
              Effect.exit(
                p.sql<{ n: number; pid: number }>`SELECT ${i}::int AS n, pg_backend_pid() AS pid, pg_sleep(0.5)`
              )
            )
        )
        const { active } = yield* eventually("three backends running", backends(p.name), (b) => b.active.length === 3)
        const victim = active[0]!
        yield* adminQuery("SELECT pg_terminate_backend($1)", [victim])
        const exits = yield* Fiber.joinAll(fibers)
        const lost = exits.filter((e) => causeTag(e) === "ConnectionLostError").length
        const answered = exits.filter(Exit.isSuccess)
        // the victim's statements, and only they, failed
        expect(lost + answered.length).toBe(12)
        expect(lost).toBeGreaterThanOrEqual(1)
        expect(lost).toBeLessThanOrEqual(4)
        for (const exit of answered) expect(exit.value[0]!.pid).not.toBe(victim)
        answered.forEach((exit) => expect(exit.value[0]!.n).toBe(exits.indexOf(exit)))
        const stats = yield* eventually(
          "the killed connection closed",
          p.pool.stats,
          (s) => s.connectionsClosed.broken === 1
        )
        expect(stats.connectionsClosed.broken).toBe(1)
        const again = yield* p.sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`
        expect(again[0]!.pid).not.toBe(victim)
        yield* healedEnd(p)
        expect(unhandled).toEqual([])
      }),
    { timeout: 20_000 }
  )
})

describeDb("pipelined, scenario 6: the network goes silent on an open connection", () => {
  it.scopedLive(
    "with queryTimeout each statement in flight fails on time with QueryTimeoutError; the pool stays usable",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        const proxy = yield* FaultProxy.make({ target: base })
        // 1 s, not less: the statement before the fault must not time out on a busy machine
        const p = yield* pipelinedPool("pipelined-blackhole", proxy, { queryTimeout: "1 second" })
        expect(yield* p.sql`SELECT 1 AS one`).toEqual([{ one: 1 }])
        yield* proxy.setMode("blackhole")
        const results = yield* Effect.all(
          Array.from({ length: 6 }, () => timed(p.sql`SELECT 1 AS one`)),
          { concurrency: "unbounded" }
        )
        for (const { elapsed, exit } of results) {
          expect(causeTag(exit)).toBe("QueryTimeoutError")
          expect(elapsed).toBeGreaterThanOrEqual(1000 - epsilon)
          expect(elapsed, `event-loop lag up to ${lag.max()} ms`).toBeLessThanOrEqual(1000 + lag.slack())
        }
        // nothing answers the cancels either: the silent connections are closed, not lent again
        yield* eventually("the silent connections closed", p.pool.stats, (s) =>
          s.activeConnections === 0 && s.connectionsClosed.broken >= 1, 5000)
        yield* proxy.setMode("pass")
        expect(yield* p.sql`SELECT 2 AS two`).toEqual([{ two: 2 }])
        yield* healedEnd(p)
        yield* eventually("no socket open at the proxy", proxy.liveSockets, (n) =>
          n === 0, 2000)
        expect(unhandled).toEqual([])
      }),
    { timeout: 20_000 }
  )

  it.scopedLive(
    "callers that give up (Effect.timeout) get control back on time; the pool stays usable",
    () =>
      Effect.gen(function*() {
        const proxy = yield* FaultProxy.make({ target: base })
        const p = yield* pipelinedPool("pipelined-giveup", proxy)
        expect(yield* p.sql`SELECT 1 AS one`).toEqual([{ one: 1 }])
        yield* proxy.setMode("blackhole")
        const results = yield* Effect.all(
          Array.from({ length: 6 }, () => timed(Effect.timeout(p.sql`SELECT 1 AS one`, "300 millis"))),
          { concurrency: "unbounded" }
        )
        for (const { elapsed, exit } of results) {
          expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(false)
          expect(elapsed, `event-loop lag up to ${lag.max()} ms`).toBeLessThanOrEqual(300 + lag.slack())
        }
        yield* eventually("the silent connections closed", p.pool.stats, (s) => s.activeConnections === 0, 5000)
        yield* proxy.setMode("pass")
        expect(yield* p.sql`SELECT 2 AS two`).toEqual([{ two: 2 }])
        yield* healedEnd(p)
      }),
    { timeout: 20_000 }
  )
})

describeDb("pipelined, scenario 15: randomized stress", () => {
  for (const seed of Reliability.seeds([11, 12])) {
    it.scopedLive(
      `seed ${seed}: every statement settles with its own result or a typed error, nothing leaks`,
      () =>
        Effect.gen(function*() {
          const unhandled = yield* watchUnhandled
          const random = Reliability.random(seed)
          const proxy = yield* FaultProxy.make({ target: base })
          const p = yield* pipelinedPool(`pipelined-stress-${seed}`, proxy, { queryTimeout: "1 second" })
          const until = performance.now() + 2000
          const failures = new Map<string, number>()
          let answered = 0
          const worker = (w: number) =>
            Effect.gen(function*() {
              let i = 0
              while (performance.now() < until) {
                const n = w * 100_000 + i++
                const statement = p.sql<{ n: number }>`SELECT ${n}::int AS n, pg_sleep(${random.below(4) / 1000})`
                const roll = random.below(10)
                const exit = roll === 0
                  ? yield* Effect.flatMap(Effect.fork(statement), (f) =>
                    Effect.zipRight(
                      Effect.sleep(`${random.below(3)} millis`),
                      Effect.zipRight(Fiber.interrupt(f), Fiber.await(f))
                    ))
                  : roll === 1
                  ? yield* Effect.exit(Effect.timeoutFail(statement, {
                    duration: "2 millis",
                    onTimeout: () => "gave up"
                  }))
                  : yield* Effect.exit(statement)
                if (Exit.isSuccess(exit)) {
                  expect(exit.value[0]!.n).toBe(n)
                  answered++
                } else {
                  expect(Cause.isDie(exit.cause)).toBe(false)
                  const tag = Cause.isInterruptedOnly(exit.cause)
                    ? "interrupted"
                    : causeTag(exit as any) ?? String(Cause.squash(exit.cause))
                  failures.set(tag, (failures.get(tag) ?? 0) + 1)
                }
              }
            })
          const resets = Effect.gen(function*() {
            while (performance.now() < until) {
              yield* Effect.sleep(`${200 + random.below(300)} millis`)
              yield* proxy.resetAll
            }
          })
          yield* Effect.all([resets, ...Array.from({ length: 12 }, (_, w) => worker(w))], {
            concurrency: "unbounded",
            discard: true
          })
          console.log(`pipelined stress seed ${seed}: ${answered} answered`, Object.fromEntries(failures))
          expect(answered).toBeGreaterThan(0)
          for (const tag of failures.keys()) {
            // a reset during a connect makes the pool retry after its backoff (5 s), past acquireTimeout (2 s):
            // the statements waiting for that connection fail with the pool's PoolTimeoutError, as without pipelining
            expect(["interrupted", "gave up", "ConnectionLostError", "QueryTimeoutError", "PoolTimeoutError"])
              .toContain(
                tag
              )
          }
          yield* healedEnd(p)
          expect(unhandled).toEqual([])
        }),
      { timeout: 30_000 }
    )
  }
})
