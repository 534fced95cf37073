import { MariaReplica, MariaServer } from "@dbpool/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mysqlQuery } from "./utils/Clients.js"
import { logTime } from "./utils/Wait.js"

const count = (server: MariaServer.MariaServer) =>
  Effect.map(server.sql("SELECT count(*) AS n FROM t"), (rows) => Number(rows[0]!.n))

const pair = Effect.gen(function*() {
  const primary = yield* MariaReplica.makePrimary()
  yield* primary.sql("CREATE TABLE t (n int)")
  const replica = yield* logTime(
    "MariaReplica.make (copy, start, CHANGE MASTER, START SLAVE)",
    MariaReplica.make(primary)
  )
  yield* replica.catchUp()
  return { primary, replica }
})

describe("MariaReplica", () => {
  it.scopedLive("replicates the primary's writes by GTID to a read-only replica", () =>
    Effect.gen(function*() {
      const { primary, replica } = yield* pair
      expect(replica.port).not.toBe(primary.port)
      expect(replica.primary).toBe(primary)
      expect(MariaServer.isMariaServer(replica)).toBe(true)
      const ids = (server: MariaServer.MariaServer) =>
        Effect.map(server.sql("SELECT @@server_id AS id, @@read_only AS ro"), (rows) => rows[0])
      expect(yield* ids(primary)).toEqual({ id: 1, ro: 0 })
      expect(yield* ids(replica)).toEqual({ id: replica.serverId, ro: 1 })
      expect(replica.serverId).toBeGreaterThan(1)

      yield* primary.sql("INSERT INTO t VALUES (1), (2), (3)")
      const written = String((yield* primary.sql("SELECT @@gtid_binlog_pos AS pos"))[0]!.pos)
      yield* replica.awaitPosition(written)
      expect(yield* count(replica)).toBe(3)
      expect(MariaReplica.gtidAtLeast(yield* replica.position, written)).toBe(true)
      const status = yield* replica.status
      expect(status).toEqual({
        ioThread: "Yes",
        sqlThread: "Yes",
        secondsBehindMaster: 0,
        lastError: "",
        received: written
      })

      // read_only holds for a user without READ ONLY ADMIN (the user was created on the primary: replicated)
      yield* primary.sql("CREATE USER 'app'@'127.0.0.1'")
      yield* primary.sql("GRANT ALL ON test.* TO 'app'@'127.0.0.1'")
      yield* replica.catchUp()
      const refused = yield* Effect.flip(mysqlQuery({ port: replica.port, user: "app" }, "INSERT INTO t VALUES (4)"))
      expect((refused as { code?: string }).code).toBe("ER_OPTION_PREVENTS_STATEMENT")
      expect(yield* mysqlQuery({ port: primary.port, user: "app" }, "SELECT count(*) AS n FROM t")).toEqual([{ n: 3 }])
    }))

  it.scopedLive("a stopped SQL thread holds the position and hides new writes; started, the replica catches up", () =>
    Effect.gen(function*() {
      const { primary, replica } = yield* pair
      yield* replica.stopSqlThread
      const before = yield* replica.position
      yield* primary.sql("INSERT INTO t VALUES (1)")
      const written = String((yield* primary.sql("SELECT @@gtid_binlog_pos AS pos"))[0]!.pos)
      expect(MariaReplica.gtidAtLeast(before, written)).toBe(false)
      // received, not applied
      const stopped = yield* Effect.repeat(Effect.delay(replica.status, "10 millis"), {
        until: (s) => s.received === written
      })
      expect([stopped.ioThread, stopped.sqlThread, stopped.secondsBehindMaster]).toEqual(["Yes", "No", null])
      expect(yield* count(replica)).toBe(0)
      const timedOut = yield* Effect.flip(replica.awaitPosition(written, "300 millis"))
      expect(timedOut.message).toContain(`did not apply up to ${written}`)
      expect(yield* replica.position).toBe(before)

      yield* replica.startSqlThread
      yield* replica.awaitPosition(written)
      expect(yield* count(replica)).toBe(1)
      expect((yield* replica.status).sqlThread).toBe("Yes")
    }))

  it.scopedLive("stopped, the replica refuses connections; started again, it replicates what it missed", () =>
    Effect.gen(function*() {
      const { primary, replica } = yield* pair
      yield* replica.stop("fast")
      const refused = yield* Effect.flip(mysqlQuery({ port: replica.port }, "SELECT 1"))
      expect((refused as NodeJS.ErrnoException).code).toBe("ECONNREFUSED")
      yield* primary.sql("INSERT INTO t VALUES (1), (2)")
      yield* replica.start
      yield* replica.catchUp()
      expect(yield* count(replica)).toBe(2)
    }))

  it.scopedLive("promote: applies all it received, forgets the primary, takes writes; the old one's later writes stay there", () =>
    Effect.gen(function*() {
      const { primary, replica } = yield* pair
      yield* primary.sql("CREATE USER 'app'@'127.0.0.1'")
      yield* primary.sql("GRANT ALL ON test.* TO 'app'@'127.0.0.1'")
      yield* replica.catchUp()
      // received, not applied: promote applies it before it takes writes
      yield* replica.stopSqlThread
      yield* primary.sql("INSERT INTO t VALUES (1), (2)")
      const written = String((yield* primary.sql("SELECT @@gtid_binlog_pos AS pos"))[0]!.pos)
      yield* Effect.repeat(Effect.delay(replica.status, "10 millis"), { until: (s) => s.received === written })
      expect(yield* count(replica)).toBe(0)
      yield* replica.promote()
      expect(yield* count(replica)).toBe(2)
      expect(yield* replica.sql("SELECT @@read_only AS ro")).toEqual([{ ro: 0 }])
      expect(yield* replica.sql("SHOW SLAVE STATUS")).toEqual([])
      yield* mysqlQuery({ port: replica.port, user: "app" }, "INSERT INTO t VALUES (3)")
      // its own commits follow the primary's in domain 0, under its server id
      const own = String((yield* replica.sql("SELECT @@gtid_binlog_pos AS pos"))[0]!.pos)
      expect(own.startsWith(`0-${replica.serverId}-`)).toBe(true)
      expect(MariaReplica.gtidAtLeast(own, written)).toBe(true)
      // no longer replicating: the old primary's writes do not reach it
      yield* primary.sql("INSERT INTO t VALUES (4)")
      yield* Effect.sleep("200 millis")
      expect(yield* replica.sql("SELECT n FROM t ORDER BY n")).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }])
    }))

  it.scopedLive("semiSync: commits acknowledged by the replica; the primary killed, every acknowledged row is on it", () =>
    Effect.gen(function*() {
      const primary = yield* MariaReplica.makePrimary()
      yield* primary.sql("CREATE TABLE t (n int)")
      const replica = yield* MariaReplica.make(primary, { semiSync: true })
      expect(yield* MariaReplica.semiSyncStatus(primary)).toMatchObject({ on: true, clients: 1, unacknowledged: 0 })
      const before = (yield* MariaReplica.semiSyncStatus(primary)).acknowledged
      // the replica applies nothing: the primary's acknowledgement rests on its relay log alone
      yield* replica.stopSqlThread
      yield* Effect.forEach([1, 2, 3, 4, 5], (n) => primary.sql("INSERT INTO t VALUES (?)", [n]))
      const after = yield* MariaReplica.semiSyncStatus(primary)
      expect([after.on, after.acknowledged - before, after.unacknowledged]).toEqual([true, 5, 0])
      yield* primary.stop("immediate")
      yield* replica.promote()
      expect(yield* replica.sql("SELECT n FROM t ORDER BY n")).toEqual([1, 2, 3, 4, 5].map((n) => ({ n })))
    }))

  it.scopedLive("semiSync: with the replica stopped, the primary waits semiSyncTimeout, then goes on asynchronously", () =>
    Effect.gen(function*() {
      const primary = yield* MariaReplica.makePrimary()
      yield* primary.sql("CREATE TABLE t (n int)")
      const replica = yield* MariaReplica.make(primary, { semiSync: true, semiSyncTimeout: "300 millis" })
      yield* replica.stop("fast")
      const started = performance.now()
      yield* primary.sql("INSERT INTO t VALUES (1)")
      expect(performance.now() - started).toBeGreaterThanOrEqual(250)
      expect(yield* MariaReplica.semiSyncStatus(primary)).toMatchObject({ on: false, clients: 0, unacknowledged: 1 })
    }))

  it.scopedLive("a server with no binary log cannot be replicated from", () =>
    Effect.gen(function*() {
      const plain = yield* MariaServer.make()
      const error = yield* Effect.flip(MariaReplica.make(plain))
      expect(error._tag).toBe("MariaServerError")
      expect(error.message).toBe(
        `cannot set up a replica of ${plain.url}: ${plain.url} has no binary log to replicate from: ` +
          "make it with MariaReplica.makePrimary"
      )
    }))

  it("gtidAtLeast compares per domain, ignoring the server id", () => {
    expect(MariaReplica.gtidAtLeast("0-1-12", "0-1-12")).toBe(true)
    expect(MariaReplica.gtidAtLeast("0-2-13", "0-1-12")).toBe(true)
    expect(MariaReplica.gtidAtLeast("0-1-11", "0-1-12")).toBe(false)
    expect(MariaReplica.gtidAtLeast("0-1-12", "0-1-10,1-2-3")).toBe(false)
    expect(MariaReplica.gtidAtLeast("1-2-3,0-1-12", "0-1-10,1-2-3")).toBe(true)
    expect(MariaReplica.gtidAtLeast("", "")).toBe(true)
    expect(MariaReplica.gtidAtLeast("0-1-1", "")).toBe(true)
    expect(MariaReplica.gtidAtLeast("", "0-1-1")).toBe(false)
    expect(MariaReplica.gtidAtLeast("0-1-18446744073709551615", "0-1-18446744073709551614")).toBe(true)
  })
})
