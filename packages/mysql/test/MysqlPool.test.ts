import { MysqlPool } from "@dbpool/mysql"
import { Pool } from "@dbpool/sql"
import { Reliability } from "@dbpool/testing"
import { SqlClient } from "@effect/sql"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Effect, Exit, Fiber, Layer, Redacted, Stream } from "effect"
import Mysql from "mysql2/promise"

const root = { host: "127.0.0.1", port: 3306, user: "root", database: "test" } as const
// Our connections log in as a user of their own, so the server's process list counts only them.
// (with the process id: another run on the same machine, another clone's, counts its own)
const user = `dbpool_test_mysql_${process.pid}`
const base = { host: "127.0.0.1", port: 3306, database: "test", username: user } as const

// Outside CI a missing server skips these tests, saying how to start it; in CI they must run.
const run = await Effect.runPromise(Reliability.mainServer("mariadb", "the @dbpool/mysql tests"))
const describeDb = run ? describe : describe.skip

let admin: Mysql.Connection
beforeAll(async () => {
  if (!run) return
  admin = await Mysql.createConnection(root)
  await admin.query(`CREATE USER IF NOT EXISTS '${user}'@'127.0.0.1'`)
  await admin.query(`GRANT ALL ON test.* TO '${user}'@'127.0.0.1'`)
})
afterAll(async () => {
  if (!run) return
  await admin.query(`DROP USER IF EXISTS '${user}'@'127.0.0.1'`)
  await admin.end()
})

const adminQuery = <A = any>(sql: string, params: Array<unknown> = []) =>
  Effect.promise(() => admin.query(sql, params).then(([rows]) => rows as Array<A>))

/** Our connections as the server counts them. */
const serverCount = Effect.map(
  adminQuery<{ n: number }>("SELECT count(*) AS n FROM information_schema.processlist WHERE user = ?", [user]),
  (rows) => Number(rows[0]!.n)
)

const until = <A, R>(
  effect: Effect.Effect<A, never, R>,
  condition: (a: A) => boolean,
  timeout = 3000,
  interval = 10
) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeout
    let value = yield* effect
    while (!condition(value) && Date.now() < deadline) {
      yield* Effect.sleep(interval)
      value = yield* effect
    }
    expect({ ok: condition(value), value }).toMatchObject({ ok: true })
    return value
  })

let tables = 0
const table = () => `mysql_test_${process.pid}_${++tables}`

/** A pool of its own per test, and no connection left on the server afterwards. */
const withPool = <A, E>(
  program: Effect.Effect<A, E, Pool.Pool | SqlClient.SqlClient>,
  pool: Parameters<typeof MysqlPool.layer>[0]["pool"] = {}
) =>
  Effect.provide(
    program,
    MysqlPool.layer({ ...base, pool: { minConnections: 2, maxConnections: 10, shutdownTimeout: "2 seconds", ...pool } })
  ).pipe(
    Effect.zipLeft(until(serverCount, (n) => n === 0))
  )

