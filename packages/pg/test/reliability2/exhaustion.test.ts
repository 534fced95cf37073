/**
 * docs/fault-scenarios.md scenario 7, exhaustion, against the main PostgreSQL server (nothing is stopped): every
 * connection is held; a waiter times out at acquireTimeout ± ε; a connection released at 800 ms reaches
 * the first waiter at once; waiters are served in arrival order; a waiter that timed out never gets a
 * connection later.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber } from "effect"
import {
  epsilon,
  eventually,
  expectWithinMax,
  lag,
  mainCount,
  makePool,
  sampleSize,
  since,
  unhandledErrors
} from "./utils.js"

const acquireTimeout = 1000
const max = 3

const setup = (label: string) =>
  Effect.gen(function*() {
    const unhandled = yield* unhandledErrors
    const { close, name, pool } = yield* makePool(label, {
      pool: { minConnections: max, maxConnections: max, acquireTimeout, shutdownTimeout: "1 second" }
    })
    const samples = yield* sampleSize(pool)
    /** Holds a connection until `release` is completed; reports its backend pid and when it got it. */
    const hold = (release: Deferred.Deferred<void>, got: (pid: number) => void) =>
      pool.withConnection((conn) =>
        Effect.gen(function*() {
          const [row] = yield* conn.sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`
          got(row!.pid)
          yield* Deferred.await(release)
          return row!.pid
        })
      )
    /** Waits until the pool counts `n` callers in its queue, so that the next one is known to come after. */
    const queued = (n: number) => eventually(`${n} waiters`, pool.stats, (s) => s.waitingRequests === n, 2000)
    return { unhandled, close, name, pool, samples, hold, queued }
  })

describe("scenario 7: exhaustion", () => {
  it.scopedLive(
    "a waiter times out at acquireTimeout ± ε; a release at 800 ms reaches the first waiter at once; the timed-out one never gets a connection",
    () =>
      Effect.gen(function*() {
        const { close, hold, name, pool, queued, samples, unhandled } = yield* setup("exhaustion-timeout")
        const holders = yield* Effect.forEach([0, 1, 2], () => Deferred.make<void>())
        const holderPids: Array<number> = []
        const holding = yield* Effect.forEach(holders, (d, i) => Effect.fork(hold(d, (pid) => (holderPids[i] = pid))))
        yield* eventually("all connections held", pool.stats, (s) => s.activeConnections === max)
        expect(yield* mainCount(name)).toBe(max)

        const start = performance.now()
        const firstRelease = yield* Deferred.make<void>()
        let firstGot = -1
        let firstPid = -1
        const first = yield* Effect.fork(hold(firstRelease, (pid) => {
          firstGot = performance.now()
          firstPid = pid
        }))
        yield* queued(1)
        let secondRan = false
        const second = yield* Effect.fork(
          pool.withConnection(() => Effect.sync(() => (secondRan = true))).pipe(
            Effect.exit,
            Effect.map((exit) => ({ exit, after: since(start) }))
          )
        )
        yield* queued(2)

        // At 800 ms one holder gives its connection back: the oldest waiter has it at once.
        yield* Effect.sleep(800 - since(start))
        const released = performance.now()
        yield* Deferred.succeed(holders[0]!, void 0)
        yield* eventually("the first waiter to get the connection", Effect.sync(() => firstGot), (t) => t > 0, 1000)
        const handOff = firstGot - released
        console.log(
          `scenario 7: release at ${Math.round(released - start)} ms reached the first waiter after ${
            handOff.toFixed(1)
          } ms`
        )
        expect(handOff).toBeLessThan(lag.slack())
        expect(firstPid).toBe(holderPids[0])
        expect(yield* Fiber.join(holding[0]!)).toBe(holderPids[0])

        // The second waiter got nothing and fails at acquireTimeout ± ε with the pool's timeout.
        const { after, exit } = yield* Fiber.join(second)
        console.log(`scenario 7: the second waiter timed out after ${after} ms (acquireTimeout ${acquireTimeout} ms)`)
        expect(after).toBeGreaterThanOrEqual(acquireTimeout - epsilon)
        expect(after).toBeLessThanOrEqual(acquireTimeout + lag.slack())
        expect(Exit.isFailure(exit)).toBe(true)
        if (Exit.isFailure(exit)) {
          const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
          expect(error).toMatchObject({ _tag: "PoolTimeoutError", pool: "exhaustion-timeout" })
          expect((error as any).stats).toMatchObject({ activeConnections: max, waitingRequests: 1 })
        }

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
        expect(yield* mainCount(name)).toBe(max)
        expectWithinMax(samples, max)
        yield* close
        yield* unhandled.assertNone
      }),
    15_000
  )

  it.scopedLive("waiters are served in arrival order, one freed connection at a time", () =>
    Effect.gen(function*() {
      const { close, hold, pool, queued, samples, unhandled } = yield* setup("exhaustion-order")
      const holders = yield* Effect.forEach([0, 1, 2], () => Deferred.make<void>())
      const holding = yield* Effect.forEach(holders, (d) => Effect.fork(hold(d, () => {})))
      yield* eventually("all connections held", pool.stats, (s) => s.activeConnections === max)

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
        failedRequests: 0
      })
      expectWithinMax(samples, max)
      yield* close
      yield* unhandled.assertNone
    }), 15_000)
})
