/**
 * The cluster against a real PostgreSQL primary and a streaming replica (disposable clusters on spare ports,
 * `pg_basebackup -R`): where reads and writes land, and what reads do while the replica is stopped.
 */
import { Cluster, ClusterEvent, PgCluster, Replication } from "@dbpool/cluster"
import { PgCluster as TestCluster, Reliability } from "@dbpool/testing"
import type { SqlError } from "@effect/sql/SqlError"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Queue, Redacted, Schedule } from "effect"

let names = 0
const pool = { minConnections: 0, maxConnections: 4, maxRetries: 0, connectTimeout: "2 seconds" } as const

const primaryAndReplica = Effect.gen(function*() {
  const primary = yield* TestCluster.make()
  yield* primary.sql("CREATE TABLE t (n int)")
  const replica = yield* TestCluster.makeReplica(primary)
  return { primary, replica }
})

const nodesOf = (
  primary: TestCluster.PgCluster,
  replica: TestCluster.PgCluster,
  applicationName = `dbpool-cluster-test-${process.pid}-${++names}`
) => {
  return [
    { name: "primary", role: "primary", url: Redacted.make(primary.url), applicationName, pool },
    { name: "replica", role: "replica", url: Redacted.make(replica.url), applicationName, pool }
  ] as const
}

const inRecovery = (cluster: Cluster.Cluster) =>
  Effect.map(cluster.sql<{ r: boolean }>`SELECT pg_is_in_recovery() AS r`, (rows) => rows[0]!.r)

const routesAndStats = (primary: TestCluster.PgCluster, replica: TestCluster.PgReplica, applicationName: string) =>
  Effect.gen(function*() {
    const cluster = yield* Cluster.make(PgCluster.nodes(nodesOf(primary, replica, applicationName)))
    const sql = cluster.sql
    expect(yield* inRecovery(cluster)).toBe(false)
    expect(yield* Cluster.read(inRecovery(cluster))).toBe(true)
    expect(yield* Cluster.read(sql.withTransaction(inRecovery(cluster)))).toBe(false)
    expect(yield* Cluster.read(Cluster.onPrimary(inRecovery(cluster)))).toBe(false)

    yield* sql`INSERT INTO t VALUES (1), (2)`
    yield* replica.catchUp()
    expect(yield* Cluster.read(sql<{ n: number }>`SELECT count(*)::int AS n FROM t`)).toEqual([{ n: 2 }])
    // a write marked as a read reaches the replica, which refuses it
    const refused: SqlError = yield* Effect.flip(Cluster.read(sql`INSERT INTO t VALUES (3)`))
    expect(String((refused.cause as Error).message)).toContain("read-only transaction")
    // a transaction inside a read sees its own writes: it is the primary's
    const own = yield* Cluster.read(sql.withTransaction(Effect.zipRight(
      sql`INSERT INTO t VALUES (4)`,
      sql<{ n: number }>`SELECT count(*)::int AS n FROM t`
    )))
    expect(own).toEqual([{ n: 3 }])
    const [p, r] = yield* Effect.forEach(cluster.nodes, (node) => node.pool.stats)
    // primary: 3 statements and 2 transactions; replica: 3 reads (the refused INSERT included)
    expect([p!.name, p!.successfulRequests, r!.name, r!.successfulRequests]).toEqual(["primary", 5, "replica", 3])
    expect(yield* primary.countConnections(applicationName)).toBeGreaterThan(0)
    expect(yield* replica.countConnections(applicationName)).toBeGreaterThan(0)
  })

