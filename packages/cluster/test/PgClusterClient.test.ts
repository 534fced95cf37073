/**
 * `PgCluster.layer` as @effect/sql-pg's `PgClient`, against a real primary and a streaming replica: a
 * program written against `PgClient` runs on the cluster unchanged, its statements routed as any other,
 * LISTEN and NOTIFY on the primary.
 */
import { Cluster, PgCluster } from "@dbpool/cluster"
import { PgCluster as TestCluster, Reliability } from "@dbpool/testing"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Deferred, Effect, Exit, Fiber, Layer, Option, Redacted, Scope, Stream } from "effect"

const pool = { minConnections: 0, maxConnections: 4, maxRetries: 0, connectTimeout: "2 seconds" } as const

/** A program written for @effect/sql-pg, knowing nothing of the cluster but `Cluster.read`. */
const program = Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  const inRecovery = Effect.map(sql<{ r: boolean }>`SELECT pg_is_in_recovery() AS r`, (rows) => rows[0]!.r)
  yield* sql`INSERT INTO t ${sql.insert({ n: 1, doc: sql.json({ a: 1 }) })}`
  const written = yield* sql.withTransaction(Effect.zipRight(
    sql`INSERT INTO t (n) VALUES (2)`,
    sql<{ n: number }>`SELECT count(*)::int AS n FROM t`
  ))
  const streamed = yield* Stream.runCollect(sql<{ r: boolean }>`SELECT pg_is_in_recovery() AS r`.stream)
  const streamedInRead = yield* Cluster.read(
    Stream.runCollect(sql<{ r: boolean }>`SELECT pg_is_in_recovery() AS r`.stream)
  )
  return {
    onPrimary: yield* inRecovery,
    inRead: yield* Cluster.read(inRecovery),
    written: written[0]!.n,
    streamed: Chunk.toArray(streamed).map((row) => row.r),
    streamedInRead: Chunk.toArray(streamedInRead).map((row) => row.r)
  }
})

