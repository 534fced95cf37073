/**
 * The cluster against a real MariaDB primary and a GTID replica (disposable servers on spare ports, binlog +
 * `CHANGE MASTER TO ... MASTER_USE_GTID=slave_pos`): where reads and writes land, lag from a stopped SQL
 * thread, read-your-writes, and what reads do while the replica is stopped.
 */
import { Cluster, ClusterEvent, MysqlCluster, Replication } from "@dbpool/cluster"
import { MariaReplica, Reliability } from "@dbpool/testing"
import { SqlClient } from "@effect/sql"
import { MysqlClient } from "@effect/sql-mysql2"
import type { SqlError } from "@effect/sql/SqlError"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Fiber, Queue, Redacted, Schedule } from "effect"

const pool = { minConnections: 0, maxConnections: 4, maxRetries: 0, connectTimeout: "2 seconds" } as const

/** A user without READ ONLY ADMIN (so that read_only holds for it), allowed SHOW SLAVE STATUS. */
const user = "app"

const primaryAndReplica = Effect.gen(function*() {
  const primary = yield* MariaReplica.makePrimary()
  yield* primary.sql("CREATE TABLE t (n int)")
  yield* primary.sql(`CREATE USER '${user}'@'127.0.0.1'`)
  yield* primary.sql(`GRANT ALL ON test.* TO '${user}'@'127.0.0.1'`)
  yield* primary.sql(`GRANT SLAVE MONITOR ON *.* TO '${user}'@'127.0.0.1'`)
  const replica = yield* MariaReplica.make(primary)
  yield* replica.catchUp()
  return { primary, replica }
})

const nodesOf = (primary: MariaReplica.MariaReplica["primary"], replica: MariaReplica.MariaReplica) =>
  [
    { name: "primary", role: "primary", url: Redacted.make(`mysql://${user}@127.0.0.1:${primary.port}/test`), pool },
    { name: "replica", role: "replica", url: Redacted.make(`mysql://${user}@127.0.0.1:${replica.port}/test`), pool }
  ] as const

interface Where {
  readonly id: number
  readonly ro: number
  readonly n: number
}

/** Which server ran the statement (`@@server_id`: the primary's is 1), whether it is read-only, and the rows of t. */
const where = (sql: SqlClient.SqlClient): Effect.Effect<Where, SqlError> =>
  Effect.map(
    sql<Where>`SELECT @@server_id AS id, @@read_only AS ro, (SELECT count(*) FROM t) AS n`,
    (rows) => ({ id: Number(rows[0]!.id), ro: Number(rows[0]!.ro), n: Number(rows[0]!.n) })
  )

const onPrimary = (n: number): Where => ({ id: 1, ro: 0, n })

/** Nothing leaked: no node's pool has a connection lent or a request waiting. */
const expectIdle = (cluster: Cluster.Cluster) =>
  Effect.gen(function*() {
    const stats = yield* Effect.forEach(cluster.nodes, (node) => node.pool.stats)
    expect(stats.map((s) => [s.name, s.activeConnections, s.waitingRequests])).toEqual([
      ["primary", 0, 0],
      ["replica", 0, 0]
    ])
  })