describe("PgCluster on a primary and a streaming replica", () => {
  it.scopedLive("reads run on the replica; writes, transactions and onPrimary on the primary", () =>
    Effect.gen(function*() {
      const { primary, replica } = yield* primaryAndReplica
      const applicationName = `dbpool-cluster-test-${process.pid}-${++names}`
      yield* Effect.scoped(routesAndStats(primary, replica, applicationName))
      // the cluster's scope closed: no connection of its pools is left on either server
      // (a backend ends a moment after its client closed the connection)
      for (const server of [primary, replica]) {
        yield* Reliability.eventually("the backends to end", server.countConnections(applicationName), (n) => n === 0)
      }
    }))

  it.scopedLive("the replica stopped: reads fall back to the primary (NodeDown), and return when it is back (NodeUp)", () =>
    Effect.gen(function*() {
      const { primary, replica } = yield* primaryAndReplica
      const removeAfterFailures = 2
      const cluster = yield* Cluster.make(PgCluster.nodes(nodesOf(primary, replica)), {
        removeAfterFailures,
        probe: Schedule.spaced("100 millis")
      })
      const events = yield* cluster.subscribe
      expect(yield* Cluster.read(inRecovery(cluster))).toBe(true)

      yield* replica.stop("fast")
      const stoppedAt = performance.now()
      // reads until the replica is down: each one answered by the primary or failed, none more than the threshold
      const outcomes: Array<boolean | string> = []
      while ((yield* Queue.size(events)) === 0 && outcomes.length < 100) {
        const outcome = yield* Effect.either(Cluster.read(inRecovery(cluster)))
        outcomes.push(Either.isRight(outcome) ? outcome.right : (outcome.left.cause as { _tag?: string })._tag ?? "?")
      }
      const down = yield* Queue.take(events)
      const downAfter = performance.now() - stoppedAt
      expect(down._tag).toBe("NodeDown")
      expect(outcomes.filter((o) => typeof o === "string").length).toBeLessThanOrEqual(removeAfterFailures)
      expect(outcomes.filter((o) => o === true)).toEqual([])
      expect((yield* cluster.health).map((h) => [h.name, h.up])).toEqual([["primary", true], ["replica", false]])
      expect(yield* Effect.forEach([1, 2, 3, 4, 5], () => Cluster.read(inRecovery(cluster)))).toEqual([
        false,
        false,
        false,
        false,
        false
      ])

      yield* primary.sql("INSERT INTO t VALUES (1)")
      yield* replica.start
      const startedAt = performance.now()
      const up = yield* Queue.take(events).pipe(Effect.timeoutFail({
        duration: "60 seconds",
        onTimeout: () => new Error("no NodeUp within 60 s of the replica's start")
      }))
      const upAfter = performance.now() - startedAt
      expect(up).toEqual(
        ClusterEvent.ClusterEvent.NodeUp({ node: "replica", downFor: (up as { downFor: number }).downFor })
      )
      expect(yield* Cluster.read(inRecovery(cluster))).toBe(true)
      yield* replica.catchUp()
      expect(yield* Cluster.read(cluster.sql<{ n: number }>`SELECT count(*)::int AS n FROM t`)).toEqual([{ n: 1 }])
      yield* Effect.log(
        `replica stopped: ${outcomes.length} reads (${
          outcomes.filter((o) => typeof o === "string").join(", ") || "none failed"
        }) before NodeDown after ${downAfter.toFixed(0)} ms; NodeUp ${upAfter.toFixed(0)} ms after its start (down ${
          Duration.format(Duration.millis((up as { downFor: number }).downFor))
        })`
      )
    }))

  it.scopedLive("readFallback \"fail\": with the replica down, reads fail with NoReplicaError, writes still run", () =>
    Effect.gen(function*() {
      const { primary, replica } = yield* primaryAndReplica
      const cluster = yield* Cluster.make(PgCluster.nodes(nodesOf(primary, replica)), {
        removeAfterFailures: 1,
        readFallback: "fail",
        probe: Schedule.spaced("1 hour")
      })
      yield* replica.stop("fast")
      const first = yield* Effect.either(Cluster.read(inRecovery(cluster)))
      expect(Either.isLeft(first)).toBe(true)
      const next: SqlError = yield* Effect.flip(Cluster.read(inRecovery(cluster)))
      expect((next.cause as { _tag: string })._tag).toBe("NoReplicaError")
      expect(yield* inRecovery(cluster)).toBe(false)
    }))

  it.scopedLive("maxReplicaLag: a replica whose replay is paused gets no reads until it catches up", () =>
    Effect.gen(function*() {
      const { primary, replica } = yield* primaryAndReplica
      const cluster = yield* Cluster.make(PgCluster.nodes(nodesOf(primary, replica)), {
        replication: Replication.postgres,
        maxReplicaLag: "300 millis",
        lagSchedule: Schedule.spaced("50 millis")
      })
      const lagOf = Effect.map(cluster.health, (health) => health[1]!.lagMillis)
      const count = Cluster.read(cluster.sql<{ n: number }>`SELECT count(*)::int AS n FROM t`)
      // a transaction replayed, so that the replica can tell its time behind (none replayed: unknown, over any bound)
      yield* cluster.sql`INSERT INTO t VALUES (0)`
      yield* replica.catchUp()
      yield* Reliability.eventually("the first lag measurement", lagOf, (lag) => lag === 0)
      expect(yield* Cluster.read(inRecovery(cluster))).toBe(true)

      yield* replica.pauseReplay
      yield* cluster.sql`INSERT INTO t VALUES (1)`
      const behind = yield* Reliability.eventually("the lag to pass 300 ms", lagOf, (lag) => (lag ?? 0) > 300, 20_000)
      // the replica is skipped: reads run on the primary and see the row
      expect(yield* Cluster.read(inRecovery(cluster))).toBe(false)
      expect(Number.isFinite(behind)).toBe(true)
      expect(yield* count).toEqual([{ n: 2 }])
      expect(yield* replica.sql("SELECT count(*)::int AS n FROM t")).toEqual([{ n: 1 }])

      yield* replica.resumeReplay
      yield* Reliability.eventually("the replica to catch up", lagOf, (lag) => lag === 0, 20_000)
      expect(yield* Cluster.read(inRecovery(cluster))).toBe(true)
      expect(yield* count).toEqual([{ n: 2 }])
      yield* Effect.log(`paused replica measured ${Math.round(behind!)} ms behind, skipped; resumed, back at 0 ms`)
    }))

  it.scopedLive("readYourWrites: after a write, reads run where it is visible (a paused replica is not)", () =>
    Effect.gen(function*() {
      const { primary, replica } = yield* primaryAndReplica
      const cluster = yield* Cluster.make(PgCluster.nodes(nodesOf(primary, replica)), {
        replication: Replication.postgres
      })
      const sql = cluster.sql
      const where = Cluster.read(
        Effect.map(
          sql<{ r: boolean; n: number }>`SELECT pg_is_in_recovery() AS r, (SELECT count(*)::int FROM t) AS n`,
          (rows) => rows[0]!
        )
      )
      // no write yet in the session: the replica
      expect(yield* Cluster.readYourWrites(where)).toEqual({ r: true, n: 0 })

      yield* replica.pauseReplay
      const session = yield* Cluster.readYourWrites(Effect.gen(function*() {
        const before = yield* where
        yield* sql`INSERT INTO t VALUES (1)`
        const after = yield* where
        return { before, after }
      }))
      expect(session).toEqual({ before: { r: true, n: 0 }, after: { r: false, n: 1 } })
      // outside a session, a read may be stale
      expect(yield* where).toEqual({ r: true, n: 0 })
      // a transaction is a write too
      const afterTransaction = yield* Cluster.readYourWrites(
        Effect.zipRight(sql.withTransaction(sql`INSERT INTO t VALUES (2)`), where)
      )
      expect(afterTransaction).toEqual({ r: false, n: 2 })

      yield* replica.resumeReplay
      yield* replica.catchUp()
      // caught up: the session's reads after its write go to the replica again (the primary may write more WAL of
      // its own meanwhile, so this is waited for)
      const caughtUp = yield* Cluster.readYourWrites(
        Effect.zipRight(
          sql`INSERT INTO t VALUES (3)`,
          Reliability.eventually("a read on the replica after the write", where, (w) => w.r, 20_000)
        )
      )
      expect(caughtUp).toEqual({ r: true, n: 3 })
    }))

  it.scopedLive("a replica down when the cluster starts: the cluster starts, reads run on the primary until it is up", () =>
    Effect.gen(function*() {
      const { primary, replica } = yield* primaryAndReplica
      yield* replica.stop("fast")
      const cluster = yield* Cluster.make(
        PgCluster.nodes(nodesOf(primary, replica).map((node) => ({ ...node, pool: { ...pool, minConnections: 2 } }))),
        { removeAfterFailures: 1, probe: Schedule.spaced("100 millis") }
      )
      const events = yield* cluster.subscribe
      expect(yield* Cluster.read(inRecovery(cluster))).toBe(false)
      expect((yield* Queue.take(events))._tag).toBe("NodeDown")
      yield* replica.start
      expect((yield* Queue.take(events))._tag).toBe("NodeUp")
      expect(yield* Cluster.read(inRecovery(cluster))).toBe(true)
    }))
})
