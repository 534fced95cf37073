import { PoolGroup } from "@dbpool/core"
import type { PoolEvent } from "@dbpool/core"
import { PgPool } from "@dbpool/pg"
import { Pool } from "@dbpool/sql"
import { Reliability } from "@dbpool/testing"
import { SqlClient } from "@effect/sql"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Stream } from "effect"
import Pg from "pg"

const run = await Effect.runPromise(Reliability.mainServer("postgresql", "the @dbpool/pg pool group tests"))
const describeDb = run ? describe : describe.skip

const budget = 5
// A role of this test's own whose CONNECTION LIMIT is the group's budget: one connection too many and
// the server refuses it with 53300.
const role = `dbpool_budget_${process.pid}`
const base = { host: "127.0.0.1", port: 5432, username: role } as const

let admin: Pg.Client
beforeAll(async () => {
  if (!run) return
  admin = new Pg.Client({ host: "127.0.0.1", port: 5432, database: "test", user: "postgres" })
  await admin.connect()
  await admin.query(`DROP ROLE IF EXISTS ${role}`)
  await admin.query(`CREATE ROLE ${role} LOGIN CONNECTION LIMIT ${budget}`)
})
afterAll(async () => {
  if (!run) return
  await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", [role])
  await admin.query(`DROP ROLE IF EXISTS ${role}`)
  await admin.end()
})

/** The role's sessions as the server counts them. */
const serverCount = Effect.promise(() =>
  admin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1", [role])
).pipe(Effect.map((r) => r.rows[0].n as number))

/** One member: a PgPool layer joining the group (if any) through its `pool` options. */
const member = (group: PoolGroup.PoolGroup | undefined, name: string, database: string) =>
  Effect.map(
    Layer.build(PgPool.layer({
      ...base,
      database,
      applicationName: `dbpool-budget-${name}`,
      pool: {
        name,
        minConnections: 1,
        maxConnections: budget,
        acquireTimeout: "60 seconds",
        ...(group === undefined ? { maxRetries: 0, retryInterval: 0 } : { group })
      }
    })),
    (context) => ({ pool: Context.get(context, Pool.Pool), sql: Context.get(context, SqlClient.SqlClient) })
  )

type Member = Effect.Effect.Success<ReturnType<typeof member>>

/** Six phases: one pool busy (16 fibers × 8 queries of 5 ms), the others lightly used; then all busy. */
const alternatingLoad = (members: ReadonlyArray<Member>) =>
  Effect.gen(function*() {
    const load = (i: number, fibers: number, queries: number) =>
      Effect.forEach(
        Array.from({ length: fibers }),
        () => Effect.repeatN(members[i]!.sql`SELECT pg_sleep(0.005)`, queries - 1),
        { concurrency: "unbounded", discard: true }
      )
    for (let phase = 0; phase < 6; phase++) {
      const busy = phase % 3
      yield* Effect.all(members.map((_, i) => i === busy ? load(i, 16, 8) : load(i, 1, 4)), {
        concurrency: "unbounded"
      })
    }
    yield* Effect.all(members.map((_, i) => load(i, 12, 8)), { concurrency: "unbounded" })
  })

describeDb("PoolGroup on PostgreSQL", () => {
  it.live(
    "a session closed by the connector is no longer counted by the server: the slot is free at once",
    () =>
      Effect.gen(function*() {
        // The whole budget held, then one session closed and reopened at once, 300 times: the connector's close
        // (Terminate, then the server's end of the socket) returns only once the backend has left the
        // server's count, so the reopening is never refused. A socket merely destroyed is another matter:
        // the backend may be counted a few milliseconds longer (see docs/core.md).
        const connector = yield* PgPool.connector({ ...base, database: "test", applicationName: "dbpool-budget-slot" })
        const connect = connector.connect({ onBroken: () => {} })
        const held = yield* Effect.forEach(Array.from({ length: budget }), () => connect)
        let refused = 0
        for (let i = 0; i < 300; i++) {
          yield* connector.close(held[0]!)
          const next = yield* Effect.either(connect)
          if (next._tag === "Left") {
            refused++
            held[0] = yield* Effect.retry(connect, { times: 50 })
          } else held[0] = next.right
        }
        yield* Effect.forEach(held, connector.close)
        expect(refused).toBe(0)
      }),
    60_000
  )

  it.live(
    "the control: the same pools and load without the group are refused by the server",
    () =>
      Effect.gen(function*() {
        const members = [
          yield* member(undefined, "a", "test"),
          yield* member(undefined, "b", "test"),
          yield* member(undefined, "c", "postgres")
        ]
        const failures = yield* Effect.exit(alternatingLoad(members))
        let connectFailures = 0
        for (const m of members) connectFailures += (yield* m.pool.stats).connectFailures
        console.log(`pg without group: budget ${budget}, connect failures ${connectFailures}`)
        expect(connectFailures).toBeGreaterThan(0)
        expect(failures._tag).toBe("Failure")
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "three pools under a role's CONNECTION LIMIT equal to the budget, alternating load: no connection ever refused",
    () =>
      Effect.gen(function*() {
        const group = yield* PoolGroup.make({ name: "pg", maxConnections: budget, rebalanceInterval: "100 millis" })
        const members = [
          yield* member(group, "a", "test"),
          yield* member(group, "b", "test"),
          yield* member(group, "c", "postgres")
        ]
        // Every failed connection attempt is an event: a "too many connections" would show here, even retried.
        const connectFailures: Array<PoolEvent.PoolEvent> = []
        for (const m of members) {
          yield* Effect.forkScoped(Stream.runForEach(m.pool.events, (e) =>
            Effect.sync(() => {
              if (e._tag === "ConnectFailed") connectFailures.push(e)
            })))
        }
        let maxSeen = 0
        const sampler = yield* Effect.fork(Effect.forever(Effect.zipRight(
          Effect.map(serverCount, (n) => void (maxSeen = Math.max(maxSeen, n))),
          Effect.sleep("5 millis")
        )))
        yield* alternatingLoad(members)
        yield* Fiber.interrupt(sampler)
        const stats = yield* group.stats
        console.log(
          `pg group: budget ${budget}, server peak ${maxSeen}, capacity moves ${stats.capacityMoves}, ` +
            `connect failures ${connectFailures.length}`
        )
        expect(connectFailures).toEqual([])
        expect(maxSeen).toBeLessThanOrEqual(budget)
        expect(stats.capacityMoves).toBeGreaterThan(0)
        for (const m of members) {
          const s = yield* m.pool.stats
          expect([s.failedRequests, s.connectFailures]).toEqual([0, 0])
        }
        expect(stats.connections).toBeLessThanOrEqual(budget)
      }).pipe(
        Effect.scoped,
        Effect.zipRight(Effect.gen(function*() {
          // Closed with their scope: the server lets go of every session.
          for (let i = 0; i < 100 && (yield* serverCount) > 0; i++) yield* Effect.sleep("20 millis")
          expect(yield* serverCount).toBe(0)
        }))
      ),
    60_000
  )
})
