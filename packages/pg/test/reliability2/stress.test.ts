/**
 * docs/fault-scenarios.md scenario 15, randomized stress, against the main server through a FaultProxy: 2 × max
 * fibers pick at random among using a connection, a transaction, invalidating, being interrupted
 * mid-statement and timing out, for a bounded time, while the proxy resets every connection at random
 * moments. Under several seeds (printed; DBPOOL_SEED=a,b,c reruns them): active + idle + pending ≤ max
 * (and total + pending ≤ max) at every 10 ms sample, no connection held by two fibers at once (by lease id
 * and by backend pid), every acquisition settles, no defect, and at the end the server's count equals the
 * pool's size.
 */
import type { PooledConnection } from "@dbpool/sql/PooledConnection"
import { FaultProxy } from "@dbpool/testing"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber } from "effect"
import type Pg from "pg"
import {
  eventually,
  expectWithinMax,
  mainServer,
  makePool,
  random,
  sampleSize,
  seeds,
  serverCounter,
  since,
  unhandledErrors
} from "./utils.js"

const max = 4
const fibers = 2 * max
const duration = 2000
const acquireTimeout = 1000
/** Past this, an operation has not settled: acquireTimeout, plus a statement's queryTimeout, plus slack. */
const settleBound = acquireTimeout + 1000 + 1000

const operations = ["use", "use", "transaction", "invalidate", "interrupt", "timeout"] as const

