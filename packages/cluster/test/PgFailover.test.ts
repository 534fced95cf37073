/**
 * Failover against real servers: a disposable PostgreSQL primary and a streaming replica (`pg_basebackup -R`),
 * 50 fibers writing rows with unique ids through the cluster's SqlClient while the replica is promoted and the
 * old primary stopped. Every write's outcome and time is recorded; the figures are logged:
 * `npx vitest run packages/cluster/test/PgFailover.test.ts`.
 *
 * Two scenarios, because with asynchronous replication a commit the old primary acknowledged may never reach
 * the replica when the primary is lost first:
 * - unplanned, with a synchronous standby (`synchronous_standby_names = '*'`): the replica is promoted while
 *   the old primary still runs, then the old primary crashes (`immediate`);
 * - planned switchover with asynchronous replication: the old primary stops cleanly (`fast`, which sends
 *   all its WAL to the standby first), then the replica is promoted.
 */
import { Cluster, ClusterEvent, PgCluster, Replication } from "@dbpool/cluster"
import { PgCluster as TestCluster, Reliability } from "@dbpool/testing"
import type { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Queue, Redacted, Schedule } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { causeTag, load, longestGap, type Outcome, typedCauses } from "./utils/WriteLoad.js"

const fibers = 50
const pool = { minConnections: 0, maxConnections: 10, maxRetries: 0, connectTimeout: "2 seconds" } as const

const setUp = (synchronous: boolean) =>
  Effect.gen(function*() {
    const primary = yield* TestCluster.make()
    yield* primary.sql("CREATE TABLE w (id int PRIMARY KEY)")
    const replica = yield* TestCluster.makeReplica(primary)
    if (synchronous) {
      yield* primary.sql("ALTER SYSTEM SET synchronous_standby_names = '*'")
      yield* primary.sql("SELECT pg_reload_conf()")
      yield* Reliability.eventually(
        "the standby to be synchronous",
        primary.sql("SELECT count(*)::int AS n FROM pg_stat_replication WHERE sync_state = 'sync'"),
        (rows) => rows[0]?.n === 1,
        20_000
      )
    }
    const cluster = yield* Cluster.make(
      PgCluster.nodes([
        { name: "primary", role: "primary", url: Redacted.make(primary.url), pool },
        { name: "replica", role: "replica", url: Redacted.make(replica.url), pool }
      ]),
      { replication: Replication.postgres, failoverTimeout: "30 seconds" }
    )
    return { primary, replica, cluster }
  })

