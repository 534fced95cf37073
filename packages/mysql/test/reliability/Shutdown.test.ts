/**
 * Scenario 14 of docs/fault-scenarios.md on MariaDB: the pool is closed while 10 holders run statements and 10
 * callers wait (mysql2 #546 / #1698: ending the pool with queued work left promises unsettled). Main
 * server, a user of the test's own.
 */
import { Reliability } from "@dbpool/testing"
import { expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope } from "effect"
import { describeDb, finish, kind, lag, mainUser, makePool, target } from "./utils.js"

const { taggedFailure, until, watchUnhandled } = Reliability

describeDb("MariaDB: shutdown while busy (scenario 14)", () => {
  it.live(
    "14. 10 holders and 10 waiters: the waiters fail at once with PoolClosedError, the holders that finish " +
      "within the grace period succeed, the others are cut at its end; total 0 and server count 0 afterwards, " +
      "closing twice is harmless",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        const { count, user } = yield* mainUser
        const shutdownTimeout = 600
        // The bound on the cancel of a statement cut under its user (@dbpool/sql).
        const cancelBound = 2000
        const test = yield* makePool(
          target(3306, user),
          { minConnections: 10, maxConnections: 10, shutdownTimeout, acquireTimeout: "10 seconds" }
        )
        const { pool } = test
        const timed = <A, E>(effect: Effect.Effect<A, E>) =>
          Effect.fork(Effect.map(Effect.exit(effect), (exit) => ({ exit, at: Date.now() })))
        // Five holders finish within the grace period, five would run on for 5 s.
        const short = yield* Effect.forEach(
          Array.from({ length: 5 }),
          () => timed(pool.withConnection((conn) => conn.sql`SELECT SLEEP(0.3) AS slept`))
        )
        const long = yield* Effect.forEach(
          Array.from({ length: 5 }),
          () => timed(pool.withConnection((conn) => conn.sql`SELECT SLEEP(5) AS slept`))
        )
        yield* until(pool.stats, (s) => s.activeConnections === 10)
        const waiters = yield* Effect.forEach(
          Array.from({ length: 10 }),
          () => timed(pool.withConnection((conn) => conn.sql`SELECT 1`))
        )
        const queued = yield* until(pool.stats, (s) => s.waitingRequests === 10)
        expect(queued.value).toMatchObject({ activeConnections: 10, waitingRequests: 10 })
        expect(yield* count).toBe(10)

        const closing = Date.now()
        const closed = yield* Effect.fork(Effect.map(Scope.close(test.scope, Exit.void), () => Date.now()))

        for (const waiter of waiters) {
          const { at, exit } = yield* Fiber.join(waiter)
          expect(taggedFailure(exit)._tag).toBe("PoolClosedError")
          expect(at - closing).toBeLessThanOrEqual(lag.slack())
        }
        for (const holder of short) {
          const { at, exit } = yield* Fiber.join(holder)
          expect(exit).toMatchObject({ _tag: "Success" })
          expect(at - closing).toBeLessThan(shutdownTimeout)
        }
        const cut = new Set<string>()
        let cutAfter = 0
        for (const holder of long) {
          const { at, exit } = yield* Fiber.join(holder)
          const error = taggedFailure(exit)
          cut.add(`${error._tag}(${kind(error.cause)})`)
          // Cut at the end of the grace period: the statement is cancelled first (bounded by 2 s), then closed.
          expect(at - closing).toBeGreaterThanOrEqual(shutdownTimeout)
          expect(at - closing).toBeLessThanOrEqual(shutdownTimeout + cancelBound + lag.slack())
          cutAfter = Math.max(cutAfter, at - closing)
        }
        // Cut: the statement is cancelled on the server (KILL QUERY: 1317), or, if the cancel cannot get
        // through, its connection is lost under it.
        for (const tag of cut) {
          expect(["SqlError(ER_QUERY_INTERRUPTED)", "SqlError(ConnectionLostError)"]).toContain(tag)
        }
        const closedAt = yield* Fiber.join(closed)
        console.log(`scenario 14: the holders were cut by ${cutAfter} ms, the pool closed in ${closedAt - closing} ms`)
        expect(closedAt - closing).toBeLessThanOrEqual(shutdownTimeout + cancelBound + lag.slack())
        expect(unhandled).toEqual([])
        // Total 0 at once, server count 0 (the SLEEP(5) sessions included), a second close does nothing.
        yield* finish(test, count)
      }).pipe(Effect.scoped),
    { timeout: 20_000 }
  )
})