describe("MysqlCluster on a MariaDB primary and a GTID replica", () => {
  it.scopedLive("reads run on the replica; writes, transactions and onPrimary on the primary; MysqlClient routes too", () =>
    Effect.gen(function*() {
      const { primary, replica } = yield* primaryAndReplica
      const onReplica = (n: number): Where => ({ id: replica.serverId, ro: 1, n })
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        expect(yield* where(sql)).toEqual(onPrimary(0))
        expect(yield* Cluster.read(where(sql))).toEqual(onReplica(0))
        expect(yield* Cluster.read(sql.withTransaction(where(sql)))).toEqual(onPrimary(0))
        expect(yield* Cluster.read(Cluster.onPrimary(where(sql)))).toEqual(onPrimary(0))

        yield* sql`INSERT INTO t VALUES (1), (2)`
        yield* replica.catchUp()
        expect(yield* Cluster.read(where(sql))).toEqual(onReplica(2))
        // a write marked as a read reaches the replica, which refuses it (read_only)
        const refused = yield* Effect.flip(Cluster.read(sql`INSERT INTO t VALUES (3)`))
        expect((refused.cause as { code?: string }).code).toBe("ER_OPTION_PREVENTS_STATEMENT")
        // a transaction inside a read sees its own writes: it is the primary's
        const own = yield* Cluster.read(sql.withTransaction(Effect.zipRight(sql`INSERT INTO t VALUES (4)`, where(sql))))
        expect(own).toEqual(onPrimary(3))

        // the same routing through @effect/sql-mysql2's tag
        const mysql = yield* MysqlClient.MysqlClient
        expect(mysql[MysqlClient.TypeId]).toBe(MysqlClient.TypeId)
        expect(Redacted.value(mysql.config.url!)).toBe(`mysql://${user}@127.0.0.1:${primary.port}/test`)
        expect(yield* where(mysql)).toEqual(onPrimary(3))
        yield* replica.catchUp()
        expect(yield* Cluster.read(where(mysql))).toEqual(onReplica(3))
        expect(yield* Cluster.read(mysql.withTransaction(where(mysql)))).toEqual(onPrimary(3))

        const cluster = yield* Cluster.Cluster
        yield* expectIdle(cluster)
        const [p, r] = yield* Effect.forEach(cluster.nodes, (node) => node.pool.stats)
        // primary: 4 statements and 3 transactions; replica: 4 reads (the refused INSERT included: the statement's
        // own error, not the node's)
        expect([p!.name, p!.successfulRequests, r!.name, r!.successfulRequests]).toEqual(["primary", 7, "replica", 4])
        expect(yield* primary.countConnections(user)).toBeGreaterThan(0)
        expect(yield* replica.countConnections(user)).toBeGreaterThan(0)
      }).pipe(Effect.provide(MysqlCluster.layer(nodesOf(primary, replica))))
      // the layer's scope closed: no connection of its pools is left on either server
      for (const server of [primary, replica]) {
        yield* Reliability.eventually("the connections to end", server.countConnections(user), (n) => n === 0)
      }
    }))

  it.scopedLive("Replication.mariadb on the servers: isPrimary, positions, and time behind (NULL: unknown)", () =>
    Effect.gen(function*() {
      const { primary, replica } = yield* primaryAndReplica
      const cluster = yield* Cluster.make(MysqlCluster.nodes(nodesOf(primary, replica)))
      const [p, r] = cluster.nodes.map((node) => node.pool.sql)
      const { isPrimary, primaryPosition, replicaPosition } = Replication.mariadb
      expect([yield* isPrimary!(p!), yield* isPrimary!(r!)]).toEqual([true, false])

      yield* cluster.sql`INSERT INTO t VALUES (1)`
      const written = yield* primaryPosition(p!)
      expect(written).toBe(String((yield* primary.sql("SELECT @@gtid_binlog_pos AS pos"))[0]!.pos))
      expect(written).toMatch(/^0-1-\d+$/)
      yield* replica.awaitPosition(written)
      expect(yield* replicaPosition(r!)).toEqual({ position: written, behindMillis: 0 })

      yield* replica.stopSqlThread
      yield* cluster.sql`INSERT INTO t VALUES (2)`
      const next = yield* primaryPosition(p!)
      expect(Replication.mariadb.atLeast(next, written)).toBe(true)
      expect(Replication.mariadb.atLeast(written, next)).toBe(false)
      // the SQL thread stopped: the position is held and Seconds_Behind_Master is NULL
      expect(yield* replicaPosition(r!)).toEqual({ position: written, behindMillis: undefined })
      yield* replica.startSqlThread
      yield* replica.awaitPosition(next)
      expect(yield* replicaPosition(r!)).toEqual({ position: next, behindMillis: 0 })
      yield* expectIdle(cluster)
    }))

  it.scopedLive("maxReplicaLag: a replica whose SQL thread is stopped gets no reads until it catches up", () =>
    Effect.gen(function*() {
      const { primary, replica } = yield* primaryAndReplica
      const cluster = yield* Cluster.make(MysqlCluster.nodes(nodesOf(primary, replica)), {
        replication: Replication.mariadb,
        maxReplicaLag: "300 millis",
        lagSchedule: Schedule.spaced("50 millis")
      })
      const onReplica = (n: number): Where => ({ id: replica.serverId, ro: 1, n })
      const lagOf = Effect.map(cluster.health, (health) => health[1]!.lagMillis)
      yield* Reliability.eventually("the first lag measurement", lagOf, (lag) => lag === 0)
      expect(yield* Cluster.read(where(cluster.sql))).toEqual(onReplica(0))

      yield* replica.stopSqlThread
      yield* cluster.sql`INSERT INTO t VALUES (1)`
      const wrote = performance.now()
      // Seconds_Behind_Master is NULL with the SQL thread stopped: a replica short of the primary's position
      // that cannot tell its time behind counts as over any bound
      const behind = yield* Reliability.eventually("the replica to be over 300 ms", lagOf, (lag) => (lag ?? 0) > 300)
      const skippedAfter = performance.now() - wrote
      expect(behind).toBe(Number.POSITIVE_INFINITY)
      expect(yield* Cluster.read(where(cluster.sql))).toEqual(onPrimary(1))
      expect(yield* replica.sql("SELECT count(*) AS n FROM t")).toEqual([{ n: 0 }])

      yield* replica.startSqlThread
      const started = performance.now()
      yield* Reliability.eventually("the replica to catch up", lagOf, (lag) => lag === 0, 20_000)
      const backAfter = performance.now() - started
      expect(yield* Cluster.read(where(cluster.sql))).toEqual(onReplica(1))
      yield* expectIdle(cluster)
      yield* Effect.log(
        `SQL thread stopped: replica skipped ${skippedAfter.toFixed(0)} ms after the write (lag ${behind}); ` +
          `started: back at 0 ms ${backAfter.toFixed(0)} ms later`
      )
    }))

  it.scopedLive("maxReplicaLag: a delayed replica (MASTER_DELAY) is measured seconds behind and skipped, then back", () =>
    Effect.gen(function*() {
      const { primary, replica } = yield* primaryAndReplica
      yield* replica.sql("STOP SLAVE")
      yield* replica.sql("CHANGE MASTER TO MASTER_DELAY = 3")
      yield* replica.sql("START SLAVE")
      const cluster = yield* Cluster.make(MysqlCluster.nodes(nodesOf(primary, replica)), {
        replication: Replication.mariadb,
        maxReplicaLag: "1500 millis",
        lagSchedule: Schedule.spaced("50 millis")
      })
      const onReplica = (n: number): Where => ({ id: replica.serverId, ro: 1, n })
      const lagOf = Effect.map(cluster.health, (health) => health[1]!.lagMillis)
      yield* Reliability.eventually("the first lag measurement", lagOf, (lag) => lag === 0)

      yield* cluster.sql`INSERT INTO t VALUES (1)`
      // the SQL thread runs, holding the event until it is 3 s old: Seconds_Behind_Master counts up to it
      const lags: Array<number> = []
      const behind = yield* Reliability.eventually(
        "the replica to be over 1.5 s",
        Effect.tap(lagOf, (lag) => lag !== undefined && lags.push(lag)),
        (lag) => (lag ?? 0) > 1500,
        10_000
      )
      expect(Number.isFinite(behind)).toBe(true)
      expect(behind).toBeGreaterThanOrEqual(2000)
      expect(yield* Cluster.read(where(cluster.sql))).toEqual(onPrimary(1))
      yield* Reliability.eventually("the replica to apply the row", lagOf, (lag) => lag === 0, 20_000)
      expect(yield* Cluster.read(where(cluster.sql))).toEqual(onReplica(1))
      yield* expectIdle(cluster)
      yield* Effect.log(
        `MASTER_DELAY = 3: lag measured ${[...new Set(lags)].join(", ")} ms; skipped over 1.5 s, back at 0`
      )
    }))

  it.scopedLive("maxReplicaLag with a heartbeat table: lag in milliseconds, also while the SQL thread is stopped", () =>
    Effect.gen(function*() {
      const { primary, replica } = yield* primaryAndReplica
      yield* primary.sql("CREATE TABLE heartbeat (id INT PRIMARY KEY, ts DATETIME(6) NOT NULL)")
      const cluster = yield* Cluster.make(MysqlCluster.nodes(nodesOf(primary, replica)), {
        replication: Replication.mariadbHeartbeat("heartbeat"),
        maxReplicaLag: "500 millis",
        lagSchedule: Schedule.spaced("50 millis")
      })
      const beating = yield* Effect.forkScoped(MysqlCluster.heartbeat(cluster, "heartbeat", "50 millis"))
      const onReplica = (n: number): Where => ({ id: replica.serverId, ro: 1, n })
      const lagOf = Effect.map(cluster.health, (health) => health[1]!.lagMillis)
      yield* Reliability.eventually("a lag within 500 ms", lagOf, (lag) => lag !== undefined && lag <= 500, 20_000)
      yield* Reliability.eventually(
        "a read on the replica",
        Cluster.read(where(cluster.sql)),
        (w) => w.id !== 1,
        20_000
      )

      yield* replica.stopSqlThread
      yield* cluster.sql`INSERT INTO t VALUES (1)`
      const lags: Array<number> = []
      const behind = yield* Reliability.eventually(
        "the replica to be over 500 ms",
        Effect.tap(lagOf, (lag) => lag !== undefined && lags.push(lag)),
        (lag) => (lag ?? 0) > 500,
        10_000
      )
      // the stopped replica's lag is a number of milliseconds (the heartbeat's age), where
      // Seconds_Behind_Master is NULL
      expect(Number.isFinite(behind)).toBe(true)
      expect(lags.some((lag) => lag > 0 && lag % 1000 !== 0)).toBe(true)
      expect(yield* Cluster.read(where(cluster.sql))).toEqual(onPrimary(1))
      expect(yield* replica.sql("SELECT count(*) AS n FROM t")).toEqual([{ n: 0 }])

      yield* replica.startSqlThread
      yield* Reliability.eventually("the replica back within 500 ms", lagOf, (lag) => (lag ?? Infinity) <= 500, 20_000)
      const back = yield* Reliability.eventually(
        "a read on the replica",
        Cluster.read(where(cluster.sql)),
        (w) => w.id !== 1,
        20_000
      )
      expect(back).toEqual(onReplica(1))
      yield* Fiber.interrupt(beating)
      yield* expectIdle(cluster)
      const seen = [...new Set(lags.map((lag) => Math.round(lag)))]
      yield* Effect.log(
        `heartbeat every 50 ms, SQL thread stopped: lag measured ${seen.slice(0, 3).join(", ")} ... ${
          seen.slice(-2).join(", ")
        } ms; skipped once over 500 ms (${Math.round(behind!)} ms), back after START SLAVE SQL_THREAD`
      )
    }))

  it.scopedLive("readYourWrites: after a write, reads run where it is visible (a stopped SQL thread's replica is not)", () =>
    Effect.gen(function*() {
      const { primary, replica } = yield* primaryAndReplica
      const cluster = yield* Cluster.make(MysqlCluster.nodes(nodesOf(primary, replica)), {
        replication: Replication.mariadb
      })
      const sql = cluster.sql
      const onReplica = (n: number): Where => ({ id: replica.serverId, ro: 1, n })
      const read = Cluster.read(where(sql))
      // no write yet in the session: the replica
      expect(yield* Cluster.readYourWrites(read)).toEqual(onReplica(0))

      yield* replica.stopSqlThread
      const session = yield* Cluster.readYourWrites(Effect.gen(function*() {
        const before = yield* read
        yield* sql`INSERT INTO t VALUES (1)`
        const after = yield* read
        return { before, after }
      }))
      expect(session).toEqual({ before: onReplica(0), after: onPrimary(1) })
      // outside a session, a read may be stale
      expect(yield* read).toEqual(onReplica(0))
      // a transaction is a write too
      const afterTransaction = yield* Cluster.readYourWrites(
        Effect.zipRight(sql.withTransaction(sql`INSERT INTO t VALUES (2)`), read)
      )
      expect(afterTransaction).toEqual(onPrimary(2))

      yield* replica.startSqlThread
      yield* replica.catchUp()
      // caught up: the session's read right after its write may run on the replica once it has applied it
      const caughtUp = yield* Cluster.readYourWrites(
        Effect.zipRight(
          sql`INSERT INTO t VALUES (3)`,
          Reliability.eventually("a read on the replica after the write", read, (w) => w.id !== 1, 20_000)
        )
      )
      expect(caughtUp).toEqual(onReplica(3))
      yield* expectIdle(cluster)
    }))

  it.scopedLive("the replica stopped: reads fall back to the primary (NodeDown), and return when it is back (NodeUp)", () =>
    Effect.gen(function*() {
      const { primary, replica } = yield* primaryAndReplica
      const removeAfterFailures = 2
      const cluster = yield* Cluster.make(MysqlCluster.nodes(nodesOf(primary, replica)), {
        removeAfterFailures,
        probe: Schedule.spaced("100 millis")
      })
      const events = yield* cluster.subscribe
      expect((yield* Cluster.read(where(cluster.sql))).id).toBe(replica.serverId)

      yield* replica.stop("fast")
      const stoppedAt = performance.now()
      // reads until the replica is down: each one answered by the primary or failed, none more than the threshold
      const outcomes: Array<number | string> = []
      while ((yield* Queue.size(events)) === 0 && outcomes.length < 100) {
        const outcome = yield* Effect.either(Cluster.read(where(cluster.sql)))
        outcomes.push(
          Either.isRight(outcome) ? outcome.right.id : (outcome.left.cause as { _tag?: string })._tag ?? "?"
        )
      }
      const down = yield* Queue.take(events)
      const downAfter = performance.now() - stoppedAt
      expect(down._tag).toBe("NodeDown")
      expect(outcomes.filter((o) => typeof o === "string").length).toBeLessThanOrEqual(removeAfterFailures)
      expect(outcomes.filter((o) => o === replica.serverId)).toEqual([])
      expect((yield* cluster.health).map((h) => [h.name, h.up])).toEqual([["primary", true], ["replica", false]])
      expect(yield* Effect.forEach([1, 2, 3], () => Cluster.read(where(cluster.sql)))).toEqual([
        onPrimary(0),
        onPrimary(0),
        onPrimary(0)
      ])

      yield* primary.sql("INSERT INTO t VALUES (1)")
      yield* replica.start
      const startedAt = performance.now()
      const up = yield* Queue.take(events).pipe(Effect.timeoutFail({
        duration: "60 seconds",
        onTimeout: () => new Error("no NodeUp within 60 s of the replica's start")
      }))
      const upAfter = performance.now() - startedAt
      const downFor = (up as { downFor: number }).downFor
      expect(up).toEqual(ClusterEvent.ClusterEvent.NodeUp({ node: "replica", downFor }))
      expect((yield* Cluster.read(where(cluster.sql))).id).toBe(replica.serverId)
      // restarted, it replicates what it missed
      yield* replica.catchUp()
      expect(yield* Cluster.read(where(cluster.sql))).toEqual({ id: replica.serverId, ro: 1, n: 1 })
      yield* expectIdle(cluster)
      yield* Effect.log(
        `replica stopped: ${outcomes.length} reads (${
          outcomes.filter((o) => typeof o === "string").join(", ") || "none failed"
        }) before NodeDown after ${downAfter.toFixed(0)} ms; NodeUp ${upAfter.toFixed(0)} ms after its start (down ${
          Duration.format(Duration.millis(downFor))
        })`
      )
    }))

  it.scopedLive("a replica down when the cluster starts: the cluster starts, reads run on the primary until it is up", () =>
    Effect.gen(function*() {
      const { primary, replica } = yield* primaryAndReplica
      yield* replica.stop("fast")
      const cluster = yield* Cluster.make(
        MysqlCluster.nodes(
          nodesOf(primary, replica).map((node) => ({ ...node, pool: { ...pool, minConnections: 2 } }))
        ),
        { removeAfterFailures: 1, probe: Schedule.spaced("100 millis") }
      )
      const events = yield* cluster.subscribe
      expect(yield* Cluster.read(where(cluster.sql))).toEqual(onPrimary(0))
      expect((yield* Queue.take(events))._tag).toBe("NodeDown")
      yield* replica.start
      expect((yield* Queue.take(events))._tag).toBe("NodeUp")
      expect(yield* Cluster.read(where(cluster.sql))).toEqual({ id: replica.serverId, ro: 1, n: 0 })
      yield* expectIdle(cluster)
    }))
})

