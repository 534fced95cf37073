/**
 * Failover on MariaDB against real servers: a disposable primary and a GTID replica (`MariaReplica`), 50
 * fibers writing rows with unique ids through a `MysqlCluster` with `Replication.mariadb` while the replica
 * is promoted. Every write's outcome and time is recorded; the figures are logged:
 * `npx vitest run packages/cluster/test/MariaFailover.test.ts`.
 *
 * The scenarios, because with asynchronous replication a commit the old primary acknowledged may never reach
 * the replica when the primary is lost first:
 * - planned switchover, asynchronous: the primary is made read-only (its refused writes wait for a
 *   primary), the replica applies every GTID the primary logged, then it is promoted;
 * - planned switchover, asynchronous: the primary stops cleanly with `SHUTDOWN WAIT FOR ALL SLAVES` (it
 *   sends its replicas all it logged before it exits), then the replica is promoted;
 * - unplanned, semi-synchronous (`AFTER_SYNC`): the primary is killed (SIGKILL), then the replica is
 *   promoted (it applies all it received first: every acknowledged commit);
 * - semi-synchronous with a term table (`Replication.mariadbTerm`): the replica is promoted while the
 *   primary still takes writes, the writes move to it, then the old primary is killed;
 * - unplanned, asynchronous: the primary is killed, then the replica promoted. Nothing guarantees the
 *   acknowledged rows there: the rows lost are logged, not asserted.
 * And split brain: MariaDB has no term (see docs/cluster.md), so two writable nodes mean no primary.
 */
import { Cluster, ClusterEvent, MysqlCluster, Replication } from "@dbpool/cluster"
import { MariaReplica, type MariaServer, Reliability } from "@dbpool/testing"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Queue, Redacted, Schedule } from "effect"
import { load, longestGap, type Outcome, typedCauses } from "./utils/WriteLoad.js"

const fibers = 50
const pool = { minConnections: 0, maxConnections: 10, maxRetries: 0, connectTimeout: "2 seconds" } as const

/** A user without READ ONLY ADMIN, so that `read_only` holds for it (root bypasses it on 10.11). */
const user = "app"

const urlOf = (server: { readonly port: number }) => Redacted.make(`mysql://${user}@127.0.0.1:${server.port}/test`)

const setUp = (options: { readonly semiSync: boolean; readonly term?: boolean }) =>
  Effect.gen(function*() {
    const primary = yield* MariaReplica.makePrimary()
    yield* primary.sql("CREATE TABLE w (id int PRIMARY KEY)")
    yield* primary.sql("CREATE TABLE dbpool_term (id INT PRIMARY KEY, term BIGINT NOT NULL)")
    yield* primary.sql("INSERT INTO dbpool_term VALUES (1, 1)")
    yield* primary.sql(`CREATE USER '${user}'@'127.0.0.1'`)
    yield* primary.sql(`GRANT ALL ON test.* TO '${user}'@'127.0.0.1'`)
    const replica = yield* MariaReplica.make(primary, { semiSync: options.semiSync })
    yield* replica.catchUp()
    const cluster = yield* Cluster.make(
      MysqlCluster.nodes([
        { name: "primary", role: "primary", url: urlOf(primary), pool },
        { name: "replica", role: "replica", url: urlOf(replica), pool }
      ]),
      {
        replication: options.term ? Replication.mariadbTerm("dbpool_term") : Replication.mariadb,
        failoverTimeout: "30 seconds"
      }
    )
    expect((yield* cluster.currentPrimary)?.name).toBe("primary")
    return { primary, replica, cluster }
  })

const ids = (server: MariaServer.MariaServer) =>
  Effect.map(server.sql("SELECT id FROM w"), (rows) => new Set(rows.map((row) => Number(row.id))))

