import type { PoolStats } from "@dbpool/core/PoolStats"
import { PgPool } from "@dbpool/pg"
import { ConnectionError, Pool } from "@dbpool/sql"
import { FaultProxy, Reliability } from "@dbpool/testing"
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Cause, Context, Effect, Exit, Fiber, Layer, Option } from "effect"
import Pg from "pg"
import { pipelinable } from "../src/internal/pipelineRoute.js"

const appName = `dbpool-test-pipeline-${process.pid}`
const base = { host: "127.0.0.1", port: 5432, database: "test", username: "postgres" } as const

// Outside CI a missing server skips these tests, saying how to start it; in CI they must run.
const run = await Effect.runPromise(Reliability.mainServer("postgresql", "the @dbpool/pg pipelining tests"))
const describeDb = run ? describe : describe.skip

let admin: Pg.Client
beforeAll(async () => {
  if (!run) return
  admin = new Pg.Client({ ...base, user: "postgres", application_name: `${appName}-admin` })
  await admin.connect()
})
afterAll(async () => {
  if (run) await admin.end()
})

const adminQuery = <A = any>(text: string, params: Array<unknown> = []) =>
  Effect.promise(() => admin.query(text, params).then((r) => r.rows as Array<A>))

/** Our backends as the server sees them: how many, and how many are running a statement now. */
const backends = (name: string) =>
  Effect.map(
    adminQuery<{ n: number; active: number }>(
      "SELECT count(*)::int AS n, count(*) FILTER (WHERE state = 'active')::int AS active " +
        "FROM pg_stat_activity WHERE application_name = $1",
      [name]
    ),
    (rows) => rows[0]!
  )

/** Polls `effect` until `condition` holds (bounded, generously: a busy machine), and asserts it held. */
const until = <A, E, R>(effect: Effect.Effect<A, E, R>, condition: (a: A) => boolean, timeout = 5000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeout
    let value = yield* effect
    while (!condition(value) && Date.now() < deadline) {
      yield* Effect.sleep("10 millis")
      value = yield* effect
    }
    expect({ ok: condition(value), value }).toMatchObject({ ok: true })
    return value
  })

let names = 0

interface Pipelined {
  readonly name: string
  readonly sql: SqlClient.SqlClient
  readonly pool: Pool.Pool
}

/**
 * A pipelined pool of the test's own (its own application name) in the test's scope; the test ends by
 * checking that no lane holds a connection once idle, and the server's count equals the pool's.
 */
const pipelined = (
  options: Partial<PgPool.PgPoolOptions> = {},
  pool: NonNullable<PgPool.PgPoolOptions["pool"]> = {}
) =>
  Effect.gen(function*() {
    const name = `${appName}-${++names}`
    const context = yield* Layer.build(PgPool.layer({
      ...base,
      applicationName: name,
      pipeline: { maxInFlight: 8 },
      ...options,
      pool: { minConnections: 0, maxConnections: 2, shutdownTimeout: "2 seconds", ...pool }
    }))
    const result: Pipelined = {
      name,
      sql: Context.get(context, SqlClient.SqlClient),
      pool: Context.get(context, Pool.Pool)
    }
    return result
  })

/** Nothing leaked: the lanes went back (no connection active), and the server counts what the pool holds. */
const nothingLeaked = (p: Pipelined) =>
  Effect.gen(function*() {
    const stats: PoolStats = yield* until(p.pool.stats, (s) => s.activeConnections === 0 && s.pendingConnections === 0)
    yield* until(backends(p.name), (b) => b.n === stats.totalConnections && b.active === 0)
  })

const causeOf = (exit: Exit.Exit<unknown, SqlError>): unknown =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause))?.cause : undefined

describe("which statements may share a connection", () => {
  it("single statements do; transaction control and COPY, anywhere in the text, do not", () => {
    expect(["SELECT 1", "INSERT INTO t VALUES (1)", "select 1; select 2", "SELECT 'BEGIN'"].map(pipelinable))
      .toEqual([true, true, true, true])
    expect(
      [
        "BEGIN",
        " start transaction",
        "COMMIT",
        "end",
        "ROLLBACK TO SAVEPOINT a",
        "SELECT 1; BEGIN",
        "COPY t FROM STDIN"
      ]
        .map(pipelinable)
    ).toEqual([false, false, false, false, false, false, false])
  })
})