/** Runs the load through `fault`, until 500 writes were acknowledged after it; checks and logs the figures. */
const underLoad = (
  name: string,
  cluster: Cluster.Cluster,
  replica: TestCluster.PgReplica,
  fault: Effect.Effect<void, unknown>
) =>
  Effect.gen(function*() {
    const events = yield* cluster.subscribe
    const outcomes: Array<Outcome> = []
    const stop = { now: false }
    const writers = yield* load(cluster, outcomes, stop, fibers)
    yield* Reliability.eventually(
      "writes before the fault",
      Effect.sync(() => outcomes.length),
      (n) => n >= 500,
      30_000
    )
    const faultAt = performance.now()
    const changedAt = yield* Effect.fork(
      Effect.map(
        Queue.take(events).pipe(Effect.repeat({ until: (e) => e._tag === "PrimaryChanged" })),
        (event) => ({ event, at: performance.now() })
      )
    )
    yield* fault
    const faultDone = performance.now()
    const afterFault = () => outcomes.filter((o) => o.failed === undefined && o.start > faultDone).length
    yield* Reliability.eventually("500 writes after the fault", Effect.sync(afterFault), (n) => n >= 500, 60_000)
    stop.now = true
    yield* Fiber.join(writers)
    // nothing left lent or waiting in either node's pool
    yield* Reliability.eventually(
      "every pool idle",
      Effect.forEach(cluster.nodes, (node) => node.pool.stats),
      (stats) => stats.every((s) => s.activeConnections === 0 && s.waitingRequests === 0)
    )

    const failed = outcomes.filter((o) => o.failed !== undefined)
    const acked = outcomes.filter((o) => o.failed === undefined)
    const stored = new Set(
      (yield* replica.sql("SELECT id FROM w")).map((row) => Number((row as { id: number }).id))
    )
    const lost = acked.filter((o) => !stored.has(o.id))
    const gap = longestGap(outcomes)
    const change = yield* Fiber.join(changedAt)
    const switched = change.at - faultAt
    const changed = [...(yield* Queue.takeAll(events))].filter((e) => e._tag === "PrimaryChanged")

    // every failure typed, no acknowledged row lost, writes resumed on the new primary
    expect(failed.filter((o) => !typedCauses.has(o.failed!))).toEqual([])
    expect(lost.map((o) => o.id)).toEqual([])
    // one change, from the old primary to the promoted replica (taken by the fiber that timed it), none after
    expect(change.event).toEqual(ClusterEvent.ClusterEvent.PrimaryChanged({ from: "primary", to: "replica" }))
    expect(changed).toEqual([])
    expect((yield* cluster.currentPrimary)?.name).toBe("replica")
    // the writes acknowledged after the fault are on the new primary (a subset of the check above, said apart)
    expect(acked.filter((o) => o.start > faultDone && !stored.has(o.id))).toEqual([])
    // generous: a busy 2-core machine; the measured figure is logged
    expect(gap).toBeLessThan(30_000)
    const tags = [...new Set(failed.map((o) => o.failed))].join(", ")
    yield* Effect.log(
      `${name}: ${outcomes.length} writes by ${fibers} fibers, ${acked.length} acknowledged, ${failed.length} failed` +
        ` (${tags || "none"}), longest gap between acknowledged writes ${gap.toFixed(0)} ms,` +
        ` rows lost ${lost.length}; the fault took ${(faultDone - faultAt).toFixed(0)} ms, PrimaryChanged` +
        ` ${switched.toFixed(0)} ms after it began`
    )
  })

describe("PgCluster failover under a 50-fiber write load", () => {
  it.scopedLive(
    "synchronous standby: promoted while the primary runs, then the primary crashes",
    () =>
      Effect.gen(function*() {
        const { cluster, primary, replica } = yield* setUp(true)
        expect((yield* cluster.currentPrimary)?.name).toBe("primary")
        yield* underLoad(
          "sync standby, promote then crash the old primary",
          cluster,
          replica,
          Effect.zipRight(replica.promote, Effect.zipRight(Effect.sleep("300 millis"), primary.stop("immediate")))
        )
      }),
    180_000
  )

  it.scopedLive(
    "synchronous standby: promoted while the primary runs; writes move to it before the old one stops",
    () =>
      Effect.gen(function*() {
        const { cluster, primary, replica } = yield* setUp(true)
        // the old primary still runs and takes writes (they wait for the standby that left): the discovery
        // every second finds the promoted node, of a higher timeline, and moves the writes to it
        const promoted = Effect.zipRight(
          replica.promote,
          Reliability.eventually(
            "the writes to move to the promoted node",
            Effect.map(cluster.currentPrimary, (node) => node?.name),
            (name) => name === "replica",
            20_000
          )
        )
        yield* underLoad(
          "sync standby, promote, old primary up until the writes moved",
          cluster,
          replica,
          Effect.zipRight(promoted, primary.stop("immediate"))
        )
      }),
    180_000
  )

  it.scopedLive(
    "planned switchover, asynchronous replication: the primary stops cleanly, then the replica is promoted",
    () =>
      Effect.gen(function*() {
        const { cluster, primary, replica } = yield* setUp(false)
        yield* underLoad(
          "async planned switchover, stop (fast) then promote",
          cluster,
          replica,
          Effect.zipRight(primary.stop("fast"), replica.promote)
        )
      }),
    180_000
  )
})