/** Runs the load through `fault`, until 500 writes were acknowledged after it; checks and logs the figures. */
const underLoad = (
  name: string,
  cluster: Cluster.Cluster,
  replica: MariaReplica.MariaReplica,
  fault: Effect.Effect<void, unknown>,
  /** Whether replication guarantees that no acknowledged row is lost (else the figure is only logged). */
  guaranteed = true
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
    yield* Reliability.eventually(
      "every pool idle",
      Effect.forEach(cluster.nodes, (node) => node.pool.stats),
      (stats) => stats.every((s) => s.activeConnections === 0 && s.waitingRequests === 0)
    )

    const failed = outcomes.filter((o) => o.failed !== undefined)
    const acked = outcomes.filter((o) => o.failed === undefined)
    const stored = yield* ids(replica)
    const lost = acked.filter((o) => !stored.has(o.id))
    const gap = longestGap(outcomes)
    const change = yield* Fiber.join(changedAt)
    const changed = [...(yield* Queue.takeAll(events))].filter((e) => e._tag === "PrimaryChanged")

    // every failure typed, no acknowledged row lost, writes resumed on the new primary
    expect(failed.filter((o) => !typedCauses.has(o.failed!))).toEqual([])
    if (guaranteed) expect(lost.map((o) => o.id)).toEqual([])
    // one change, from the old primary to the promoted replica, none after
    expect(change.event).toEqual(ClusterEvent.ClusterEvent.PrimaryChanged({ from: "primary", to: "replica" }))
    expect(changed).toEqual([])
    expect((yield* cluster.currentPrimary)?.name).toBe("replica")
    // every id the replica has was written by us, once (a primary key): nothing invented or doubled
    expect([...stored].filter((id) => id < 1 || id > outcomes.length)).toEqual([])
    // generous: a busy 2-core machine; the measured figure is logged
    expect(gap).toBeLessThan(30_000)
    const tags = [...new Set(failed.map((o) => o.failed))].join(", ")
    const unacknowledgedStored = failed.filter((o) => stored.has(o.id)).length
    yield* Effect.log(
      `${name}: ${outcomes.length} writes by ${fibers} fibers, ${acked.length} acknowledged, ${failed.length} failed` +
        ` (${tags || "none"}; ${unacknowledgedStored} of them committed all the same), longest gap between` +
        ` acknowledged writes ${gap.toFixed(0)} ms, rows lost ${lost.length}; the fault took` +
        ` ${(faultDone - faultAt).toFixed(0)} ms, PrimaryChanged ${(change.at - faultAt).toFixed(0)} ms after it began`
    )
    return { failed: failed.length, gap, lost: lost.length }
  })

describe("MysqlCluster failover on MariaDB under a 50-fiber write load", () => {
  it.scopedLive(
    "planned switchover: the primary made read-only, the replica applies every GTID, then is promoted",
    () =>
      Effect.gen(function*() {
        const { cluster, primary, replica } = yield* setUp({ semiSync: false })
        const result = yield* underLoad(
          "async planned switchover, read_only then promote",
          cluster,
          replica,
          Effect.gen(function*() {
            yield* primary.sql("SET GLOBAL read_only = 1")
            yield* replica.catchUp()
            yield* replica.promote()
          })
        )
        // a refused write did not run: it waits for the new primary and runs there
        expect(result.failed).toBe(0)
      }),
    180_000
  )

  it.scopedLive(
    "planned switchover: the primary stops cleanly (SHUTDOWN WAIT FOR ALL SLAVES), then the replica is promoted",
    () =>
      Effect.gen(function*() {
        const { cluster, primary, replica } = yield* setUp({ semiSync: false })
        // the statement's session may end before it answers: the server's exit is what counts
        const shutdown = Effect.zipRight(
          Effect.either(primary.sql("SHUTDOWN WAIT FOR ALL SLAVES")),
          Reliability.eventually("the primary to exit", primary.isRunning, (running) => !running, 30_000)
        )
        yield* underLoad(
          "async planned switchover, clean stop waiting for the replica, then promote",
          cluster,
          replica,
          Effect.zipRight(shutdown, replica.promote())
        )
      }),
    180_000
  )

  it.scopedLive(
    "semi-synchronous: the primary is killed (SIGKILL), then the replica is promoted",
    () =>
      Effect.gen(function*() {
        const { cluster, primary, replica } = yield* setUp({ semiSync: true })
        let atKill: MariaReplica.SemiSyncStatus | undefined
        yield* underLoad(
          "semi-sync, SIGKILL the primary then promote",
          cluster,
          replica,
          Effect.gen(function*() {
            atKill = yield* MariaReplica.semiSyncStatus(primary)
            yield* primary.stop("immediate")
            yield* replica.promote()
          })
        )
        // the guarantee held up to the kill: no commit was acknowledged without the replica's
        expect(atKill).toMatchObject({ on: true, clients: 1, unacknowledged: 0 })
        expect(atKill!.acknowledged).toBeGreaterThanOrEqual(500)
      }),
    180_000
  )

  it.scopedLive(
    "semi-synchronous, a term table: promoted while the primary takes writes, writes move to it, then the old one is killed",
    () =>
      Effect.gen(function*() {
        const { cluster, primary, replica } = yield* setUp({ semiSync: true, term: true })
        // the old primary still takes writes (they wait for the replica's acknowledgement, which no longer
        // comes): the discovery every second finds the promoted node, of a higher term, and moves the writes
        const promoted = Effect.zipRight(
          replica.promote({ termTable: "dbpool_term" }),
          Reliability.eventually(
            "the writes to move to the promoted node",
            Effect.map(cluster.currentPrimary, (node) => node?.name),
            (name) => name === "replica",
            20_000
          )
        )
        yield* underLoad(
          "semi-sync + term, promote, old primary up until the writes moved, then SIGKILL",
          cluster,
          replica,
          Effect.zipRight(promoted, primary.stop("immediate"))
        )
      }),
    180_000
  )

  it.scopedLive(
    "asynchronous, the primary killed (SIGKILL), then the replica promoted: rows lost measured, not guaranteed",
    () =>
      Effect.gen(function*() {
        const { cluster, primary, replica } = yield* setUp({ semiSync: false })
        yield* underLoad(
          "async, SIGKILL the primary then promote (no guarantee)",
          cluster,
          replica,
          Effect.zipRight(primary.stop("immediate"), replica.promote()),
          false
        )
      }),
    180_000
  )
})