describe("the pipeline option", () => {
  const bad: ReadonlyArray<readonly [unknown, string]> = [
    [{ maxInFlight: 0 }, "pipeline.maxInFlight"],
    [{ maxInFlight: -1 }, "pipeline.maxInFlight"],
    [{ maxInFlight: 1.5 }, "pipeline.maxInFlight"],
    [{ maxInFlight: Number.NaN }, "pipeline.maxInFlight"],
    [{ maxInFlight: 2000 }, "pipeline.maxInFlight"],
    [{ maxInFlight: "8" }, "pipeline.maxInFlight"],
    [{}, "pipeline.maxInFlight"],
    [8, "pipeline"],
    [null, "pipeline"]
  ]
  it.effect("a bad value fails with PoolConfigError naming the field, before any connection is opened", () =>
    Effect.gen(function*() {
      for (const [pipeline, field] of bad) {
        const options = { ...base, port: 1, pipeline } as unknown as PgPool.PgPoolOptions
        const fromConnector = yield* Effect.flip(PgPool.connector(options))
        const fromLayer = yield* Effect.flip(Effect.scoped(Layer.build(PgPool.layer(options))))
        expect([fromConnector._tag, fromConnector.field, fromLayer._tag]).toEqual([
          "PoolConfigError",
          field,
          "PoolConfigError"
        ])
      }
    }))
})