describe("PgCluster with several writers (two writable servers)", () => {
  it.scopedLive(
    "writes are balanced over both; each lands on exactly one; a stopped writer is skipped",
    () =>
      Effect.gen(function*() {
        const servers = yield* Effect.all([TestCluster.make(), TestCluster.make()], { concurrency: "unbounded" })
        yield* Effect.forEach(servers, (server) => server.sql("CREATE TABLE w (id int PRIMARY KEY)"))
        const cluster = yield* Cluster.make(
          PgCluster.nodes(servers.map((server, i) => ({
            name: `writer-${i + 1}`,
            role: "primary" as const,
            url: Redacted.make(server.url),
            pool
          }))),
          { writers: "roundRobin", replication: Replication.postgres, removeAfterFailures: 1 }
        )
        const insert = (id: number) => cluster.sql`INSERT INTO w (id) VALUES (${id})`
        yield* Effect.forEach(Array.from({ length: 200 }, (_, i) => i + 1), insert, { concurrency: 10 })
        const idsOn = (server: TestCluster.PgCluster) =>
          Effect.map(server.sql("SELECT id FROM w ORDER BY id"), (rows) => rows.map((row) => Number(row.id)))
        const [first, second] = yield* Effect.forEach(servers, idsOn)
        // round robin: one write in two on each; together every id exactly once
        expect([first!.length, second!.length]).toEqual([100, 100])
        expect([...first!, ...second!].sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1))

        yield* servers[1]!.stop("fast")
        const outcomes = yield* Effect.forEach(
          Array.from({ length: 100 }, (_, i) => 1000 + i),
          (id) => Effect.either(insert(id)),
          { concurrency: 10 }
        )
        const acked = outcomes.flatMap((o, i) => o._tag === "Right" ? [1000 + i] : [])
        const failedTags = outcomes.flatMap((o) => o._tag === "Left" ? [causeTag(o.left)] : [])
        // a write that lost its connection fails typed (it may have run); the others ran on writer-1
        expect(failedTags.filter((tag) => tag !== "ConnectionLostError")).toEqual([])
        expect(failedTags.length).toBeLessThanOrEqual(pool.maxConnections)
        const after = (yield* idsOn(servers[0]!)).filter((id) => id >= 1000)
        expect(after).toEqual(acked)
        expect((yield* cluster.health).map((h) => [h.name, h.up])).toEqual([["writer-1", true], ["writer-2", false]])
        yield* Effect.log(
          `several writers: 200 writes split ${first!.length}/${second!.length}; writer-2 stopped: ` +
            `${acked.length} of 100 writes acknowledged on writer-1, ${failedTags.length} failed (${
              failedTags.join(", ") || "none"
            })`
        )
      }),
    120_000
  )
})

describe("PgCluster discovers its primary (real servers)", () => {
  it.scopedLive(
    "configured the wrong way round: writes go to the node that takes them, reads to the standby",
    () =>
      Effect.gen(function*() {
        const primary = yield* TestCluster.make()
        yield* primary.sql("CREATE TABLE w (id int PRIMARY KEY)")
        const replica = yield* TestCluster.makeReplica(primary)
        const cluster = yield* Cluster.make(
          PgCluster.nodes([
            { name: "a", role: "primary", url: Redacted.make(replica.url), pool },
            { name: "b", role: "replica", url: Redacted.make(primary.url), pool }
          ]),
          { replication: Replication.postgres }
        )
        expect(cluster.nodes.map((node) => [node.name, node.role])).toEqual([["a", "replica"], ["b", "primary"]])
        const inRecovery = cluster.sql<{ r: boolean }>`SELECT pg_is_in_recovery() AS r`
        expect(yield* inRecovery).toEqual([{ r: false }])
        expect(yield* Cluster.read(inRecovery)).toEqual([{ r: true }])
        yield* cluster.sql`INSERT INTO w (id) VALUES (1)`
        expect(yield* primary.sql("SELECT count(*)::int AS n FROM w")).toEqual([{ n: 1 }])
      }),
    120_000
  )

  it.scopedLive(
    "the primary stopped and no replica promoted: NoPrimaryError after failoverTimeout; back: writes run",
    () =>
      Effect.gen(function*() {
        const primary = yield* TestCluster.make()
        yield* primary.sql("CREATE TABLE w (id int PRIMARY KEY)")
        const replica = yield* TestCluster.makeReplica(primary)
        const cluster = yield* Cluster.make(
          PgCluster.nodes([
            { name: "primary", role: "primary", url: Redacted.make(primary.url), pool },
            { name: "replica", role: "replica", url: Redacted.make(replica.url), pool }
          ]),
          { replication: Replication.postgres, failoverTimeout: "1 second" }
        )
        const events = yield* cluster.subscribe
        yield* primary.stop("fast")
        const started = performance.now()
        const error = yield* Effect.flip(cluster.sql`INSERT INTO w (id) VALUES (1)`)
        const waited = performance.now() - started
        expect((error.cause as { _tag: string })._tag).toBe("NoPrimaryError")
        expect(waited).toBeGreaterThanOrEqual(1000)
        // the replica refused nothing: the write was never sent to it
        expect(yield* replica.sql("SELECT count(*)::int AS n FROM w")).toEqual([{ n: 0 }])
        yield* primary.start
        // the discovery schedule finds it again (once its pool's breaker lets a connection through)
        const seen: Array<ClusterEvent.ClusterEvent> = []
        yield* Queue.take(events).pipe(
          Effect.tap((e) => Effect.sync(() => e._tag !== "NodeDown" && e._tag !== "NodeUp" && seen.push(e))),
          Effect.repeat({ until: (e) => e._tag === "PrimaryChanged" }),
          Effect.timeout("30 seconds")
        )
        expect(seen).toEqual([
          ClusterEvent.ClusterEvent.PrimaryLost({ from: "primary" }),
          ClusterEvent.ClusterEvent.PrimaryChanged({ from: "primary", to: "primary" })
        ])
        yield* cluster.sql`INSERT INTO w (id) VALUES (2)`
        expect(yield* primary.sql("SELECT id FROM w")).toEqual([{ id: 2 }])
        yield* Effect.log(
          `no primary: the write failed with NoPrimaryError after ${waited.toFixed(0)} ms (bound 1000 ms)`
        )
      }),
    120_000
  )
})

