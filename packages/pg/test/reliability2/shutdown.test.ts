/**
 * docs/fault-scenarios.md scenario 14, shutdown while busy (mysql2 #546 / #1698), against the main server: 10
 * holders and 10 waiters when the pool's layer is torn down (uninterruptibly, as every layer teardown
 * is). Waiters fail at once with PoolClosedError; holders that finish within shutdownTimeout finish
 * normally; the others are cut at shutdownTimeout (a statement still running is stopped on the server);
 * afterwards the pool counts 0 connections and the server 0 backends; closing twice is harmless.
 */
import { PgPool } from "@dbpool/pg"
import { Pool } from "@dbpool/sql"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Context, Duration, Effect, Exit, Fiber, Layer, Scope } from "effect"
import {
  appName,
  eventually,
  expectWithinMax,
  lag,
  mainServer,
  sampleSize,
  serverCounter,
  since,
  unhandledErrors
} from "./utils.js"

const shutdownTimeout = 1000
const max = 10

const failureTag = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit)
    ? Cause.failureOption(exit.cause).pipe((o) => o._tag === "Some" ? (o.value as any) : undefined)
    : undefined

describe("scenario 14: shutdown while busy", () => {
  it.scopedLive(
    "10 holders, 10 waiters: waiters fail at once, holders finish within shutdownTimeout or are cut, 0 left on both sides; closing twice is harmless",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* unhandledErrors
        const counter = yield* serverCounter()
        const name = appName("shutdown")
        const scope = yield* Effect.acquireRelease(Scope.make(), (scope) => Scope.close(scope, Exit.void))
        const context = yield* Layer.build(PgPool.layer({
          ...mainServer,
          applicationName: name,
          pool: {
            name: "shutdown",
            minConnections: max,
            maxConnections: max,
            acquireTimeout: "5 seconds",
            shutdownTimeout
          }
        })).pipe(Scope.extend(scope))
        const pool = Context.get(context, Pool.Pool)
        const samples = yield* sampleSize(pool)

        // 4 holders finish 300 ms into the shutdown; 3 are in a 10 s statement; 3 hold the connection in
        // their own code for 1.5 s and then run a statement.
        const holders = yield* Effect.forEach(Array.from({ length: max }, (_, i) => i), (i) =>
          Effect.fork(Effect.timed(Effect.exit(
            pool.withConnection((conn) =>
              i < 4
                ? Effect.zipRight(Effect.sleep("300 millis"), conn.sql`SELECT ${i}::int AS i`)
                : i < 7
                ? conn.sql`SELECT pg_sleep(10), ${i}::int AS i`
                : Effect.zipRight(Effect.sleep("1500 millis"), conn.sql`SELECT ${i}::int AS i`)
            ).pipe(Effect.map((rows) =>
              rows[0]
            ))
          ))))
        yield* eventually("all connections held", pool.stats, (s) => s.activeConnections === max)
        const waiters = yield* Effect.forEach(Array.from({ length: 10 }), () =>
          Effect.fork(Effect.timed(Effect.exit(pool.withConnection((conn) =>
            conn.sql`SELECT 1`
          )))))
        yield* eventually("10 waiters", pool.stats, (s) => s.waitingRequests === 10)
        expect(yield* counter.count(name)).toBe(max)

        // The layer's teardown, as a program ending would run it: uninterruptibly.
        const start = performance.now()
        const closing = yield* Effect.fork(Effect.timed(Effect.uninterruptible(Scope.close(scope, Exit.void))))

        for (const waiter of waiters) {
          const [took, exit] = yield* Fiber.join(waiter)
          expect(failureTag(exit)).toMatchObject({ _tag: "PoolClosedError", pool: "shutdown" })
          expect(Duration.toMillis(took)).toBeLessThan(lag.slack())
        }
        const waitersDone = since(start)
        yield* Fiber.join(closing)
        const closeMillis = since(start)
        const holderExits = yield* Effect.forEach(holders, Fiber.join)
        const stats = yield* pool.stats
        console.log(
          `scenario 14: waiters failed within ${waitersDone} ms, close took ${closeMillis} ms ` +
            `(shutdownTimeout ${shutdownTimeout} ms); closed ${JSON.stringify(stats.connectionsClosed)}`
        )
        expect(waitersDone).toBeLessThan(lag.slack())
        expect(closeMillis).toBeGreaterThanOrEqual(shutdownTimeout - 5)
        // After the grace period, each cut connection has its statement cancelled, then is closed: two local
        // round trips (about 40-110 ms measured here), bounded by 2 s each; 500 ms leaves room for a loaded CI.
        expect(closeMillis).toBeLessThanOrEqual(lag.widen(shutdownTimeout + 500))

        // Holders that finished within the grace period got their rows.
        for (let i = 0; i < 4; i++) {
          const [, exit] = holderExits[i]!
          expect(exit).toEqual(Exit.succeed({ i }))
        }
        // The others were cut: a typed failure, never a defect.
        console.log(`scenario 14: the cut holders ended after ${
          holderExits.slice(4).map(([took]) => Math.round(Duration.toMillis(took))).join(", ")
        } ms`)
        for (let i = 4; i < max; i++) {
          const [, exit] = holderExits[i]!
          expect(Exit.isFailure(exit)).toBe(true)
          if (Exit.isFailure(exit)) {
            expect(Cause.isDie(exit.cause)).toBe(false)
          }
          expect(failureTag(exit)).toMatchObject({ _tag: "SqlError" })
        }

        expect(stats).toMatchObject({
          totalConnections: 0,
          activeConnections: 0,
          waitingRequests: 0,
          pendingConnections: 0
        })
        expect(stats.connectionsClosed.closed).toBe(max)
        // The statements still running were stopped on the server: no backend of ours is left.
        yield* eventually("no backend left", counter.count(name), (n) =>
          n === 0, lag.slack())
        expectWithinMax(samples, max)

        // Closing twice is harmless: at once, no error, nothing changes; the pool refuses new work.
        const again = performance.now()
        expect(yield* Effect.exit(Scope.close(scope, Exit.void))).toEqual(Exit.void)
        expect(since(again)).toBeLessThan(lag.slack())
        expect(yield* pool.stats).toEqual(stats)
        const refused = yield* Effect.exit(pool.withConnection((conn) =>
          conn.sql`SELECT 1`
        ))
        expect(failureTag(refused)).toMatchObject({ _tag: "PoolClosedError" })
        yield* unhandled.assertNone
      }),
    20_000
  )
})
