/**
 * Scenario 15 of docs/fault-scenarios.md on MariaDB: 2 × max fibers doing random acquire / use / invalidate /
 * interrupt / give-up for a bounded time while a FaultProxy resets every connection at random moments,
 * under several seeds. Each seed is printed; `DBPOOL_SEED=<seed>` reruns that one alone.
 */
import { FaultProxy, Reliability } from "@dbpool/testing"
import { expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber } from "effect"
import { describeDb, finish, mainUser, makePool, target } from "./utils.js"

const { until, watchUnhandled } = Reliability

const seeds = Reliability.seeds([1, 20_251_126, Date.now() % 1_000_000_000])

const maxConnections = 5
const runFor = 2000

/** What a statement or an acquisition may fail with while connections are reset under it. */
const expected = new Set(["SqlError", "PoolTimeoutError", "ConnectError", "TimeoutException"])

describeDb("MariaDB: randomized stress with connection resets (scenario 15)", () => {
  for (const seed of seeds) {
    it.live(
      `15. seed ${seed}: active + idle + pending ≤ max at every sample, no connection held by two fibers, every ` +
        "acquire settles, only typed errors, final server count = pool size",
      () =>
        Effect.gen(function*() {
          console.log(`scenario 15: seed ${seed} (rerun with DBPOOL_SEED=${seed})`)
          const pick = Reliability.random(seed).below
          const unhandled = yield* watchUnhandled
          const { count, user } = yield* mainUser
          const proxy = yield* FaultProxy.make({ target: { host: "127.0.0.1", port: 3306 } })
          const test = yield* makePool(
            { ...target(proxy.port, user), queryTimeout: 1000 },
            { minConnections: 1, maxConnections, acquireTimeout: 1000, connectTimeout: 1000 }
          )
          const { pool } = test

          const held = new Set<string>()
          const problems: Array<string> = []
          const tags = new Map<string, number>()
          let started = 0
          let settled = 0
          /** Marks the connection as held by this fiber for the duration of `f`. */
          const holding = <A, E>(id: string, f: Effect.Effect<A, E>) =>
            Effect.suspend(() => {
              if (held.has(id)) problems.push(`connection ${id} lent to two fibers at once`)
              held.add(id)
              return Effect.ensuring(f, Effect.sync(() => held.delete(id)))
            })
          const query = () => pick(3) === 0 ? `SELECT SLEEP(0.0${1 + pick(5)}) AS s` : "SELECT 1 AS s"
          const operations: Array<() => Effect.Effect<unknown, unknown>> = [
            // use a connection for one or two statements
            () => pool.withConnection((conn) => holding(conn.id, conn.sql.unsafe(query()))),
            // a statement through the pool's client
            () => pool.sql.unsafe(query()),
            // use, then invalidate
            () =>
              pool.use((lease) =>
                holding(lease.id, Effect.zipRight(lease.resource.sql`SELECT 1`, pool.invalidate(lease)))
              ),
            // interrupted while waiting or while its statement runs
            () =>
              Effect.gen(function*() {
                const fiber = yield* Effect.fork(
                  pool.withConnection((conn) => holding(conn.id, conn.sql`SELECT SLEEP(0.2)`))
                )
                yield* Effect.sleep(pick(30))
                yield* Fiber.interrupt(fiber)
              }),
            // a caller that gives up
            () =>
              pool.withConnection((conn) => holding(conn.id, conn.sql.unsafe(query()))).pipe(
                Effect.timeout(1 + pick(20))
              )
          ]

          const deadline = Date.now() + runFor
          const worker = Effect.gen(function*() {
            while (Date.now() < deadline) {
              const operation = operations[pick(operations.length)]!
              started++
              // Every acquisition must settle: 5 s is far past acquireTimeout + queryTimeout.
              const exit = yield* Effect.exit(Effect.timeoutFail(operation(), {
                duration: "5 seconds",
                onTimeout: () => "unsettled"
              }))
              settled++
              if (Exit.isFailure(exit)) {
                if (Cause.isDie(exit.cause)) problems.push(`defect: ${Cause.pretty(exit.cause)}`)
                const error = Cause.squash(exit.cause) as { readonly _tag?: string }
                if (error === "unsettled" as unknown) problems.push("an operation did not settle within 5 s")
                const tag = String(error?._tag)
                tags.set(tag, (tags.get(tag) ?? 0) + 1)
                if (!expected.has(tag)) problems.push(`unexpected failure: ${Cause.pretty(exit.cause)}`)
              }
            }
          })
          let resets = 0
          const chaos = Effect.gen(function*() {
            while (Date.now() < deadline) {
              yield* Effect.sleep(100 + pick(300))
              yield* proxy.resetAll
              resets++
            }
          })
          yield* Effect.all([chaos, ...Array.from({ length: 2 * maxConnections }, () => worker)], {
            concurrency: "unbounded"
          })

          console.log(
            `scenario 15, seed ${seed}: ${settled} operations, ${resets} resets, failures ${
              JSON.stringify(Object.fromEntries(tags))
            }, max size ${test.samples.maxSize}, ${test.samples.samples.length} samples`
          )
          expect(problems).toEqual([])
          expect(settled).toBe(started)
          expect(held.size).toBe(0)
          expect(resets).toBeGreaterThan(2)
          const settledCount = yield* until(
            Effect.zip(count, pool.stats),
            ([n, s]) => s.pendingConnections === 0 && n === s.totalConnections,
            3000
          )
          expect(settledCount.value[0]).toBe(settledCount.value[1].totalConnections)
          expect(unhandled).toEqual([])
          yield* finish(test, count)
        }).pipe(Effect.scoped),
      { timeout: 20_000 }
    )
  }
})