/** Restarts a stopped old primary as a standby of `to` (as a failover manager demotes it): it replays from there. */
const demote = (old: TestCluster.PgCluster, to: TestCluster.PgCluster) =>
  Effect.gen(function*() {
    yield* Effect.sync(() => {
      Fs.writeFileSync(Path.join(old.dataDir, "standby.signal"), "")
      Fs.appendFileSync(
        Path.join(old.dataDir, "postgresql.auto.conf"),
        `\nprimary_conninfo = 'host=${to.host} port=${to.port} user=${to.user}'\n`
      )
    })
    yield* old.start
  })

describe("PgCluster transactions across a failover (real servers)", () => {
  it.scopedLive(
    "a transaction sent to the demoted old primary (now a standby) is refused at BEGIN and runs once on the new one",
    () =>
      Effect.gen(function*() {
        const primary = yield* TestCluster.make()
        yield* primary.sql("CREATE TABLE w (id int PRIMARY KEY)")
        const replica = yield* TestCluster.makeReplica(primary)
        // no scheduled discovery: the cluster still takes the old primary for the primary when the transaction starts
        const cluster = yield* Cluster.make(
          PgCluster.nodes([
            { name: "primary", role: "primary", url: Redacted.make(primary.url), pool },
            { name: "replica", role: "replica", url: Redacted.make(replica.url), pool }
          ]),
          { replication: Replication.postgres, discovery: Schedule.stop, failoverTimeout: "10 seconds" }
        )
        const events = yield* cluster.subscribe
        yield* primary.stop("fast")
        yield* replica.promote
        yield* demote(primary, replica)
        expect(yield* primary.sql("SELECT pg_is_in_recovery() AS r")).toEqual([{ r: true }])
        // what the standby answers to BEGIN READ WRITE, the statement the cluster's transactions begin with:
        // SQLSTATE 0A000 (not 25006, which its writes get)
        const refused = yield* Effect.flip(primary.sql("BEGIN READ WRITE"))
        expect(String(refused)).toContain("cannot set transaction read-write mode during recovery")
        expect((yield* cluster.currentPrimary)?.name).toBe("primary")

        let runs = 0
        const where = yield* cluster.sql.withTransaction(Effect.gen(function*() {
          runs++
          yield* cluster.sql`INSERT INTO w (id) VALUES (1)`
          return yield* cluster.sql<{ r: boolean }>`SELECT pg_is_in_recovery() AS r`
        }))
        expect(runs).toBe(1)
        expect(where).toEqual([{ r: false }])
        expect(yield* replica.sql("SELECT id FROM w")).toEqual([{ id: 1 }])
        expect(yield* Queue.take(events)).toEqual(
          ClusterEvent.ClusterEvent.PrimaryChanged({ from: "primary", to: "replica" })
        )
        yield* Reliability.eventually(
          "every pool idle",
          Effect.forEach(cluster.nodes, (node) => node.pool.stats),
          (stats) => stats.every((s) => s.activeConnections === 0 && s.waitingRequests === 0)
        )
      }),
    120_000
  )
})