describeDb("MysqlPool", () => {
  it.live("the seed's usage: rows through withConnection, the SqlClient tag, a committed and a rolled-back transaction", () =>
    withPool(
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const t = table()
        yield* sql`CREATE TABLE ${sql(t)} (id int PRIMARY KEY, name varchar(50) NOT NULL) ENGINE=InnoDB`
        yield* Effect.addFinalizer(() => Effect.orDie(sql`DROP TABLE IF EXISTS ${sql(t)}`))
        yield* Pool.withConnection((conn) => conn.sql`INSERT INTO ${sql(t)} ${conn.sql.insert({ id: 1, name: "ada" })}`)
        yield* sql`INSERT INTO ${sql(t)} ${sql.insert({ id: 2, name: "grace" })}`
        yield* Pool.withTransaction((conn) => conn.sql`INSERT INTO ${sql(t)} (id, name) VALUES (3, 'edsger')`)
        const failed = yield* Effect.exit(
          Pool.withTransaction((conn) =>
            Effect.zipRight(conn.sql`INSERT INTO ${sql(t)} (id, name) VALUES (4, 'barbara')`, Effect.fail("abort"))
          )
        )
        expect(Exit.isFailure(failed)).toBe(true)
        yield* sql.withTransaction(
          Effect.zipRight(sql`INSERT INTO ${sql(t)} (id, name) VALUES (5, 'alan')`, Effect.fail("no"))
        )
          .pipe(Effect.ignore)
        const rows = yield* sql`SELECT id, name FROM ${sql(t)} ORDER BY id`
        expect(rows).toEqual([{ id: 1, name: "ada" }, { id: 2, name: "grace" }, { id: 3, name: "edsger" }])
        const streamed = yield* Stream.runCollect(sql<{ id: number }>`SELECT id FROM ${sql(t)} ORDER BY id`.stream)
        expect(Chunk.toReadonlyArray(streamed)).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }])
        expect((yield* Pool.stats).activeConnections).toBe(0)
      }).pipe(Effect.scoped)
    ))

  it.live("a stream ends early or is interrupted: the rest of the result is not left on the connection", () =>
    withPool(
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        // MariaDB's sequence engine: ten million rows without a table
        const big = sql<{ seq: number }>`SELECT seq FROM seq_1_to_10000000`.stream
        const first = yield* big.pipe(Stream.take(3), Stream.runCollect)
        expect(Chunk.toReadonlyArray(first).map((r) => Number(r.seq))).toEqual([1, 2, 3])
        expect(yield* sql`SELECT 1 AS one`).toEqual([{ one: 1 }])
        const fiber = yield* Effect.fork(Stream.runDrain(Stream.tap(big, () => Effect.sleep("1 millis"))))
        yield* Effect.sleep("100 millis")
        yield* Fiber.interrupt(fiber)
        yield* until(
          adminQuery("SELECT id FROM information_schema.processlist WHERE user = ? AND info LIKE 'SELECT seq%'", [
            user
          ]),
          (rows) => rows.length === 0,
          1000
        )
        expect(yield* sql`SELECT 2 AS two`).toEqual([{ two: 2 }])
      })
    ))

  it.live("200 fibers × 20 queries on a pool of 10: all succeed, the server never counts more than 10, then as many as the pool", () =>
    withPool(
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        let maxSeen = 0
        const sampler = yield* Effect.fork(Effect.forever(Effect.zipRight(
          Effect.map(serverCount, (n) => {
            maxSeen = Math.max(maxSeen, n)
          }),
          Effect.sleep("10 millis")
        )))
        const start = Date.now()
        yield* Effect.forEach(
          Array.from({ length: 200 }, (_, i) => i),
          (i) =>
            Effect.forEach(
              Array.from({ length: 20 }, (_, j) => j),
              (j) =>
                Effect.flatMap(sql<{ v: number }>`SELECT ${i * 100 + j} AS v`, (rows) =>
                  Effect.sync(() => expect(rows).toEqual([{ v: i * 100 + j }]))),
              { discard: true }
            ),
          { concurrency: "unbounded", discard: true }
        )
        const elapsed = Date.now() - start
        yield* Fiber.interrupt(sampler)
        console.log(`mysql: 4000 queries in ${elapsed} ms = ${Math.round(4000 / (elapsed / 1000))} queries/s`)
        expect(maxSeen).toBeLessThanOrEqual(10)
        const stats = yield* Pool.stats
        expect(stats.failedRequests).toBe(0)
        expect(stats.successfulRequests).toBe(4000)
        yield* until(Effect.zip(serverCount, Pool.stats), ([n, s]) => n === s.totalConnections)
      })
    ))

  it.live("a connection killed while in use: its user gets a clear error, the connection is closed as broken, the pool refills", () =>
    withPool(
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const fiber = yield* Effect.fork(Pool.withConnection((conn) => conn.sql`SELECT SLEEP(10)`))
        const [{ id }] = yield* until(
          adminQuery<{ id: number }>(
            "SELECT id FROM information_schema.processlist WHERE user = ? AND info LIKE 'SELECT SLEEP%'",
            [user]
          ),
          (rows) => rows.length === 1
        )
        yield* adminQuery(`KILL ${Number(id)}`)
        const exit = yield* Fiber.await(fiber)
        expect(Exit.isFailure(exit)).toBe(true)
        if (Exit.isFailure(exit)) {
          const error = Cause.squash(exit.cause) as Error & { _tag: string }
          expect(error._tag).toBe("SqlError")
          expect(error.message).toMatch(/Connection was killed|connection lost|server closed the connection/i)
        }
        const stats = yield* until(Pool.stats, (s) => s.connectionsClosed.broken === 1 && s.totalConnections === 2)
        expect(stats.connectionsCreated).toBe(3)
        expect(yield* sql`SELECT 1 AS one`).toEqual([{ one: 1 }])
        yield* until(serverCount, (n) => n === 2)
      })
    ))

  it.live("connections killed while idle: no caller sees an error, the dead connections are closed and replaced", () =>
    withPool(
      Effect.gen(function*() {
        const ids = yield* adminQuery<{ id: number }>("SELECT id FROM information_schema.processlist WHERE user = ?", [
          user
        ])
        expect(ids.length).toBe(2)
        for (const { id } of ids) yield* adminQuery(`KILL ${Number(id)}`)
        yield* Effect.sleep("100 millis")
        const results = yield* Effect.forEach(
          Array.from({ length: 5 }, (_, i) => i),
          (i) => Pool.withConnection((conn) => conn.sql<{ v: number }>`SELECT ${i} AS v`),
          { concurrency: 5 }
        )
        expect(results.map((rows) => Number(rows[0]!.v))).toEqual([0, 1, 2, 3, 4])
        // Found dead by validate-on-borrow ("unhealthy") or known dead from the driver's error event ("broken").
        const stats = yield* until(Pool.stats, (s) => s.connectionsClosed.broken + s.connectionsClosed.unhealthy === 2)
        expect(stats.failedRequests).toBe(0)
        yield* until(Effect.zip(serverCount, Pool.stats), ([n, s]) => n === s.totalConnections)
      })
    ))

  it.live("a fiber interrupted mid-query: the query is gone from the server within a second, the connection settles and is kept", () =>
    withPool(
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const fiber = yield* Effect.fork(sql`SELECT SLEEP(10)`)
        yield* until(
          adminQuery("SELECT id FROM information_schema.processlist WHERE user = ? AND info LIKE 'SELECT SLEEP%'", [
            user
          ]),
          (rows) => rows.length === 1
        )
        const interruptedAt = Date.now()
        yield* Fiber.interrupt(fiber)
        yield* until(
          adminQuery("SELECT id FROM information_schema.processlist WHERE user = ? AND info LIKE 'SELECT SLEEP%'", [
            user
          ]),
          (rows) => rows.length === 0,
          1000
        )
        expect(Date.now() - interruptedAt).toBeLessThan(1000)
        // Killed cleanly outside a transaction: the connection went back to the pool, nothing closed.
        const stats = yield* Pool.stats
        expect([stats.connectionsClosed.broken, stats.totalConnections, stats.activeConnections]).toEqual([0, 2, 0])
        expect(yield* serverCount).toBe(2)
        expect(yield* sql`SELECT 1 AS one`).toEqual([{ one: 1 }])
      })
    ))

  it.live("a transaction left open by an interrupted fiber leaves no lock and no state behind", () =>
    withPool(
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const t = table()
        yield* sql`CREATE TABLE ${sql(t)} (x int PRIMARY KEY) ENGINE=InnoDB`
        yield* sql`INSERT INTO ${sql(t)} VALUES (1)`
        yield* Effect.addFinalizer(() => Effect.orDie(sql`DROP TABLE IF EXISTS ${sql(t)}`))
        const fiber = yield* Effect.fork(Pool.withTransaction((conn) =>
          Effect.zipRight(conn.sql`SELECT x FROM ${sql(t)} WHERE x = 1 FOR UPDATE`, Effect.never)
        ))
        // MariaDB refreshes information_schema.innodb_trx only when it was last read over 100 ms ago: poll slower.
        const ours = adminQuery(
          "SELECT t.trx_id FROM information_schema.innodb_trx t JOIN information_schema.processlist p " +
            "ON p.id = t.trx_mysql_thread_id WHERE p.user = ? AND t.trx_rows_locked > 0",
          [user]
        )
        yield* until(
          ours,
          (rows) =>
            rows.length === 1,
          3000,
          150
        )
        yield* Fiber.interrupt(fiber)
        yield* until(ours, (rows) => rows.length === 0, 1000, 150)
        // the row lock is gone: another connection updates the row at once
        yield* sql`UPDATE ${sql(t)} SET x = 2 WHERE x = 1`.pipe(Effect.timeout("1 second"))
        // a BEGIN left open by a user is not passed on either
        yield* Pool.withConnection((conn) => conn.sql`BEGIN`)
        yield* until(Pool.stats, (s) => s.connectionsClosed.broken === 2)
      }).pipe(Effect.scoped)
    ))

  describe("bad connection settings fail the layer with ConnectError saying which, and no password", () => {
    const password = "s3cret-Pa55word"
    const check = (options: Parameters<typeof MysqlPool.layer>[0], expected: string) =>
      Effect.gen(function*() {
        const exit = yield* Layer.build(MysqlPool.layer({
          ...options,
          pool: { maxRetries: 0, connectTimeout: "5 seconds", ...options.pool }
        })).pipe(Effect.scoped, Effect.exit)
        expect(Exit.isFailure(exit)).toBe(true)
        if (Exit.isFailure(exit)) {
          const error = Cause.squash(exit.cause) as Error & { _tag: string }
          expect(error._tag).toBe("ConnectError")
          expect(error.message).toContain(expected)
          expect(error.message).not.toContain(password)
          expect(String(error)).not.toContain(password)
          expect(JSON.stringify(error)).not.toContain(password)
        }
      })

    it.live("a wrong password", () =>
      Effect.gen(function*() {
        yield* check(
          { ...base, username: "root", password: Redacted.make(password) },
          "Access denied for user 'root'@'127.0.0.1' (using password: YES)"
        )
        yield* check(
          { url: Redacted.make(`mysql://root:${password}@127.0.0.1:3306/test`) },
          "Access denied for user 'root'@'127.0.0.1'"
        )
      }))

    it.live("an unknown host", () =>
      check(
        { ...base, host: "no-such-host.invalid", password: Redacted.make(password) },
        "ENOTFOUND no-such-host.invalid"
      ))

    it.live("a refused port", () =>
      check({ ...base, port: 1, password: Redacted.make(password) }, "ECONNREFUSED 127.0.0.1:1"))

    it.live("a database that does not exist", () =>
      check({ ...base, username: "root", database: "no_such_db" }, "Unknown database 'no_such_db'"))
  })
})