describe("MysqlCluster on MariaDB with two writable nodes (no term: no primary)", () => {
  it.scopedLive(
    "the replica promoted while the primary takes writes: NoPrimaryError after failoverTimeout; one read-only: writes run",
    () =>
      Effect.gen(function*() {
        const primary = yield* MariaReplica.makePrimary()
        yield* primary.sql("CREATE TABLE w (id int PRIMARY KEY)")
        yield* primary.sql(`CREATE USER '${user}'@'127.0.0.1'`)
        yield* primary.sql(`GRANT ALL ON test.* TO '${user}'@'127.0.0.1'`)
        const replica = yield* MariaReplica.make(primary)
        yield* replica.catchUp()
        const cluster = yield* Cluster.make(
          MysqlCluster.nodes([
            { name: "primary", role: "primary", url: urlOf(primary), pool },
            { name: "replica", role: "replica", url: urlOf(replica), pool }
          ]),
          { replication: Replication.mariadb, failoverTimeout: "1 second" }
        )
        const events = yield* cluster.subscribe
        yield* cluster.sql`INSERT INTO w (id) VALUES (1)`
        yield* replica.catchUp()
        yield* replica.promote()
        // the discovery schedule (every second) finds both writable: neither is the primary
        const split = yield* Queue.take(events).pipe(
          Effect.repeat({ until: (e) => e._tag === "SplitBrain" }),
          Effect.timeout("30 seconds")
        )
        expect(split).toEqual(
          ClusterEvent.ClusterEvent.SplitBrain({ writable: ["primary", "replica"], primary: undefined })
        )
        expect(yield* cluster.currentPrimary).toBeUndefined()
        const started = performance.now()
        const error = yield* Effect.flip(cluster.sql`INSERT INTO w (id) VALUES (2)`)
        const waited = performance.now() - started
        expect((error.cause as { _tag: string })._tag).toBe("NoPrimaryError")
        expect(waited).toBeGreaterThanOrEqual(1000)
        // the write went to neither
        expect([...(yield* ids(primary))]).toEqual([1])
        expect([...(yield* ids(replica))]).toEqual([1])

        // the old primary fenced by hand (read-only): the promoted node is the primary
        yield* primary.sql("SET GLOBAL read_only = 1")
        yield* Reliability.eventually(
          "the promoted node to be the primary",
          Effect.map(cluster.currentPrimary, (node) => node?.name),
          (name) => name === "replica",
          30_000
        )
        yield* cluster.sql`INSERT INTO w (id) VALUES (3)`
        expect([...(yield* ids(replica))].sort()).toEqual([1, 3])
        expect([...(yield* ids(primary))]).toEqual([1])
        yield* Effect.log(
          `two writable MariaDB nodes: no primary; the write failed with NoPrimaryError after ${
            waited.toFixed(0)
          } ms (bound 1000 ms)`
        )
      }),
    120_000
  )
})

