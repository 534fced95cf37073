import type { PoolStats } from "@dbpool/core/PoolStats"
import { Pool } from "@dbpool/sql"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Layer, Stream, TestClock, Tracer } from "effect"
import { type FakeNative, makeFakeDriver } from "./utils/FakeDriver.js"

/** Lets forked work (closing, refilling) run; fails if the condition never holds. */
const eventually = (condition: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 1000; i++) {
      if (condition()) return
      yield* Effect.yieldNow()
    }
    expect(condition()).toBe(true)
  })

/** Polls the default pool's statistics until the condition holds. */
const statsUntil = (condition: (stats: PoolStats) => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 1000; i++) {
      const stats = yield* Pool.stats
      if (condition(stats)) return stats
      yield* Effect.yieldNow()
    }
    const stats = yield* Pool.stats
    expect(condition(stats)).toBe(true)
    return stats
  })

const config = { minConnections: 1, maxConnections: 3, acquireTimeout: "5 seconds" } as const

describe("Pool", () => {
  it.effect("a statement through SqlClient borrows a connection for that statement only", () => {
    const driver = makeFakeDriver()
    return Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql`SELECT 1`
      expect(rows).toEqual([{ conn: 1, sql: "SELECT 1" }])
      const stats = yield* Pool.stats
      expect(stats.activeConnections).toBe(0)
      expect(stats.idleConnections).toBe(1)
      expect(stats.successfulRequests).toBe(1)
    }).pipe(
      Effect.provide(Pool.layer(driver.connector, config)),
      Effect.zipRight(Effect.sync(() => expect(driver.openNow()).toBe(0)))
    )
  })

  it.effect("withConnection lends one connection with its id, a bound client and the native one", () => {
    const driver = makeFakeDriver()
    return Effect.gen(function*() {
      const result = yield* Pool.withConnection((conn) =>
        Effect.map(
          Effect.all([conn.sql`SELECT a`, conn.sql`SELECT b`]),
          (rows) => ({ id: conn.id, rows, native: conn.native })
        )
      )
      expect(result.id).toBe("default-1")
      expect(result.rows).toEqual([[{ conn: 1, sql: "SELECT a" }], [{ conn: 1, sql: "SELECT b" }]])
      expect(result.native).toBe(driver.all[0])
      expect((yield* Pool.stats).activeConnections).toBe(0)
    }).pipe(
      Effect.provide(Pool.layer(driver.connector, config)),
      Effect.zipRight(Effect.sync(() => expect(driver.openNow()).toBe(0)))
    )
  })

  it.effect("withTransaction holds one connection, commits on success and joins SqlClient statements", () => {
    const driver = makeFakeDriver()
    return Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* Pool.withTransaction((conn) =>
        Effect.gen(function*() {
          yield* conn.sql`INSERT a`
          yield* sql`INSERT b`
          yield* Pool.withTransaction((inner) => inner.sql`INSERT c`)
        })
      )
      expect(driver.all[0]!.log).toEqual([
        "BEGIN",
        "INSERT a",
        "INSERT b",
        "SAVEPOINT effect_sql_1",
        "INSERT c",
        "COMMIT"
      ])
      expect((yield* Pool.stats).totalConnections).toBe(1)
    }).pipe(
      Effect.provide(Pool.layer(driver.connector, config)),
      Effect.zipRight(Effect.sync(() => expect(driver.openNow()).toBe(0)))
    )
  })

  it.effect("a connection's own client runs on that connection, even inside another connection's transaction", () => {
    const driver = makeFakeDriver()
    return Effect.gen(function*() {
      const [mine, theirs] = yield* Pool.withTransaction((conn) =>
        Effect.zipRight(
          conn.sql`INSERT a`,
          Pool.withConnection((other) => Effect.as(other.sql`INSERT b`, [conn.native, other.native] as const))
        )
      )
      expect((mine as FakeNative).log).toEqual(["BEGIN", "INSERT a", "COMMIT"])
      expect((theirs as FakeNative).log).toEqual(["INSERT b"])
    }).pipe(
      Effect.provide(Pool.layer(driver.connector, { ...config, minConnections: 2 })),
      Effect.zipRight(Effect.sync(() => expect(driver.openNow()).toBe(0)))
    )
  })

  it.effect("a routed client's transactions begin with its `begin`; the pool's own client keeps the connector's", () => {
    const driver = makeFakeDriver()
    return Effect.gen(function*() {
      const pool = yield* Pool.Pool
      const routed = Pool.makeRoutedClient(pool, (run) => run(pool), { begin: "BEGIN READ WRITE" })
      yield* routed.withTransaction(routed`INSERT a`)
      // with a tracer installed, @effect/sql's transaction path begins with it too
      yield* Effect.withTracer(
        routed.withTransaction(routed`INSERT b`),
        Tracer.make({
          span: (...args) => Effect.runSync(Effect.tracer).span(...args),
          context: (f) => f()
        })
      )
      const sql = yield* SqlClient.SqlClient
      yield* sql.withTransaction(sql`INSERT c`)
      expect(driver.all[0]!.log).toEqual([
        "BEGIN READ WRITE",
        "INSERT a",
        "COMMIT",
        "BEGIN READ WRITE",
        "INSERT b",
        "COMMIT",
        "BEGIN",
        "INSERT c",
        "COMMIT"
      ])
    }).pipe(Effect.provide(Pool.layer(driver.connector, config)))
  })

  it.effect("a failing transaction is rolled back and its connection reused (a query error is not broken)", () => {
    const driver = makeFakeDriver()
    return Effect.gen(function*() {
      const exit = yield* Effect.exit(Pool.withTransaction((conn) => conn.sql`SELECT fail`))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(driver.all[0]!.log).toEqual(["BEGIN", "SELECT fail", "ROLLBACK"])
      const stats = yield* Pool.stats
      expect(stats.connectionsClosed.broken).toBe(0)
      expect(stats.idleConnections).toBe(1)
      yield* Pool.withConnection((conn) => conn.sql`SELECT again`)
      expect(driver.opened()).toBe(1)
    }).pipe(
      Effect.provide(Pool.layer(driver.connector, config)),
      Effect.zipRight(Effect.sync(() => expect(driver.openNow()).toBe(0)))
    )
  })

  it.effect("a connection-level error closes the connection as broken and the pool replaces it", () => {
    const driver = makeFakeDriver()
    return Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const error = yield* Effect.flip(sql`SELECT drop`)
      expect(error._tag).toBe("SqlError")
      const stats = yield* statsUntil((s) => s.connectionsClosed.broken === 1 && s.totalConnections === 1)
      expect(stats.connectionsCreated).toBe(2)
      expect(yield* sql`SELECT next`).toEqual([{ conn: 2, sql: "SELECT next" }])
    }).pipe(
      Effect.provide(Pool.layer(driver.connector, config)),
      Effect.zipRight(Effect.sync(() => expect(driver.openNow()).toBe(0)))
    )
  })

  it.effect("a connection lost inside a transaction fails the user with the connection error, not a defect", () => {
    const driver = makeFakeDriver()
    return Effect.gen(function*() {
      const exit = yield* Effect.exit(Pool.withTransaction((conn) => conn.sql`SELECT drop`))
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) {
        expect(Cause.isDie(exit.cause)).toBe(false)
        expect(Cause.failureOption(exit.cause).pipe((o) => o._tag === "Some" && o.value._tag)).toBe("SqlError")
      }
      yield* statsUntil((s) => s.connectionsClosed.broken === 1 && s.totalConnections === 1)
      expect(driver.opened()).toBe(2)
    }).pipe(
      Effect.provide(Pool.layer(driver.connector, config)),
      Effect.zipRight(Effect.sync(() => expect(driver.openNow()).toBe(0)))
    )
  })

  it.effect("an interrupted statement is cancelled on the server and its connection closed, never reused", () => {
    const driver = makeFakeDriver()
    return Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const fiber = yield* Effect.fork(sql`SELECT hang`)
      yield* eventually(() => driver.all[0]!.hanging !== undefined)
      yield* Fiber.interrupt(fiber)
      expect(driver.all[0]!.cancelled).toBe(1)
      yield* statsUntil((s) => s.connectionsClosed.broken === 1)
      expect(driver.all[0]!.open).toBe(false)
      expect((yield* sql`SELECT after`)[0].conn).toBe(2)
    }).pipe(
      Effect.provide(Pool.layer(driver.connector, config)),
      Effect.zipRight(Effect.sync(() => expect(driver.openNow()).toBe(0)))
    )
  })

  it.effect("a connection given back inside an open transaction is closed, not lent to the next borrower", () => {
    const driver = makeFakeDriver()
    return Effect.gen(function*() {
      yield* Pool.withConnection((conn) => conn.sql`BEGIN`)
      yield* statsUntil((s) => s.connectionsClosed.broken === 1)
      expect(driver.all[0]!.open).toBe(false)
      const next = yield* Pool.withConnection((conn) => Effect.succeed(conn.native as FakeNative))
      expect(next.n).toBe(2)
      expect(next.log).toEqual([])
    }).pipe(
      Effect.provide(Pool.layer(driver.connector, config)),
      Effect.zipRight(Effect.sync(() => expect(driver.openNow()).toBe(0)))
    )
  })

  it.effect("a transaction whose fiber is interrupted is rolled back and its connection closed", () => {
    const driver = makeFakeDriver()
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(Pool.withTransaction((conn) => conn.sql`SELECT hang`))
      yield* eventually(() => driver.all[0]!.hanging !== undefined)
      yield* Fiber.interrupt(fiber)
      yield* statsUntil((s) => s.connectionsClosed.broken === 1)
      // No ROLLBACK is sent on a connection being closed: the server rolls back when the session ends.
      expect(driver.all[0]!.log).toEqual(["BEGIN", "SELECT hang"])
      expect(driver.all[0]!.cancelled).toBe(1)
      expect(driver.all[0]!.open).toBe(false)
    }).pipe(
      Effect.provide(Pool.layer(driver.connector, config)),
      Effect.zipRight(Effect.sync(() => expect(driver.openNow()).toBe(0)))
    )
  })

  it.effect("a transaction whose connection breaks before COMMIT is not reported committed", () => {
    const driver = makeFakeDriver()
    return Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const exit = yield* Effect.exit(sql.withTransaction(Effect.gen(function*() {
        yield* sql`SELECT 1`
        // The server ends the session (say idle_in_transaction_session_timeout) before the commit.
        const native = driver.all.find((n) => n.open && driver.onBroken.has(n))!
        driver.onBroken.get(native)!(new Error("terminating connection due to idle-in-transaction timeout"))
      })))
      expect(Exit.isSuccess(exit)).toBe(false)
      yield* statsUntil((s) => s.connectionsClosed.broken === 1)
    }).pipe(
      Effect.provide(Pool.layer(driver.connector, { ...config, maxConnections: 1 })),
      Effect.zipRight(Effect.sync(() => expect(driver.openNow()).toBe(0)))
    )
  })

  it.effect("a connection the driver reports broken while idle is never lent", () => {
    const driver = makeFakeDriver()
    return Effect.gen(function*() {
      driver.onBroken.get(driver.all[0]!)!(new Error("terminating connection due to administrator command"))
      const rows = yield* Pool.withConnection((conn) => conn.sql`SELECT 1`)
      expect(rows[0].conn).toBe(2)
      const sql = yield* SqlClient.SqlClient
      expect((yield* sql`SELECT 2`)[0].conn).toBe(2)
      yield* statsUntil((s) => s.connectionsClosed.broken === 1)
      expect(driver.all[0]!.open).toBe(false)
    }).pipe(
      Effect.provide(Pool.layer(driver.connector, config)),
      Effect.zipRight(Effect.sync(() => expect(driver.openNow()).toBe(0)))
    )
  })

  it.effect("the health check is the connector's query bounded by validationTimeout", () => {
    const driver = makeFakeDriver()
    return Effect.gen(function*() {
      driver.all[0]!.healthy = false
      yield* TestClock.adjust("30 seconds")
      yield* TestClock.adjust("1 second")
      yield* statsUntil((s) => s.connectionsClosed.unhealthy === 1 && s.totalConnections === 1)
      expect(driver.all[0]!.open).toBe(false)
      expect(driver.opened()).toBe(2)
    }).pipe(
      Effect.provide(
        Pool.layer(driver.connector, { ...config, healthCheckInterval: "30 seconds", validationTimeout: "1 second" })
      ),
      Effect.zipRight(Effect.sync(() => expect(driver.openNow()).toBe(0)))
    )
  })

  it.effect("streams run on one borrowed connection and give it back", () => {
    const driver = makeFakeDriver()
    return Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* Stream.runCollect(sql`SELECT s`.stream)
      expect(Array.from(rows)).toEqual([{ conn: 1, sql: "SELECT s" }])
      expect((yield* Pool.stats).activeConnections).toBe(0)
    }).pipe(
      Effect.provide(Pool.layer(driver.connector, config)),
      Effect.zipRight(Effect.sync(() => expect(driver.openNow()).toBe(0)))
    )
  })

  it.effect("three pools at once: primary, replica and analytics, each with its own connections and transactions", () => {
    const primary = makeFakeDriver()
    const replica = makeFakeDriver()
    const analytics = makeFakeDriver()
    const Replica = Pool.makeTag("Replica")
    const Analytics = Pool.makeTag("Analytics")
    const layers = Layer.mergeAll(
      Pool.layer(primary.connector, config),
      Replica.layer(replica.connector, config),
      Analytics.layer(analytics.connector, config)
    )
    return Effect.gen(function*() {
      const replicaSql = yield* Replica.sql
      yield* Pool.withTransaction((conn) =>
        Effect.gen(function*() {
          yield* conn.sql`INSERT p`
          yield* replicaSql`SELECT r`
          yield* Analytics.withConnection((a) => a.sql`SELECT a`)
        })
      )
      yield* Replica.withTransaction((conn) => conn.sql`INSERT r2`)
      expect(primary.all[0]!.log).toEqual(["BEGIN", "INSERT p", "COMMIT"])
      expect(replica.all[0]!.log).toEqual(["SELECT r", "BEGIN", "INSERT r2", "COMMIT"])
      expect(analytics.all[0]!.log).toEqual(["SELECT a"])
      expect((yield* Replica.stats).name).toBe("Replica")
      expect((yield* Analytics.stats).name).toBe("Analytics")
      expect((yield* Pool.stats).name).toBe("default")
    }).pipe(
      Effect.provide(layers),
      Effect.zipRight(Effect.sync(() => {
        expect(primary.openNow() + replica.openNow() + analytics.openNow()).toBe(0)
      }))
    )
  })
})