describeDb("PgPool with pipelining", () => {
  it.scopedLive(
    "gives every caller its own statement's result among many concurrent ones with random interruption",
    () =>
      Effect.gen(function*() {
        const p = yield* pipelined({}, { maxConnections: 3 })
        const random = Reliability.random(Date.now() % 100_000)
        const statements = 600
        const outcomes = yield* Effect.forEach(
          Array.from({ length: statements }, (_, i) => i),
          (i) => {
            const sleep = random.below(10) === 0 ? 0.003 : 0
            const statement = p.sql<
              { n: number; text: string }
            >`SELECT ${i}::int AS n, ${`#${i}`}::text AS text, pg_sleep(${sleep})`
            // One in five is interrupted after 0–4 ms, wherever it is then (waiting, sent, being answered).
            if (random.below(5) > 0) return Effect.exit(statement)
            return Effect.flatMap(
              Effect.fork(statement),
              (fiber) => Effect.zipRight(Effect.sleep(`${random.below(5)} millis`), Fiber.interrupt(fiber))
            )
          },
          { concurrency: 100 }
        )
        let answered = 0
        outcomes.forEach((exit, i) => {
          if (Exit.isSuccess(exit)) {
            // the caller's own row, never another's
            expect(exit.value).toEqual([{ n: i, text: `#${i}`, pg_sleep: "" }])
            answered++
          } else {
            expect(Cause.isInterruptedOnly(exit.cause)).toBe(true)
          }
        })
        expect(answered).toBeGreaterThan(statements / 2)
        // Shared: the pool lent far fewer connections than there were statements.
        expect((yield* p.pool.stats).totalRequests).toBeLessThan(statements)
        yield* nothingLeaked(p)
      }),
    60_000
  )

  it.scopedLive("returns the same values as without pipelining, with and without parameters", () =>
    Effect.gen(function*() {
      const p = yield* pipelined()
      const plain = yield* Effect.map(
        Layer.build(PgPool.layer({ ...base, applicationName: `${appName}-plain`, pool: { minConnections: 0 } })),
        Context.get(SqlClient.SqlClient)
      )
      const date = new Date("2026-12-05T01:02:03.456Z")
      const run = (sql: SqlClient.SqlClient) =>
        Effect.all([
          sql`SELECT 1 AS a, 'x' AS b, NULL AS c, 9007199254740993::int8 AS big, ARRAY[1,2] AS arr, '{"k":[1]}'::jsonb AS doc`,
          sql`SELECT ${date}::timestamptz AS at, ${[1, 2, 3]}::int[] AS arr, ${PgPool.json({ a: 1 })}::jsonb AS doc`,
          sql`SELECT 1 AS one; SELECT 2 AS two`.raw.pipe(
            Effect.map((r) => (r as Array<{ rows: unknown }>).map((x) => x.rows))
          ),
          sql`SELECT ${5}::int AS n, 'y' AS s`.values,
          sql`SELECT generate_series(1, 3) AS n`.withoutTransform,
          sql`SELECT 1 WHERE false`
        ])
      expect(yield* run(p.sql)).toEqual(yield* run(plain))
      yield* nothingLeaked(p)
    }))

  it.scopedLive("an error fails only its own statement, the others on the same connection succeed", () =>
    Effect.gen(function*() {
      const p = yield* pipelined({}, { maxConnections: 1 })
      const ok = (n: number) => p.sql<{ n: number; pid: number }>`SELECT ${n}::int AS n, pg_backend_pid() AS pid`
      const exits = yield* Effect.all([
        Effect.exit(ok(1)),
        Effect.exit(p.sql`SELECT 1/0`),
        Effect.exit(ok(3)),
        Effect.exit(p.sql`SELECT 'x'::int`),
        Effect.exit(p.sql`SELECT nothing FROM no_such_table_here`),
        Effect.exit(ok(6))
      ], { concurrency: "unbounded" })
      expect(exits.map((e) => Exit.isSuccess(e) ? "ok" : (causeOf(e) as { code?: string }).code)).toEqual([
        "ok",
        "22012",
        "ok",
        "22P02",
        "42P01",
        "ok"
      ])
      const pids = exits.flatMap((e) => Exit.isSuccess(e) ? (e.value as Array<{ pid: number }>).map((r) => r.pid) : [])
      expect(new Set(pids).size).toBe(1)
      expect((yield* ok(7))[0]!.n).toBe(7)
      yield* nothingLeaked(p)
    }))

  it.scopedLive("queryTimeout fails each statement of a pipeline with QueryTimeoutError and stops them on the server", () =>
    Effect.gen(function*() {
      const p = yield* pipelined({ queryTimeout: "300 millis" }, { maxConnections: 1 })
      const exits = yield* Effect.all(
        [
          Effect.exit(p.sql`SELECT pg_sleep(30)`),
          Effect.exit(p.sql`SELECT pg_sleep(30)`),
          Effect.exit(p.sql`SELECT pg_sleep(30)`)
        ],
        { concurrency: "unbounded" }
      )
      expect(exits.map((e) => (causeOf(e) as { _tag?: string })?._tag)).toEqual([
        "QueryTimeoutError",
        "QueryTimeoutError",
        "QueryTimeoutError"
      ])
      // the message says what happened in this mode: the connection stays, the answer is dropped
      expect(causeOf(exits[0]!)).toMatchObject({
        pipelined: true,
        message: expect.stringContaining("answer will be dropped")
      })
      // cancelled on the server, not left running for 30 s
      yield* until(backends(p.name), (b) => b.active === 0)
      expect(yield* p.sql`SELECT 2 AS two`).toEqual([{ two: 2 }])
      yield* nothingLeaked(p)
    }))

  it.scopedLive("an interrupted statement ends at once, is cancelled on the server, and its connection is kept", () =>
    Effect.gen(function*() {
      const p = yield* pipelined({}, { maxConnections: 1 })
      const pid = (yield* p.sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`)[0]!.pid
      const fibers = yield* Effect.forEach([1, 2, 3], () => Effect.fork(p.sql`SELECT pg_sleep(30)`))
      yield* until(backends(p.name), (b) => b.active === 1)
      const exits = yield* Effect.forEach(fibers, (f) => Effect.zipRight(Fiber.interrupt(f), Fiber.await(f)))
      expect(exits.map((e) => Exit.isInterrupted(e))).toEqual([true, true, true])
      yield* until(backends(p.name), (b) => b.active === 0)
      // the same session answers the next statement: the interruption cost no connection
      expect(yield* p.sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`).toEqual([{ pid }])
      expect((yield* p.pool.stats).connectionsCreated).toBe(1)
      yield* nothingLeaked(p)
    }))

  it.scopedLive("transactions and reserve keep a connection of their own", () =>
    Effect.gen(function*() {
      const p = yield* pipelined({}, { maxConnections: 2 })
      const [inside, outside] = yield* Effect.all([
        p.sql.withTransaction(
          Effect.all([
            p.sql<{ t: string }>`SELECT txid_current()::text AS t`,
            Effect.sleep("50 millis"),
            p.sql<{ t: string }>`SELECT txid_current()::text AS t`
          ])
        ),
        Effect.forEach(
          [1, 2, 3],
          () => p.sql<{ t: string }>`SELECT coalesce(txid_current_if_assigned()::text, 'none') AS t`,
          { concurrency: "unbounded" }
        )
      ], { concurrency: "unbounded" })
      expect(inside[0]).toEqual(inside[2])
      expect(outside.flat()).toEqual([{ t: "none" }, { t: "none" }, { t: "none" }])
      const reserved = yield* Effect.scoped(Effect.flatMap(p.sql.reserve, (conn) =>
        Effect.zipRight(
          conn.executeRaw("BEGIN", []),
          Effect.zipLeft(
            conn.executeValues("SELECT txid_current_if_assigned() IS NULL", []),
            conn.executeRaw("ROLLBACK", [])
          )
        )))
      expect(reserved).toEqual([[true]])
      yield* nothingLeaked(p)
    }))

  it.scopedLive("a lost connection fails every statement in flight on it with ConnectionLostError, nothing hangs", () =>
    Effect.gen(function*() {
      const proxy = yield* FaultProxy.make({ target: { host: base.host, port: base.port } })
      const p = yield* pipelined({ host: proxy.host, port: proxy.port }, { maxConnections: 2 })
      const fibers = yield* Effect.forEach(
        Array.from({ length: 10 }, (_, i) => i),
        () => Effect.fork(Effect.exit(p.sql`SELECT pg_sleep(30)`))
      )
      yield* until(backends(p.name), (b) => b.active === 2)
      yield* proxy.resetAll
      const exits = yield* Fiber.joinAll(fibers)
      expect(exits.map((e) => (causeOf(e) as { _tag?: string })?._tag)).toEqual(
        Array.from({ length: 10 }, () => "ConnectionLostError")
      )
      expect(causeOf(exits[0]!)).toBeInstanceOf(ConnectionError.ConnectionLostError)
      // the pool opens new connections for the next statements
      expect(yield* p.sql`SELECT 1 AS one`).toEqual([{ one: 1 }])
      const stats = yield* p.pool.stats
      expect(stats.connectionsClosed.broken).toBe(2)
      // the server notices a cut client only when it next reads: the old sessions are ended here
      yield* adminQuery(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'",
        [p.name]
      )
      yield* nothingLeaked(p)
    }))

  it.scopedLive("closing the pool while statements are in flight and waiting ends them with typed errors, no backend left running them", () =>
    Effect.gen(function*() {
      const own = yield* Reliability.ownScope(pipelined({}, { maxConnections: 2, shutdownTimeout: "500 millis" }))
      const p = own.value
      // 16 running (2 connections × 8), 4 waiting for room
      const fibers = yield* Effect.forEach(
        Array.from({ length: 20 }, (_, i) => i),
        () => Effect.fork(Effect.exit(p.sql`SELECT pg_sleep(30)`))
      )
      yield* until(backends(p.name), (b) => b.active === 2)
      yield* own.close
      const exits = yield* Fiber.joinAll(fibers)
      const tags = exits.map((e) => (causeOf(e) as { _tag?: string })?._tag)
      expect(tags.filter((t) => t === "ConnectionLostError").length).toBe(16)
      expect(tags.filter((t) => t === "PoolClosedError").length).toBe(4)
      expect((yield* p.pool.stats).totalConnections).toBe(0)
      yield* until(backends(p.name), (b) => b.n === 0)
    }))

  it.scopedLive("under a steady pipelined load, a transaction still gets a connection (lanes yield to the pool's waiters)", () =>
    Effect.gen(function*() {
      const p = yield* pipelined({}, { maxConnections: 2, acquireTimeout: "5 seconds" })
      // The load runs until the transactions are done: starved, they would never be (the test times out).
      let done = false
      const load = Effect.forEach(
        Array.from({ length: 40 }, (_, i) => i),
        () =>
          Effect.whileLoop({
            while: () => !done,
            body: () => p.sql`SELECT pg_sleep(0.001)`,
            step: () => {}
          }),
        { concurrency: "unbounded", discard: true }
      )
      const fiber = yield* Effect.fork(load)
      // both connections are carrying the load when the transactions ask
      yield* until(p.pool.stats, (s) => s.activeConnections === 2)
      const transactions = yield* Effect.forEach(
        [1, 2, 3],
        (n) => p.sql.withTransaction(p.sql<{ n: number }>`SELECT ${n}::int AS n`),
        { concurrency: "unbounded" }
      )
      expect(transactions).toEqual([[{ n: 1 }], [{ n: 2 }], [{ n: 3 }]])
      done = true
      yield* Fiber.join(fiber)
      yield* nothingLeaked(p)
    }))
})