describe("Replication.mariadbTerm: a term table raised by the promotion", () => {
  it.scopedLive(
    "the promoted node, of the higher term, is the primary beside the old writable one, which is fenced",
    () =>
      Effect.gen(function*() {
        const primary = yield* MariaReplica.makePrimary()
        yield* primary.sql("CREATE TABLE w (id int PRIMARY KEY)")
        yield* primary.sql("CREATE TABLE dbpool_term (id INT PRIMARY KEY, term BIGINT NOT NULL)")
        yield* primary.sql("INSERT INTO dbpool_term VALUES (1, 1)")
        yield* primary.sql(`CREATE USER '${user}'@'127.0.0.1'`)
        yield* primary.sql(`GRANT ALL ON test.* TO '${user}'@'127.0.0.1'`)
        const replica = yield* MariaReplica.make(primary)
        yield* replica.catchUp()
        const replication = Replication.mariadbTerm("dbpool_term")
        const cluster = yield* Cluster.make(
          MysqlCluster.nodes([
            { name: "primary", role: "primary", url: urlOf(primary), pool },
            { name: "replica", role: "replica", url: urlOf(replica), pool }
          ]),
          { replication, failoverTimeout: "10 seconds" }
        )
        const events = yield* cluster.subscribe
        yield* cluster.sql`INSERT INTO w (id) VALUES (1)`
        yield* replica.catchUp()
        yield* replica.promote({ termTable: "dbpool_term" })
        // both take writes; the discovery schedule (every second) finds the promoted one of the higher term
        const seen: Array<ClusterEvent.ClusterEvent> = []
        yield* Queue.take(events).pipe(
          Effect.tap((e) => Effect.sync(() => seen.push(e))),
          Effect.repeat({ until: (e) => e._tag === "PrimaryChanged" }),
          Effect.timeout("30 seconds")
        )
        expect(seen).toEqual([
          ClusterEvent.ClusterEvent.SplitBrain({ writable: ["primary", "replica"], primary: "replica" }),
          ClusterEvent.ClusterEvent.PrimaryChanged({ from: "primary", to: "replica" })
        ])
        expect(yield* primary.sql("SELECT @@read_only AS ro, (SELECT term FROM dbpool_term) AS term")).toEqual([
          { ro: 0, term: 1 }
        ])
        const [primaryPool, replicaPool] = cluster.nodes.map((node) => node.pool.sql)
        expect([yield* replication.primaryTerm!(primaryPool!), yield* replication.primaryTerm!(replicaPool!)])
          .toEqual([1, 2])
        // a term table with no row: term 0
        yield* primary.sql("CREATE TABLE no_term (id INT PRIMARY KEY, term BIGINT NOT NULL)")
        expect(yield* Replication.mariadbTerm("no_term").primaryTerm!(primaryPool!)).toBe(0)
        // writes go to the promoted node only; the old one, fenced, gets no reads either
        yield* cluster.sql`INSERT INTO w (id) VALUES (2)`
        expect([...(yield* ids(replica))].sort()).toEqual([1, 2])
        expect([...(yield* ids(primary))]).toEqual([1])
        const readOn = yield* Cluster.read(cluster.sql<{ id: number }>`SELECT @@server_id AS id`)
        expect(readOn).toEqual([{ id: replica.serverId }])
      }),
    120_000
  )
})

/** A primary with table `w` and the user `app`, and its GTID replica caught up. */
const pair = Effect.gen(function*() {
  const primary = yield* MariaReplica.makePrimary()
  yield* primary.sql("CREATE TABLE w (id int PRIMARY KEY)")
  yield* primary.sql(`CREATE USER '${user}'@'127.0.0.1'`)
  yield* primary.sql(`GRANT ALL ON test.* TO '${user}'@'127.0.0.1'`)
  const replica = yield* MariaReplica.make(primary)
  yield* replica.catchUp()
  return { primary, replica }
})

const everyPoolIdle = (cluster: Cluster.Cluster) =>
  Reliability.eventually(
    "every pool idle",
    Effect.forEach(cluster.nodes, (node) => node.pool.stats),
    (stats) => stats.every((s) => s.activeConnections === 0 && s.waitingRequests === 0)
  )