describe("PgCluster started after a failover (real servers)", () => {
  it.scopedLive(
    "the old primary down and still configured as primary: with failover the cluster starts on the nodes that answer",
    () =>
      Effect.gen(function*() {
        const primary = yield* TestCluster.make()
        yield* primary.sql("CREATE TABLE w (id int PRIMARY KEY)")
        const replica = yield* TestCluster.makeReplica(primary)
        yield* primary.stop("fast")
        // one connection each at start: the strict start must open one on the configured primary
        const opened = { ...pool, minConnections: 1 }
        const oldConfig = [
          { name: "primary", role: "primary" as const, url: Redacted.make(primary.url), pool: opened },
          { name: "replica", role: "replica" as const, url: Redacted.make(replica.url), pool: opened }
        ]
        const inRecovery = (sql: SqlClient.SqlClient) =>
          Effect.map(sql<{ r: boolean }>`SELECT pg_is_in_recovery() AS r`, (rows) => rows[0]!.r)

        // without failover: today's strict start, the configured primary must open
        const strict = yield* Effect.flip(Effect.scoped(Cluster.make(PgCluster.nodes(oldConfig))))
        expect(strict._tag).toBe("ConnectError")

        // with failover and no node answering at all: Cluster.make starts (nothing to write to), while
        // PgCluster.layer, which reads its settings from a node that answers, does not
        yield* replica.stop("fast")
        yield* Effect.scoped(Effect.gen(function*() {
          const cluster = yield* Cluster.make(PgCluster.nodes(oldConfig), { replication: Replication.postgres })
          expect(yield* cluster.currentPrimary).toBeUndefined()
          const noLayer = yield* Effect.flip(Layer.build(PgCluster.layer(oldConfig)))
          expect(noLayer._tag).toBe("SqlError")
        }))
        yield* replica.start

        // with failover and no node taking writes: it starts, reads run on the standby, a write waits
        // failoverTimeout and fails typed, sent nowhere
        yield* Effect.scoped(Effect.gen(function*() {
          const cluster = yield* Cluster.make(PgCluster.nodes(oldConfig), {
            replication: Replication.postgres,
            failoverTimeout: "1 second"
          })
          expect(yield* cluster.currentPrimary).toBeUndefined()
          expect(yield* Cluster.read(inRecovery(cluster.sql))).toBe(true)
          const started = performance.now()
          const error = yield* Effect.flip(cluster.sql`INSERT INTO w (id) VALUES (1)`)
          expect((error.cause as { _tag: string })._tag).toBe("NoPrimaryError")
          expect(performance.now() - started).toBeGreaterThanOrEqual(1000)
        }))

        // the replica promoted, the program restarted with the same configuration: writes go to it
        yield* replica.promote
        const context = yield* Layer.build(PgCluster.layer(oldConfig, { failoverTimeout: "10 seconds" }))
        const cluster = Context.get(context, Cluster.Cluster)
        const pg = Context.get(context, PgClient.PgClient)
        expect((yield* cluster.currentPrimary)?.name).toBe("replica")
        expect(cluster.nodes.map((node) => [node.name, node.role])).toEqual([["primary", "replica"], [
          "replica",
          "primary"
        ]])
        yield* pg`INSERT INTO w (id) VALUES (2)`
        const inTx = yield* pg.withTransaction(Effect.zipRight(pg`INSERT INTO w (id) VALUES (3)`, inRecovery(pg)))
        expect(inTx).toBe(false)
        expect(yield* replica.sql("SELECT id FROM w ORDER BY id")).toEqual([{ id: 2 }, { id: 3 }])
        // its settings were read from the node that answered: the promoted one
        expect(pg.config.port).toBe(replica.port)
        // no other node to read from: reads fall back to the primary
        expect(yield* Cluster.read(inRecovery(pg))).toBe(false)
      }),
    120_000
  )
})