describe("Replication.mariadb and Replication.mysql positions", () => {
  it("MariaDB: compared per domain, ignoring the server id", () => {
    const { atLeast } = Replication.mariadb
    expect(atLeast("0-1-12", "0-1-12")).toBe(true)
    expect(atLeast("0-2-13", "0-1-12")).toBe(true)
    expect(atLeast("0-1-11", "0-1-12")).toBe(false)
    expect(atLeast("0-1-12", "0-1-10,1-2-3")).toBe(false)
    expect(atLeast("1-2-3,0-1-12", "0-1-10,1-2-3")).toBe(true)
    expect(atLeast("0-1-12,1-2-2", "0-1-10,1-2-3")).toBe(false)
    expect(atLeast("", "")).toBe(true)
    expect(atLeast("0-1-1", "")).toBe(true)
    expect(atLeast("", "0-1-1")).toBe(false)
    expect(atLeast("0-1-18446744073709551615", "0-1-18446744073709551614")).toBe(true)
  })

  it("MySQL: GTID sets, a position reached when every transaction of it is in the set", () => {
    const { atLeast } = Replication.mysql
    const a = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
    const b = "4f22fb58-82db-22f2-af44-d91bb0530673"
    expect(atLeast(`${a}:1-100`, `${a}:1-57`)).toBe(true)
    expect(atLeast(`${a}:1-50:52-100`, `${a}:51`)).toBe(false)
    expect(atLeast(`${a}:1-50:51-100`, `${a}:40-60`)).toBe(true)
    expect(atLeast(`${a}:1-100,\n${b}:1-5`, `${b}:1-5,${a}:7`)).toBe(true)
    expect(atLeast(`${a}:1-100`, `${a}:1-100,${b}:1`)).toBe(false)
    expect(atLeast(`${a.toUpperCase()}:1-10`, `${a}:3`)).toBe(true)
    // tagged GTIDs (MySQL 8.3): a tag is a source of its own
    expect(atLeast(`${a}:1-10:blue:1-3`, `${a}:blue:2`)).toBe(true)
    expect(atLeast(`${a}:1-10`, `${a}:blue:2`)).toBe(false)
    expect(atLeast("", "")).toBe(true)
    expect(atLeast("", `${a}:1`)).toBe(false)
  })
})
