import { PoolGroup } from "@dbpool/core"
import { MysqlPool } from "@dbpool/mysql"
import { Pool } from "@dbpool/sql"
import { Reliability } from "@dbpool/testing"
import { SqlClient } from "@effect/sql"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Stream } from "effect"
import Mysql from "mysql2/promise"

const run = await Effect.runPromise(Reliability.mainServer("mariadb", "the @dbpool/mysql pool group tests"))
const describeDb = run ? describe : describe.skip

const budget = 4
// A user of this test's own whose MAX_USER_CONNECTIONS is the group's budget: one connection too many
// and the server refuses it (1226).
const user = `dbpool_budget_${process.pid}`
const root = { host: "127.0.0.1", port: 3306, user: "root", database: "test" } as const

let admin: Mysql.Connection
beforeAll(async () => {
  if (!run) return
  admin = await Mysql.createConnection(root)
  await admin.query(`DROP USER IF EXISTS '${user}'@'127.0.0.1'`)
  await admin.query(`CREATE USER '${user}'@'127.0.0.1' WITH MAX_USER_CONNECTIONS ${budget}`)
  await admin.query(`GRANT ALL ON test.* TO '${user}'@'127.0.0.1'`)
})
afterAll(async () => {
  if (!run) return
  await admin.query(`DROP USER IF EXISTS '${user}'@'127.0.0.1'`)
  await admin.end()
})

const serverCount = Effect.promise(() =>
  admin.query("SELECT count(*) AS n FROM information_schema.processlist WHERE user = ?", [user])
).pipe(Effect.map(([rows]) => Number((rows as Array<{ n: number }>)[0]!.n)))

/** One member: a MysqlPool layer joining the group through its `pool` options. */
const member = (group: PoolGroup.PoolGroup, name: string) =>
  Effect.map(
    Layer.build(MysqlPool.layer({
      host: "127.0.0.1",
      port: 3306,
      database: "test",
      username: user,
      pool: { name, minConnections: 1, maxConnections: budget, acquireTimeout: "60 seconds", group }
    })),
    (context) => ({ pool: Context.get(context, Pool.Pool), sql: Context.get(context, SqlClient.SqlClient) })
  )

describeDb("PoolGroup on MariaDB", () => {
  it.live(
    "two pools under a user's MAX_USER_CONNECTIONS equal to the budget, alternating load: none refused",
    () =>
      Effect.gen(function*() {
        const group = yield* PoolGroup.make({ name: "mysql", maxConnections: budget, rebalanceInterval: "100 millis" })
        const members = [yield* member(group, "a"), yield* member(group, "b")]
        let connectFailures = 0
        for (const m of members) {
          yield* Effect.forkScoped(Stream.runForEach(m.pool.events, (e) =>
            Effect.sync(() => {
              if (e._tag === "ConnectFailed") connectFailures++
            })))
        }
        let maxSeen = 0
        const sampler = yield* Effect.fork(Effect.forever(Effect.zipRight(
          Effect.map(serverCount, (n) => void (maxSeen = Math.max(maxSeen, n))),
          Effect.sleep("5 millis")
        )))
        const load = (i: number, fibers: number, queries: number) =>
          Effect.forEach(
            Array.from({ length: fibers }),
            () => Effect.repeatN(members[i]!.sql`SELECT SLEEP(0.005)`, queries - 1),
            { concurrency: "unbounded", discard: true }
          )
        for (let phase = 0; phase < 6; phase++) {
          yield* Effect.all(members.map((_, i) => i === phase % 2 ? load(i, 12, 8) : load(i, 1, 4)), {
            concurrency: "unbounded"
          })
        }
        yield* Effect.all(members.map((_, i) => load(i, 8, 8)), { concurrency: "unbounded" })
        yield* Fiber.interrupt(sampler)
        const stats = yield* group.stats
        console.log(
          `mysql group: budget ${budget}, server peak ${maxSeen}, capacity moves ${stats.capacityMoves}, ` +
            `connect failures ${connectFailures}`
        )
        expect(connectFailures).toBe(0)
        expect(maxSeen).toBeLessThanOrEqual(budget)
        expect(stats.capacityMoves).toBeGreaterThan(0)
        for (const m of members) expect((yield* m.pool.stats).failedRequests).toBe(0)
      }).pipe(Effect.scoped),
    60_000
  )
})