describe("MysqlCluster transactions across a failover on MariaDB (real servers)", () => {
  it.scopedLive(
    "a transaction sent to the old primary, made read-only, is refused at BEGIN and runs once on the promoted node",
    () =>
      Effect.gen(function*() {
        const { primary, replica } = yield* pair
        // no scheduled discovery: the cluster still takes the old primary for the primary when the transaction starts
        const cluster = yield* Cluster.make(
          MysqlCluster.nodes([
            { name: "primary", role: "primary", url: urlOf(primary), pool },
            { name: "replica", role: "replica", url: urlOf(replica), pool }
          ]),
          { replication: Replication.mariadb, discovery: Schedule.stop, failoverTimeout: "10 seconds" }
        )
        const events = yield* cluster.subscribe
        yield* primary.sql("SET GLOBAL read_only = 1")
        yield* replica.catchUp()
        yield* replica.promote()
        // what the read-only node answers the user to the statement the cluster's transactions begin with:
        // 1290, as its writes get
        const refused = yield* Effect.flip(cluster.nodes[0]!.pool.sql.unsafe("START TRANSACTION READ WRITE"))
        expect((refused.cause as { errno?: unknown }).errno).toBe(1290)
        expect((yield* cluster.currentPrimary)?.name).toBe("primary")

        let runs = 0
        const where = yield* cluster.sql.withTransaction(Effect.gen(function*() {
          runs++
          yield* cluster.sql`INSERT INTO w (id) VALUES (1)`
          return yield* cluster.sql<{ id: number }>`SELECT @@server_id AS id`
        }))
        expect(runs).toBe(1)
        expect(where).toEqual([{ id: replica.serverId }])
        expect([...(yield* ids(replica))]).toEqual([1])
        expect([...(yield* ids(primary))]).toEqual([])
        expect(yield* Queue.take(events)).toEqual(
          ClusterEvent.ClusterEvent.PrimaryChanged({ from: "primary", to: "replica" })
        )
        // Replication.mariadbTerm and mariadbHeartbeat begin as mariadb does
        expect(Replication.mariadb.beginWrite).toBe("START TRANSACTION READ WRITE")
        expect(Replication.mariadbTerm("t").beginWrite).toBe(Replication.mariadb.beginWrite)
        expect(Replication.mariadbHeartbeat("t").beginWrite).toBe(Replication.mariadb.beginWrite)
        yield* everyPoolIdle(cluster)
      }),
    120_000
  )
})

describe("MysqlCluster started after a failover on MariaDB (real servers)", () => {
  it.scopedLive(
    "the old primary down and still configured as primary: with failover the cluster starts and writes go to the promoted node",
    () =>
      Effect.gen(function*() {
        const { primary, replica } = yield* pair
        yield* primary.stop("fast")
        yield* replica.promote()
        // one connection each at start: the strict start must open one on the configured primary
        const opened = { ...pool, minConnections: 1 }
        const oldConfig = [
          { name: "primary", role: "primary" as const, url: urlOf(primary), pool: opened },
          { name: "replica", role: "replica" as const, url: urlOf(replica), pool: opened }
        ]

        // without failover: the strict start, the configured primary must open
        const strict = yield* Effect.flip(Effect.scoped(Cluster.make(MysqlCluster.nodes(oldConfig))))
        expect(strict._tag).toBe("ConnectError")

        // with failover: it starts, discovery finds the promoted node, writes and transactions go to it
        const context = yield* Layer.build(
          MysqlCluster.layer(oldConfig, { replication: Replication.mariadb, failoverTimeout: "10 seconds" })
        )
        const cluster = Context.get(context, Cluster.Cluster)
        expect((yield* cluster.currentPrimary)?.name).toBe("replica")
        yield* cluster.sql`INSERT INTO w (id) VALUES (1)`
        const inTx = yield* cluster.sql.withTransaction(
          Effect.zipRight(
            cluster.sql`INSERT INTO w (id) VALUES (2)`,
            cluster.sql<{ id: number }>`SELECT @@server_id AS id`
          )
        )
        expect(inTx).toEqual([{ id: replica.serverId }])
        expect([...(yield* ids(replica))].sort()).toEqual([1, 2])
        expect(yield* cluster.health).toMatchObject([{ name: "primary" }, { name: "replica", up: true }])
        yield* everyPoolIdle(cluster)
      }),
    120_000
  )
})
