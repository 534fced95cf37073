import { PgCluster } from "@dbpool/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { pgQuery } from "./utils/Clients.js"
import { logTime } from "./utils/Wait.js"

const count = (cluster: PgCluster.PgCluster) =>
  Effect.map(cluster.sql("SELECT count(*)::int AS n FROM t"), (rows) => rows[0]!.n)

describe("PgCluster.makeReplica", () => {
  it.scopedLive("streams the primary's writes to a hot standby that refuses writes", () =>
    Effect.gen(function*() {
      const primary = yield* PgCluster.make()
      yield* primary.sql("CREATE TABLE t (n int)")
      const replica = yield* logTime("PgCluster.makeReplica (pg_basebackup -R, start)", PgCluster.makeReplica(primary))
      expect(replica.port).not.toBe(primary.port)
      expect(replica.primary).toBe(primary)
      expect(yield* replica.isInRecovery).toBe(true)
      expect(yield* pgQuery({ port: primary.port }, "SELECT pg_is_in_recovery() AS r")).toEqual([{ r: false }])

      yield* primary.sql("INSERT INTO t SELECT generate_series(1, 10)")
      yield* replica.catchUp()
      expect(yield* count(replica)).toBe(10)
      const refused = yield* Effect.flip(replica.sql("INSERT INTO t VALUES (11)"))
      expect(refused.message).toContain("read-only transaction")
    }))

  it.scopedLive("paused replay hides new writes and holds the replay LSN; resumed, it catches up", () =>
    Effect.gen(function*() {
      const primary = yield* PgCluster.make()
      yield* primary.sql("CREATE TABLE t (n int)")
      const replica = yield* PgCluster.makeReplica(primary)
      yield* replica.catchUp()
      yield* replica.pauseReplay
      const before = yield* replica.replayLsn
      yield* primary.sql("INSERT INTO t VALUES (1)")
      const written = (yield* primary.sql("SELECT pg_current_wal_lsn()::text AS lsn"))[0]!.lsn as string
      expect(PgCluster.lsnAtLeast(written, before)).toBe(true)
      expect(PgCluster.lsnAtLeast(before, written)).toBe(false)
      // the WAL arrives (the receiver runs while replay is paused) but none of it is visible
      expect(yield* count(replica)).toBe(0)
      expect(yield* replica.replayLsn).toBe(before)
      const timedOut = yield* Effect.flip(replica.awaitReplay(written, "300 millis"))
      expect(timedOut.message).toContain(`did not replay up to ${written}`)

      yield* replica.resumeReplay
      yield* replica.awaitReplay(written)
      expect(yield* count(replica)).toBe(1)
    }))

  it.scopedLive("stopped, the replica refuses connections; started again, it catches up what it missed", () =>
    Effect.gen(function*() {
      const primary = yield* PgCluster.make()
      yield* primary.sql("CREATE TABLE t (n int)")
      const replica = yield* PgCluster.makeReplica(primary)
      yield* replica.stop("immediate")
      const refused = yield* Effect.flip(pgQuery({ port: replica.port }, "SELECT 1"))
      expect((refused as NodeJS.ErrnoException).code).toBe("ECONNREFUSED")
      yield* primary.sql("INSERT INTO t SELECT generate_series(1, 5)")
      yield* replica.start
      expect(yield* replica.isInRecovery).toBe(true)
      yield* replica.catchUp()
      expect(yield* count(replica)).toBe(5)
    }))

  it.scopedLive("promoted, the replica accepts writes and leaves recovery", () =>
    Effect.gen(function*() {
      const primary = yield* PgCluster.make()
      yield* primary.sql("CREATE TABLE t (n int)")
      yield* primary.sql("INSERT INTO t VALUES (1)")
      const replica = yield* PgCluster.makeReplica(primary)
      yield* primary.stop("fast")
      yield* logTime("PgReplica.promote", replica.promote)
      expect(yield* replica.isInRecovery).toBe(false)
      yield* replica.sql("INSERT INTO t VALUES (2)")
      expect(yield* count(replica)).toBe(2)
    }))

  it("lsnAtLeast compares both halves as numbers", () => {
    expect(PgCluster.lsnAtLeast("0/3000060", "0/2FFFFFF")).toBe(true)
    expect(PgCluster.lsnAtLeast("0/A", "0/9")).toBe(true)
    expect(PgCluster.lsnAtLeast("1/0", "0/FFFFFFFF")).toBe(true)
    expect(PgCluster.lsnAtLeast("0/FFFFFFFF", "1/0")).toBe(false)
    expect(PgCluster.lsnAtLeast("0/16B3748", "0/16B3748")).toBe(true)
  })
})
