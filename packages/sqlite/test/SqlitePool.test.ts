import type { PoolStats } from "@dbpool/core/PoolStats"
import { Pool } from "@dbpool/sql"
import { SqlitePool } from "@dbpool/sqlite"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import type Database from "better-sqlite3"
import { Cause, Chunk, Effect, Exit, Fiber, Layer, Stream } from "effect"
import * as path from "node:path"
import { tempFiles, withOwnPool } from "./utils/ownPool.js"

const { dir, next: tempFile } = tempFiles("dbpool-sqlite-", "test")

const statsUntil = (condition: (stats: PoolStats) => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 1000; i++) {
      const stats = yield* Pool.stats
      if (condition(stats)) return stats
      yield* Effect.sleep("1 millis")
    }
    const stats = yield* Pool.stats
    expect(condition(stats)).toBe(true)
    return stats
  })

/** Runs the program on a fresh pool and checks afterwards that every connection was closed. */
const withPool = <A, E>(
  program: Effect.Effect<A, E, Pool.Pool | SqlClient.SqlClient>,
  pool: { readonly minConnections?: number; readonly maxConnections?: number } = {}
) =>
  withOwnPool(program, {
    filename: tempFile(),
    pool: { minConnections: 2, maxConnections: 10, acquireTimeout: "5 seconds", ...pool }
  })