describe("PgCluster.layer as PgClient", () => {
  it.scopedLive("a program written against PgClient runs unchanged: writes on the primary, reads in `read` on the replica", () =>
    Effect.gen(function*() {
      const primary = yield* TestCluster.make()
      yield* primary.sql("CREATE TABLE t (n int, doc jsonb)")
      const replica = yield* TestCluster.makeReplica(primary)
      const applicationName = `dbpool-cluster-pgclient-${process.pid}`
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        PgCluster.layer([
          { name: "pg-primary", role: "primary", url: Redacted.make(primary.url), applicationName, pool },
          { name: "pg-replica", role: "replica", url: Redacted.make(replica.url), applicationName, pool }
        ]),
        scope
      )
      const cluster = Context.get(context, Cluster.Cluster)
      const pg = Context.get(context, PgClient.PgClient)
      // one client under the three tags
      expect(Context.get(context, SqlClient.SqlClient)).toBe(pg)
      expect(pg.config.port).toBe(new URL(primary.url).port === "" ? undefined : Number(new URL(primary.url).port))
      expect(pg.config.applicationName).toBe(applicationName)

      const result = yield* Effect.provide(program, context)
      expect(result).toEqual({
        onPrimary: false,
        inRead: true,
        written: 2,
        streamed: [false],
        streamedInRead: [true]
      })
      yield* replica.catchUp()
      const replicated = yield* Effect.provide(
        Cluster.read(Effect.flatMap(PgClient.PgClient, (sql) =>
          sql<{ n: number; a: number }>`
          SELECT count(*)::int AS n, max((doc->>'a')::int) AS a FROM t`)),
        context
      )
      expect(replicated).toEqual([{ n: 2, a: 1 }])

      // the cluster counted the program's statements where they went (the transaction is not routed)
      const stats = yield* cluster.stats
      expect(stats.nodes.map((n) => [n.name, n.reads, n.writes])).toEqual([
        ["pg-primary", 0, 3],
        ["pg-replica", 3, 0]
      ])
      // every node's pool back to idle, and once the layer's scope closed, nothing of it left on either server
      for (const node of stats.nodes) expect([node.pool.activeConnections, node.pool.waitingRequests]).toEqual([0, 0])
      yield* Scope.close(scope, Exit.void)
      for (const server of [primary, replica]) {
        yield* Reliability.eventually("the backends to end", server.countConnections(applicationName), (n) => n === 0)
      }
    }))

  it.scopedLive("listen has its connection on the primary; notify runs on the primary even inside a read", () =>
    Effect.gen(function*() {
      const primary = yield* TestCluster.make()
      const replica = yield* TestCluster.makeReplica(primary)
      const applicationName = `dbpool-cluster-listen-${process.pid}`
      const layer = PgCluster.layer([
        { name: "listen-primary", role: "primary", url: Redacted.make(primary.url), applicationName, pool },
        { name: "listen-replica", role: "replica", url: Redacted.make(replica.url), applicationName, pool }
      ])
      yield* Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(layer)
        const pg = Context.get(context, PgClient.PgClient)
        const heard = yield* Deferred.make<void>()
        const messages: Array<string> = []
        const listener = yield* Effect.fork(Stream.runForEach(pg.listen("jobs"), (message) =>
          Effect.zipRight(
            Effect.sync(() => messages.push(message)),
            Deferred.succeed(heard, undefined)
          )))
        // the LISTEN connection opens on the first call: notify until it hears one
        yield* Effect.repeat(
          Effect.zipRight(pg.notify("jobs", "ping"), Effect.sleep("20 millis")),
          { until: () => messages.length > 0 }
        )
        yield* Deferred.await(heard)
        // a standby refuses NOTIFY ("cannot execute NOTIFY during recovery"): inside a read it still goes to the primary
        yield* Cluster.read(pg.notify("jobs", "from a read"))
        yield* Reliability.eventually("the notification", Effect.sync(() => messages), (m) => m.includes("from a read"))
        expect(messages.filter((m) => m !== "ping")).toEqual(["from a read"])
        // the LISTEN connection is on the primary only
        expect(yield* primary.countConnections(applicationName)).toBeGreaterThan(0)
        expect(
          yield* Effect.map(
            primary.sql(
              `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = '${applicationName}' AND query LIKE 'LISTEN%'`
            ),
            (rows) => (rows as ReadonlyArray<{ n: number }>)[0]!.n
          )
        ).toBe(1)
        yield* Fiber.interrupt(listener)
      }))
      // the layer's scope closed: nothing of it is left on either server, the LISTEN connection included
      for (const server of [primary, replica]) {
        yield* Reliability.eventually("the backends to end", server.countConnections(applicationName), (n) => n === 0)
      }
    }))
  it.scopedLive("listen follows a failover: a listener started before it hears a notify on the new primary", () =>
    Effect.gen(function*() {
      const primary = yield* TestCluster.make()
      const replica = yield* TestCluster.makeReplica(primary)
      const applicationName = `dbpool-cluster-relisten-${process.pid}`
      const layer = PgCluster.layer([
        { name: "old-primary", role: "primary", url: Redacted.make(primary.url), applicationName, pool },
        { name: "new-primary", role: "replica", url: Redacted.make(replica.url), applicationName, pool }
      ], { failoverTimeout: "30 seconds" })
      yield* Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(layer)
        const pg = Context.get(context, PgClient.PgClient)
        const cluster = Context.get(context, Cluster.Cluster)
        const messages: Array<string> = []
        const listener = yield* Effect.fork(
          Stream.runForEach(pg.listen("jobs"), (message) => Effect.sync(() => messages.push(message)))
        )
        yield* Effect.repeat(
          Effect.zipRight(pg.notify("jobs", "before"), Effect.sleep("20 millis")),
          { until: () => messages.length > 0 }
        )
        // a planned switchover: the old primary stops (its LISTEN connection with it), the replica is promoted
        yield* primary.stop("fast")
        const promotedAt = performance.now()
        yield* replica.promote
        // notified on the new primary itself, until the listener hears it (what was sent before its LISTEN is lost)
        yield* Reliability.eventually(
          "a notification on the new primary",
          Effect.zipRight(replica.sql("SELECT pg_notify('jobs', 'after')"), Effect.sync(() => messages)),
          (m) => m.includes("after"),
          30_000
        )
        const heardAfter = performance.now() - promotedAt
        // the stream did not end nor fail: it still runs, LISTENing on the new primary only
        expect(yield* Fiber.poll(listener)).toEqual(Option.none())
        expect((yield* cluster.currentPrimary)?.name).toBe("new-primary")
        expect(messages.filter((m) => m !== "before" && m !== "after")).toEqual([])
        expect(messages[0]).toBe("before")
        const listening = Effect.map(
          replica.sql(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = '${applicationName}' AND query LIKE 'LISTEN%'`
          ),
          (rows) => (rows as ReadonlyArray<{ n: number }>)[0]!.n
        )
        expect(yield* listening).toBe(1)
        // and through the cluster: notify runs on the new primary
        const before = messages.length
        yield* pg.notify("jobs", "through the cluster")
        yield* Reliability.eventually("the cluster's notify", Effect.sync(() => messages.length), (n) => n > before)
        expect(messages.at(-1)).toBe("through the cluster")
        yield* Fiber.interrupt(listener)
        yield* Effect.log(
          `listen followed the failover: heard on the new primary ${heardAfter.toFixed(0)} ms after the promotion began`
        )
      }))
      yield* Reliability.eventually("the backends to end", replica.countConnections(applicationName), (n) => n === 0)
    }))
})
