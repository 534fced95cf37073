/**
 * Scenario 7 of docs/fault-scenarios.md on MariaDB, exhaustion, against the main server (nothing is stopped; the pool
 * logs in as a user of the test's own, so the server counts its connections): every connection is held; a
 * waiter times out at acquireTimeout ± ε; a connection released at 800 ms reaches the first waiter at once;
 * waiters are served in arrival order; a waiter that timed out never gets a connection later.
 */
import { Reliability } from "@dbpool/testing"
import { expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { describeDb, finish, lag, mainUser, makePool, target } from "./utils.js"

const { epsilon, eventually, taggedFailure, watchUnhandled } = Reliability

const acquireTimeout = 1000
const max = 3

/** A full pool of `max` connections (all open before the test starts), and what its tests do with it. */
const setup = (name: string) =>
  Effect.gen(function*() {
    const unhandled = yield* watchUnhandled
    const { count, user } = yield* mainUser
    const test = yield* makePool(target(3306, user), {
      name,
      minConnections: max,
      maxConnections: max,
      acquireTimeout,
      // No health check during the test: a ping in flight would show an idle connection as validating in the
      // exact snapshots below.
      healthCheckInterval: "1 minute"
    })
    const { pool } = test
    yield* eventually("the pool filled", pool.stats, (s) => s.idleConnections === max, 2000)
    /** Holds a connection until `release` is completed; reports the server's id of its session when it has it. */
    const hold = (release: Deferred.Deferred<void>, got: (id: number) => void) =>
      pool.withConnection((conn) =>
        Effect.gen(function*() {
          const [row] = yield* conn.sql<{ id: number }>`SELECT CONNECTION_ID() AS id`
          got(row!.id)
          yield* Deferred.await(release)
          return row!.id
        })
      )
    /** Waits until the pool counts `n` callers in its queue, so that the next one is known to come after. */
    const queued = (n: number) => eventually(`${n} waiters`, pool.stats, (s) => s.waitingRequests === n, 2000)
    return { unhandled, count, test, pool, hold, queued }
  })

describeDb("MariaDB: exhaustion (scenario 7)", () => {
  it.live(
    "7. all connections held: a release at 800 ms reaches the first waiter at once, the second times out at " +
      "acquireTimeout ± ε with PoolTimeoutError, and never gets a connection later",
    () =>
      Effect.gen(function*() {
        const { count, hold, pool, queued, test, unhandled } = yield* setup("my-exhaustion-timeout")
        const holders = yield* Effect.forEach([0, 1, 2], () => Deferred.make<void>())
        const holderIds: Array<number> = []
        const holding = yield* Effect.forEach(holders, (d, i) => Effect.fork(hold(d, (id) => (holderIds[i] = id))))
        yield* eventually("all connections held", pool.stats, (s) => s.activeConnections === max, 2000)
        expect(yield* count).toBe(max)

        const start = performance.now()
        const firstRelease = yield* Deferred.make<void>()
        let firstGot = -1
        let firstId = -1
        const first = yield* Effect.fork(hold(firstRelease, (id) => {
          firstGot = performance.now()
          firstId = id
        }))
        yield* queued(1)
        let secondRan = false
        const second = yield* Effect.fork(Effect.suspend(() => {
          const asked = performance.now()
          return pool.withConnection(() => Effect.sync(() => (secondRan = true))).pipe(
            Effect.exit,
            Effect.map((exit) => ({ exit, after: performance.now() - asked }))
          )
        }))
        yield* queued(2)

        // At 800 ms one holder gives its connection back: the oldest waiter has it at once.
        yield* Effect.sleep(Math.max(0, 800 - (performance.now() - start)))
        const released = performance.now()
        yield* Deferred.succeed(holders[0]!, void 0)
        yield* eventually("the first waiter to get the connection", Effect.sync(() => firstGot), (t) => t > 0, 1000)
        const handOff = firstGot - released
        console.log(
          `scenario 7: release at ${Math.round(released - start)} ms reached the first waiter after ` +
            `${handOff.toFixed(1)} ms`
        )
        expect(handOff).toBeLessThan(lag.slack())
        expect(firstId).toBe(holderIds[0])
        expect(yield* Fiber.join(holding[0]!)).toBe(holderIds[0])

        // The second waiter got nothing and fails at acquireTimeout ± ε with the pool's timeout.
        const { after, exit } = yield* Fiber.join(second)
        console.log(`scenario 7: the second waiter timed out after ${after.toFixed(0)} ms (acquireTimeout 1000 ms)`)
        expect(after).toBeGreaterThanOrEqual(acquireTimeout - epsilon)
        expect(after).toBeLessThanOrEqual(acquireTimeout + lag.slack())
        const error = taggedFailure(exit)
        expect(error).toMatchObject({ _tag: "PoolTimeoutError", pool: "my-exhaustion-timeout" })
        expect((error as unknown as { stats: unknown }).stats).toMatchObject({
          activeConnections: max,
          waitingRequests: 1
        })

        // Everything given back after its timeout: the connections go idle, never to the timed-out waiter.
        yield* Deferred.succeed(firstRelease, void 0)
        yield* Deferred.succeed(holders[1]!, void 0)
        yield* Deferred.succeed(holders[2]!, void 0)
        yield* Fiber.join(first)
        yield* Fiber.join(holding[1]!)
        yield* Fiber.join(holding[2]!)
        yield* Effect.sleep("50 millis")
        expect(secondRan).toBe(false)
        expect(yield* pool.stats).toMatchObject({
          activeConnections: 0,
          idleConnections: max,
          waitingRequests: 0,
          timeouts: 1,
          successfulRequests: 4,
          failedRequests: 1,
          connectionsCreated: max
        })
        expect(yield* count).toBe(max)
        expect(unhandled).toEqual([])
        yield* finish(test, count)
      }).pipe(Effect.scoped),
    { timeout: 15_000 }
  )

  it.live(
    "7. waiters are served in arrival order, one freed connection at a time",
    () =>
      Effect.gen(function*() {
        const { count, hold, pool, queued, test, unhandled } = yield* setup("my-exhaustion-order")
        const holders = yield* Effect.forEach([0, 1, 2], () => Deferred.make<void>())
        const holding = yield* Effect.forEach(holders, (d) => Effect.fork(hold(d, () => {})))
        yield* eventually("all connections held", pool.stats, (s) => s.activeConnections === max, 2000)

        const order: Array<number> = []
        const waiters = 6
        const releases = yield* Effect.forEach(Array.from({ length: waiters }), () => Deferred.make<void>())
        const fibers: Array<Fiber.RuntimeFiber<number, unknown>> = []
        for (let i = 0; i < waiters; i++) {
          fibers.push(yield* Effect.fork(hold(releases[i]!, () => order.push(i))))
          yield* queued(i + 1)
        }
        // Free one connection at a time (holders first, then the waiters themselves): each goes to the
        // oldest waiter still queued.
        const frees = [...holders, ...releases]
        for (let k = 0; k < waiters; k++) {
          yield* Deferred.succeed(frees[k]!, void 0)
          yield* eventually(`waiter ${k} served`, Effect.sync(() => order.length), (n) => n === k + 1, 1000)
          expect(order).toEqual(Array.from({ length: k + 1 }, (_, i) => i))
          expect((yield* pool.stats).waitingRequests).toBe(waiters - k - 1)
        }
        for (const d of releases) yield* Deferred.succeed(d, void 0)
        yield* Fiber.joinAll([...holding, ...fibers])
        expect(yield* pool.stats).toMatchObject({
          activeConnections: 0,
          idleConnections: max,
          timeouts: 0,
          failedRequests: 0,
          connectionsCreated: max
        })
        expect(yield* count).toBe(max)
        expect(unhandled).toEqual([])
        yield* finish(test, count)
      }).pipe(Effect.scoped),
    { timeout: 15_000 }
  )
})
