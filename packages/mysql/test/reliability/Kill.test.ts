/**
 * Scenarios 3 and 4 of docs/fault-scenarios.md on MariaDB: idle connections killed (`KILL CONNECTION`, and
 * `wait_timeout` expiry: mysql2 #325 / #683, dead connections that stayed in the pool), and a connection
 * killed in the middle of a query. Kills on the main server touch only a user of the test's own; the
 * `wait_timeout` test runs a disposable server.
 */
import type { PoolStats } from "@dbpool/core/PoolStats"
import { MariaServer, Reliability, ServerCount } from "@dbpool/testing"
import { expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import {
  adminQuery,
  describeDb,
  finish,
  kind,
  lag,
  mainUser,
  makePool,
  prepareMariaServers,
  serverUser,
  target
} from "./utils.js"

const { taggedFailure, until, watchUnhandled } = Reliability

/**
 * Dead connections closed: as `broken` when the driver reported the closed socket while they sat idle (closed at
 * once), as `unhealthy` when a health check or a check on borrow found them first.
 */
const deadClosed = (stats: PoolStats) => stats.connectionsClosed.broken + stats.connectionsClosed.unhealthy

prepareMariaServers()

describeDb("MariaDB: connections killed (scenarios 3, 4)", () => {
  it.live(
    "3. idle connections killed: no crash, no unhandled error, size back to min within one health-check period",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        const { count, user } = yield* mainUser
        const healthCheckInterval = 200
        const test = yield* makePool(target(3306, user), { minConnections: 3, maxConnections: 5, healthCheckInterval })
        expect(yield* count).toBe(3)
        const before = yield* test.pool.metrics

        expect(yield* ServerCount.killMariadb(user)).toBe(3)
        const back = yield* until(
          Effect.zip(count, test.pool.stats),
          ([n, s]) => n === 3 && s.totalConnections === 3 && deadClosed(s) === 3,
          2000
        )
        expect(back.value[0]).toBe(3)
        expect([back.value[1].totalConnections, deadClosed(back.value[1])]).toEqual([3, 3])
        expect(back.elapsed).toBeLessThanOrEqual(healthCheckInterval + lag.slack())
        // Three new connections, none of the killed ones.
        const after = (yield* test.pool.metrics).map((c) => c.id)
        for (const old of before) expect(after).not.toContain(old.id)
        expect(yield* test.pool.sql`SELECT 1 AS one`).toEqual([{ one: 1 }])
        expect(unhandled).toEqual([])
        console.log(`scenario 3: back to min ${back.elapsed} ms after the kill`)
        yield* finish(test, count)
      }).pipe(Effect.scoped),
    { timeout: 15_000 }
  )

  it.live(
    "3. idle connections killed, validate on borrow: 20 callers right after the kill see no error",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        const { count, user } = yield* mainUser
        // No health check round during the test: only the check on borrow finds the dead connections.
        const test = yield* makePool(target(3306, user), {
          minConnections: 3,
          maxConnections: 5,
          healthCheckInterval: "1 minute",
          validateAfterIdle: 0
        })
        expect(yield* ServerCount.killMariadb(user)).toBe(3)
        const exits = yield* Effect.forEach(
          Array.from({ length: 20 }),
          () => Effect.exit(test.pool.sql`SELECT 1 AS one`),
          { concurrency: "unbounded" }
        )
        expect(exits.filter(Exit.isFailure)).toEqual([])
        const stats = yield* test.pool.stats
        expect(deadClosed(stats)).toBe(3)
        expect(stats.failedRequests).toBe(0)
        expect(unhandled).toEqual([])
        yield* finish(test, count)
      }).pipe(Effect.scoped),
    { timeout: 15_000 }
  )

  it.live(
    "3. wait_timeout expiry (mysql2 #325 / #683): the server's closing of idle connections is noticed at once, " +
      "they are replaced without waiting for a health check, and no caller sees an error",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        const server = yield* MariaServer.make({ settings: { wait_timeout: 1 } })
        const user = yield* serverUser(server)
        const count = server.countConnections(user)
        // No health check during the test: only the driver's report of the closed socket can find them.
        const test = yield* makePool(
          target(server.port, user),
          { minConnections: 2, maxConnections: 4, healthCheckInterval: "1 minute" }
        )
        expect(yield* count).toBe(2)
        // The server ends both sessions after 1-2 s idle (it checks in whole seconds); the pool closes them at
        // once and opens two more, which the server ends in turn, and so on.
        const replaced = yield* until(
          Effect.zip(count, test.pool.stats),
          ([n, s]) => deadClosed(s) >= 2 && s.totalConnections === 2 && n === 2,
          3000
        )
        expect(replaced.elapsed).toBeLessThanOrEqual(2000 + lag.slack())
        expect(replaced.value[1].connectionsClosed.broken).toBeGreaterThanOrEqual(2)
        // Callers at any moment of that cycle get a live connection.
        for (let i = 0; i < 10; i++) {
          expect(yield* test.pool.sql`SELECT 1 AS one`).toEqual([{ one: 1 }])
          yield* Effect.sleep("150 millis")
        }
        const stats = yield* test.pool.stats
        expect(stats.failedRequests).toBe(0)
        expect(stats.connectionsClosed.unhealthy).toBe(0)
        expect(unhandled).toEqual([])
        console.log(
          `scenario 3 (wait_timeout): first sessions ended and replaced ${replaced.elapsed} ms after start; ` +
            `${deadClosed(stats)} ended by the server in all`
        )
        yield* finish(test, count)
      }).pipe(Effect.scoped),
    { timeout: 15_000 }
  )

  it.live(
    "4. connection killed mid-query (SELECT SLEEP(5)): that query fails at once with ConnectionLostError, the " +
      "connection is closed and never lent again, the other fibers see nothing",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        const { count, user } = yield* mainUser
        const test = yield* makePool(target(3306, user), { minConnections: 3, maxConnections: 3 })
        const { pool } = test

        let victim: { id: string; threadId: number } | undefined
        const sleeper = yield* pool.withConnection((conn) => {
          victim = { id: conn.id, threadId: conn.native.threadId! }
          return conn.sql`SELECT SLEEP(5) AS slept`
        }).pipe(Effect.exit, Effect.fork)

        let running = true
        const seen: Array<string> = []
        const others = yield* Effect.forEach([0, 1], () =>
          Effect.gen(function*() {
            const exits: Array<Exit.Exit<unknown, unknown>> = []
            while (running) {
              exits.push(
                yield* Effect.exit(pool.withConnection((conn) => {
                  seen.push(conn.id)
                  return conn.sql`SELECT 1 AS one`
                }))
              )
            }
            return exits
          }).pipe(Effect.fork))

        yield* Effect.sleep("200 millis")
        expect(victim).toBeDefined()
        const killedAt = Date.now()
        yield* adminQuery(`KILL CONNECTION ${victim!.threadId}`)
        const exit = yield* Fiber.join(sleeper)
        const failedAfter = Date.now() - killedAt
        const error = taggedFailure(exit)
        expect(error._tag).toBe("SqlError")
        expect(error.cause).toMatchObject({ _tag: "ConnectionLostError", system: "mysql" })
        expect(failedAfter).toBeLessThanOrEqual(lag.slack())

        seen.length = 0
        yield* Effect.sleep("300 millis")
        running = false
        const otherExits = (yield* Fiber.joinAll(others)).flat()
        expect(otherExits.filter(Exit.isFailure)).toEqual([])
        expect(otherExits.length).toBeGreaterThan(10)
        // The killed connection was closed as broken, replaced, and never lent again.
        expect(seen).not.toContain(victim!.id)
        const replaced = yield* until(
          Effect.zip(count, pool.stats),
          ([n, s]) => n === 3 && s.totalConnections === 3 && s.connectionsClosed.broken === 1
        )
        expect(replaced.value[0]).toBe(3)
        expect(replaced.value[1]).toMatchObject({ totalConnections: 3, connectionsClosed: { broken: 1 } })
        expect((yield* pool.metrics).map((c) => c.id)).not.toContain(victim!.id)
        expect(unhandled).toEqual([])
        console.log(`scenario 4: the killed query failed ${failedAfter} ms after KILL (${kind(error.cause)})`)
        yield* finish(test, count)
      }).pipe(Effect.scoped),
    { timeout: 15_000 }
  )
})