describe("scenario 15: randomized stress", () => {
  for (const seed of seeds(3)) {
    it.scopedLive(
      `seed ${seed}: sizes within max, no connection shared, every acquisition settles, server count = pool size`,
      () =>
        Effect.gen(function*() {
          console.log(`scenario 15: seed ${seed} (rerun with DBPOOL_SEED=${seed})`)
          const rng = random(seed)
          const unhandled = yield* unhandledErrors
          const proxy = yield* FaultProxy.make({ target: mainServer })
          const counter = yield* serverCounter()
          const { close, name, pool } = yield* makePool("stress", {
            host: "127.0.0.1",
            port: proxy.port,
            database: "test",
            username: "postgres",
            queryTimeout: "1 second",
            pool: {
              minConnections: 2,
              maxConnections: max,
              acquireTimeout,
              connectTimeout: "1 second",
              retryInterval: "50 millis",
              healthCheckInterval: "200 millis",
              validateAfterIdle: "50 millis",
              circuitBreakerProbeInterval: "100 millis",
              shutdownTimeout: "1 second"
            }
          }, counter.count)
          const samples = yield* sampleSize(pool)

          // Who holds what now: lease id and backend pid -> fiber.
          const byLease = new Map<string, number>()
          const byPid = new Map<number, number>()
          const violations: Array<string> = []
          const counts: Record<string, number> = {}
          const outcomes: Record<string, number> = {}
          const holding = <A, E, R>(who: number, conn: PooledConnection<Pg.Client>, body: Effect.Effect<A, E, R>) =>
            Effect.suspend(() => {
              const pid = (conn.native as unknown as { processID: number }).processID
              const other = byLease.get(conn.id) ?? byPid.get(pid)
              if (other !== undefined) {
                violations.push(`${conn.id} (pid ${pid}) lent to fiber ${who} while fiber ${other} holds it`)
              }
              byLease.set(conn.id, who)
              byPid.set(pid, who)
              return Effect.ensuring(
                body,
                Effect.sync(() => {
                  byLease.delete(conn.id)
                  byPid.delete(pid)
                })
              )
            })
          const statement = (conn: PooledConnection<Pg.Client>, sleep: number) =>
            Effect.flatMap(
              conn.sql<{ pid: number }>`SELECT pg_backend_pid() AS pid, pg_sleep(${sleep / 1000})`,
              ([row]) =>
                Effect.sync(() => {
                  const pid = (conn.native as unknown as { processID: number }).processID
                  if (row!.pid !== pid) violations.push(`${conn.id}: server pid ${row!.pid}, client thinks ${pid}`)
                })
            )

          const operation = (who: number, op: (typeof operations)[number]): Effect.Effect<unknown, unknown> => {
            switch (op) {
              case "use":
                return pool.withConnection((conn) => holding(who, conn, statement(conn, rng.int(0, 5))))
              case "transaction":
                return pool.withTransaction((conn) =>
                  holding(who, conn, Effect.zipRight(statement(conn, 1), conn.sql`SELECT txid_current()`))
                )
              case "invalidate":
                return pool.use((lease) =>
                  holding(who, lease.resource, Effect.zipRight(statement(lease.resource, 0), pool.invalidate(lease)))
                )
              case "interrupt":
                return Effect.gen(function*() {
                  const fiber = yield* Effect.fork(
                    pool.withConnection((conn) => holding(who, conn, statement(conn, 50)))
                  )
                  yield* Effect.sleep(rng.int(0, 30))
                  return yield* Fiber.interrupt(fiber)
                })
              case "timeout":
                return Effect.timeout(
                  pool.withConnection((conn) => holding(who, conn, statement(conn, 20))),
                  rng.int(0, 20)
                )
            }
          }

          const start = performance.now()
          const deadline = start + duration
          const worker = (who: number) =>
            Effect.gen(function*() {
              while (performance.now() < deadline) {
                const op = rng.pick(operations)
                counts[op] = (counts[op] ?? 0) + 1
                const asked = performance.now()
                const exit = yield* Effect.exit(
                  operation(who, op).pipe(
                    Effect.timeoutFail({ duration: settleBound, onTimeout: () => "unsettled" as const })
                  )
                )
                const tag = Exit.isSuccess(exit)
                  ? "ok"
                  : Cause.isDie(exit.cause)
                  ? "defect"
                  : Cause.failureOption(exit.cause).pipe((o) =>
                    o._tag === "Some"
                      ? typeof o.value === "string"
                        ? o.value
                        : `${(o.value as any)._tag}${
                          (o.value as any).cause?._tag ? `/${(o.value as any).cause._tag}` : ""
                        }`
                      : "interrupted"
                  )
                outcomes[tag] = (outcomes[tag] ?? 0) + 1
                if (tag === "defect") violations.push(`fiber ${who} ${op}: defect ${Cause.pretty((exit as any).cause)}`)
                if (tag === "unsettled") violations.push(`fiber ${who} ${op}: not settled after ${since(asked)} ms`)
                yield* Effect.sleep(rng.int(0, 3))
              }
            })
          const resets = Effect.gen(function*() {
            let n = 0
            while (performance.now() < deadline - 300) {
              yield* Effect.sleep(rng.int(150, 500))
              yield* proxy.resetAll
              n++
            }
            return n
          })
          const [resetCount] = yield* Effect.all([
            resets,
            Effect.forEach(Array.from({ length: fibers }, (_, i) => i), worker, { concurrency: "unbounded" })
          ], {
            concurrency: "unbounded"
          }).pipe(Effect.timeoutFail({
            duration: duration + settleBound + 1000,
            onTimeout: () => new Error("the workers did not stop")
          }))
          const stats = yield* pool.stats
          console.log(
            `scenario 15 (seed ${seed}): ${since(start)} ms, ${resetCount} proxy resets, operations ${
              JSON.stringify(counts)
            }, ` +
              `outcomes ${JSON.stringify(outcomes)}, created ${stats.connectionsCreated}, closed ${
                JSON.stringify(stats.connectionsClosed)
              }, ` +
              `${samples.samples} samples, max total+pending ${samples.maxCounted}`
          )
          expect(violations).toEqual([])
          expect(outcomes.ok ?? 0).toBeGreaterThan(0)
          expect(resetCount).toBeGreaterThan(0)
          expectWithinMax(samples, max)
          expect(stats.activeConnections).toBe(0)
          expect(stats.waitingRequests).toBe(0)

          // Once quiet, the server counts what the pool holds.
          const [settled, server] = yield* eventually(
            "the server's count to equal the pool's size",
            Effect.zip(pool.stats, counter.count(name)),
            ([s, n]) => s.pendingConnections === 0 && s.closingConnections === 0 && s.totalConnections === n,
            3000
          )
          expect(server).toBe(settled.totalConnections)
          expect(settled.totalConnections).toBeGreaterThanOrEqual(2)
          yield* close
          yield* unhandled.assertNone
        }),
      20_000
    )
  }
})