describe("SqlitePool", () => {
  it.live("the seed's usage: rows through withConnection, the SqlClient tag, a committed and a rolled-back transaction", () =>
    withPool(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL)`
      yield* Pool.withConnection((conn) => conn.sql`INSERT INTO users ${conn.sql.insert({ id: 1, name: "ada" })}`)
      yield* sql`INSERT INTO users ${sql.insert({ id: 2, name: "grace" })}`
      yield* Pool.withTransaction((conn) => conn.sql`INSERT INTO users (id, name) VALUES (3, 'edsger')`)
      const failed = yield* Effect.exit(
        Pool.withTransaction((conn) =>
          Effect.zipRight(conn.sql`INSERT INTO users (id, name) VALUES (4, 'barbara')`, Effect.fail("abort"))
        )
      )
      expect(Exit.isFailure(failed)).toBe(true)
      yield* sql.withTransaction(
        Effect.zipRight(sql`INSERT INTO users (id, name) VALUES (5, 'alan')`, Effect.fail("no"))
      )
        .pipe(Effect.ignore)
      const rows = yield* Pool.withConnection((conn) =>
        conn.sql<{ id: number; name: string }>`SELECT id, name FROM users ORDER BY id`
      )
      expect(rows).toEqual([{ id: 1, name: "ada" }, { id: 2, name: "grace" }, { id: 3, name: "edsger" }])
      const journal = yield* sql<{ journal_mode: string }>`PRAGMA journal_mode`
      expect(journal).toEqual([{ journal_mode: "wal" }])
    })))

  it.live("a stream iterates the rows lazily and gives its connection back when it ends early", () =>
    withPool(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const rows =
        sql<{ n: number }>`WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s) SELECT n FROM s`.stream
      const first = yield* rows.pipe(Stream.take(3), Stream.runCollect)
      expect(Chunk.toReadonlyArray(first)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }])
      const stats = yield* Pool.stats
      expect(stats.activeConnections).toBe(0)
      expect(stats.connectionsClosed.broken).toBe(0)
      expect(yield* sql`SELECT 1 AS one`).toEqual([{ one: 1 }])
    })))

  it.live("200 fibers × 20 queries on a pool of 10: every query succeeds, never more than 10 connections", () =>
    withPool(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)`
      yield* sql`INSERT INTO counter (id, n) VALUES (1, 0)`
      let maxSeen = 0
      const sampler = yield* Effect.fork(Effect.forever(Effect.zipRight(
        Effect.map(Pool.stats, (s) => {
          maxSeen = Math.max(maxSeen, s.totalConnections + s.pendingConnections)
        }),
        Effect.sleep("5 millis")
      )))
      const start = Date.now()
      yield* Effect.forEach(
        Array.from({ length: 200 }, (_, i) => i),
        (i) =>
          Effect.forEach(Array.from({ length: 20 }, (_, j) => j), (j) =>
            (i + j) % 5 === 0
              ? sql`UPDATE counter SET n = n + 1 WHERE id = 1`
              : sql`SELECT n FROM counter WHERE id = 1`, { discard: true }),
        { concurrency: "unbounded", discard: true }
      )
      const elapsed = Date.now() - start
      yield* Fiber.interrupt(sampler)
      const [{ n }] = yield* sql<{ n: number }>`SELECT n FROM counter WHERE id = 1`
      expect(n).toBe(800)
      expect(maxSeen).toBeLessThanOrEqual(10)
      const stats = yield* Pool.stats
      expect(stats.totalConnections).toBeLessThanOrEqual(10)
      expect(stats.failedRequests).toBe(0)
      console.log(`sqlite: 4000 queries in ${elapsed} ms = ${Math.round(4000 / (elapsed / 1000))} queries/s`)
    })))

  it.live("writes are serialised: interleaved transactions on different connections never meet SQLITE_BUSY", () =>
    withPool(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE log (fiber INTEGER, step INTEGER)`
      yield* Effect.forEach(
        Array.from({ length: 8 }, (_, i) => i),
        (i) =>
          Pool.withTransaction((conn) =>
            Effect.forEach(
              [1, 2, 3],
              (step) => Effect.zipRight(Effect.sleep("1 millis"), conn.sql`INSERT INTO log VALUES (${i}, ${step})`)
            )
          ),
        { concurrency: "unbounded", discard: true }
      )
      const rows = yield* sql<{ fiber: number; step: number }>`SELECT fiber, step FROM log ORDER BY rowid`
      expect(rows.length).toBe(24)
      // each transaction's three rows are contiguous: one writer at a time
      for (let k = 0; k < 24; k += 3) {
        expect(rows.slice(k, k + 3).map((r) => r.fiber)).toEqual([rows[k]!.fiber, rows[k]!.fiber, rows[k]!.fiber])
      }
    })))

  it.live("a transaction that writes through a second connection fails after busyTimeout instead of waiting for itself", () =>
    Effect.gen(function*() {
      const layer = SqlitePool.layer({ filename: tempFile(), busyTimeout: "200 millis", pool: { maxConnections: 4 } })
      const error = yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE t (x INTEGER)`
        return yield* Effect.flip(Pool.withTransaction((conn) =>
          Effect.zipRight(
            conn.sql`INSERT INTO t VALUES (1)`,
            Pool.withConnection((other) => other.sql`INSERT INTO t VALUES (2)`)
          )
        ))
      }).pipe(Effect.provide(layer))
      expect(error._tag).toBe("SqlError")
      expect(error.message).toContain("Waited 200 ms for the write lock")
    }))

  it.live("a connection closed under the pool: its user gets a clear error, it is closed as broken and replaced", () =>
    withPool(Effect.gen(function*() {
      const error = yield* Effect.flip(
        Pool.withConnection((conn) =>
          Effect.zipRight(Effect.sync(() => (conn.native as Database.Database).close()), conn.sql`SELECT 1`)
        )
      )
      expect(error._tag).toBe("SqlError")
      expect(error.message).toContain("The database connection is not open")
      const stats = yield* statsUntil((s) => s.connectionsClosed.broken === 1 && s.totalConnections === 2)
      expect(stats.connectionsCreated).toBe(3)
      const sql = yield* SqlClient.SqlClient
      expect(yield* sql`SELECT 1 AS one`).toEqual([{ one: 1 }])
    })))

  it.live("a transaction left open by an interrupted fiber leaves no lock and no state behind", () =>
    withPool(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE t (x INTEGER)`
      const fiber = yield* Effect.fork(
        Pool.withTransaction((conn) => Effect.zipRight(conn.sql`INSERT INTO t VALUES (1)`, Effect.never))
      )
      yield* Effect.sleep("20 millis")
      yield* Fiber.interrupt(fiber)
      yield* statsUntil((s) => s.connectionsClosed.broken === 1)
      // the write permit was given back: another connection writes at once
      yield* sql`INSERT INTO t VALUES (2)`.pipe(Effect.timeout("1 second"))
      expect(yield* sql`SELECT x FROM t`).toEqual([{ x: 2 }])
      // and a raw BEGIN left open is not passed on either
      yield* Pool.withConnection((conn) => conn.sql`BEGIN`)
      yield* statsUntil((s) => s.connectionsClosed.broken === 2)
      const inTransaction = yield* Pool.withConnection((conn) =>
        Effect.sync(() => (conn.native as Database.Database).inTransaction)
      )
      expect(inTransaction).toBe(false)
    })))

  it.effect("an in-memory database with more than one connection is refused with PoolConfigError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Layer.build(SqlitePool.layer({ filename: ":memory:", pool: { maxConnections: 4 } })).pipe(Effect.scoped)
      )
      expect(error._tag).toBe("PoolConfigError")
      expect(error.message).toContain("filename")
      expect(error.message).toContain("in-memory database")
      const ok = yield* Effect.provide(
        Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1 AS one`),
        SqlitePool.layer({ filename: ":memory:", pool: { minConnections: 1, maxConnections: 1 } })
      )
      expect(ok).toEqual([{ one: 1 }])
    }))

  it.effect("a file in a directory that does not exist fails with ConnectError naming the file, without retrying", () =>
    Effect.gen(function*() {
      const filename = path.join(dir, "missing", "x.db")
      const exit = yield* Effect.exit(
        Layer.build(SqlitePool.layer({ filename, pool: { retryInterval: "1 hour" } })).pipe(Effect.scoped)
      )
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) {
        const error = Cause.squash(exit.cause) as Error & { _tag: string; attempts: number }
        expect(error._tag).toBe("ConnectError")
        expect(error.attempts).toBe(1)
        expect(error.message).toBe(
          `Cannot connect (pool "default", 1 attempt): Database "${filename}" cannot be opened: ` +
            "Cannot open database because the directory does not exist"
        )
      }
    }))
})
