import { Pool } from "@dbpool/sql"
import { ConnectionLostError, QueryTimeoutError } from "@dbpool/sql/ConnectionError"
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, TestClock } from "effect"
import { makeFakeDriver } from "./utils/FakeDriver.js"

const config = { minConnections: 1, maxConnections: 2, acquireTimeout: "1 minute" } as const

/** Lets forked work run until the condition holds (a bounded number of yields). */
const eventually = (condition: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 1000 && !condition(); i++) yield* Effect.yieldNow()
    expect(condition()).toBe(true)
  })

describe("statement errors", () => {
  it.effect("a connection-level failure reaches the user as a SqlError whose cause is ConnectionLostError", () => {
    const driver = makeFakeDriver()
    return Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const error = yield* Effect.flip(sql`SELECT drop`)
      expect(error.cause).toBeInstanceOf(ConnectionLostError)
      const lost = error.cause as ConnectionLostError
      expect([lost.system, lost.code, (lost.cause as Error).message]).toEqual([
        "fake",
        "CONNECTION_LOST",
        "socket closed"
      ])
      expect(error.message).toBe(lost.message)
      // A query error is left as the driver reported it.
      const syntax = yield* Effect.flip(sql`SELECT fail`)
      expect((syntax.cause as Error).message).toBe("syntax error")
      expect(driver.all.map((n) => n.open)).toEqual([false, true])
    }).pipe(Effect.provide(Pool.layer(driver.connector, config)))
  })

  it.effect("a connection the driver reported broken fails its next statement with ConnectionLostError", () => {
    const driver = makeFakeDriver()
    return Effect.gen(function*() {
      const error = yield* Pool.withConnection((conn) =>
        Effect.gen(function*() {
          driver.onBroken.get(conn.native as any)!(new Error("server closed the connection"))
          return yield* Effect.flip(conn.sql`SELECT 1`)
        })
      )
      expect(error.cause).toBeInstanceOf(ConnectionLostError)
      expect(((error.cause as ConnectionLostError).cause as Error).message).toBe("server closed the connection")
      expect(error.message).toBe(
        "Connection default-1 is unusable: " + (error.cause as ConnectionLostError).message
      )
    }).pipe(Effect.provide(Pool.layer(driver.connector, config)))
  })

  it.effect("an idle connection the driver reports gone is closed at once and replaced, not left for a check", () => {
    const driver = makeFakeDriver()
    return Effect.gen(function*() {
      yield* eventually(() => driver.all.length === 1)
      driver.onBroken.get(driver.all[0]!)!(new Error("terminating connection due to administrator command"))
      let stats = yield* Pool.stats
      for (let i = 0; i < 1000 && stats.connectionsCreated < 2; i++) {
        yield* Effect.yieldNow()
        stats = yield* Pool.stats
      }
      expect([stats.connectionsClosed.broken, stats.totalConnections, stats.connectionsCreated]).toEqual([1, 1, 2])
      expect(driver.all.map((n) => n.open)).toEqual([false, true])
      const sql = yield* SqlClient.SqlClient
      expect(yield* sql`SELECT 1`).toEqual([{ conn: 2, sql: "SELECT 1" }])
    }).pipe(Effect.provide(Pool.layer(driver.connector, config)))
  })

  it.effect("queryTimeout: a statement still running at the timeout fails then, is cancelled, and its connection closed", () => {
    const driver = makeFakeDriver()
    const connector = { ...driver.connector, queryTimeout: Duration.seconds(5) }
    return Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const fiber = yield* Effect.fork(Effect.flip(sql`SELECT hang`))
      yield* eventually(() => driver.all[0]?.hanging !== undefined)
      yield* TestClock.adjust("4999 millis")
      expect(fiber.unsafePoll()).toBe(null)
      yield* TestClock.adjust("1 millis")
      const error: SqlError = yield* Fiber.join(fiber)
      expect(error.cause).toBeInstanceOf(QueryTimeoutError)
      expect(error.message).toBe(
        "The statement did not finish within 5s on the fake server: it was cancelled and its connection closed"
      )
      expect(driver.all[0]!.cancelled).toBe(1)
      yield* eventually(() => driver.all[0]!.open === false)
      // The next statement runs on a new connection, and a fast one is not affected by the bound.
      expect(yield* sql`SELECT next`).toEqual([{ conn: 2, sql: "SELECT next" }])
      const stats = yield* Pool.stats
      expect([stats.connectionsClosed.broken, stats.totalConnections]).toEqual([1, 1])
    }).pipe(Effect.provide(Pool.layer(connector, config)))
  })

  it("a QueryTimeoutError from a pipelined connection says what happens to the statement and its connection", () => {
    const error = new QueryTimeoutError({ system: "postgresql", timeout: Duration.millis(300), pipelined: true })
    expect(error.message).toBe(
      "The statement did not finish within 300ms on the PostgreSQL server: its answer will be dropped, it is " +
        "cancelled once no other statement waits on its pipelined connection, and that connection is closed once drained"
    )
    expect(new QueryTimeoutError({ timeout: Duration.seconds(1) }).message).toBe(
      "The statement did not finish within 1s: it was cancelled and its connection closed"
    )
  })

  it.effect("queryTimeout bounds each statement of a transaction; the transaction fails and is not committed", () => {
    const driver = makeFakeDriver()
    const connector = { ...driver.connector, queryTimeout: Duration.seconds(1) }
    return Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const fiber = yield* Effect.fork(
        Effect.flip(sql.withTransaction(Effect.zipRight(sql`INSERT a`, sql`SELECT hang`)))
      )
      yield* eventually(() => driver.all[0]?.hanging !== undefined)
      yield* TestClock.adjust("1 second")
      const error = yield* Fiber.join(fiber)
      expect((error as SqlError).cause).toBeInstanceOf(QueryTimeoutError)
      // The ROLLBACK on a connection known to be unusable is skipped; nothing is committed.
      expect(driver.all[0]!.log).toEqual(["BEGIN", "INSERT a", "SELECT hang"])
      yield* eventually(() => driver.all[0]!.open === false)
    }).pipe(Effect.provide(Pool.layer(connector, config)))
  })
})
