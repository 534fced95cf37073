/**
 * Scenario 11 of docs/fault-scenarios.md on MariaDB: a connection given back in a bad state (an open or failed
 * transaction, a use that died, a use interrupted mid-transaction, a result left unread) is closed, and the
 * next borrower gets a clean session. The pool has one connection, so the next borrower would get the
 * same one if it were kept. Main server, a user of the test's own.
 */
import { Reliability } from "@dbpool/testing"
import { expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Stream } from "effect"
import { adminQuery, describeDb, finish, lag, mainUser, makePool, target, type TestPool } from "./utils.js"

const { until, watchUnhandled } = Reliability

const table = `reliability_state_${process.pid}`

/** What the next borrower finds: its connection, whether a transaction is open, the bad use's marks. */
const nextBorrower = (test: TestPool) =>
  test.pool.withConnection((conn) =>
    Effect.map(
      conn.sql<{ tx: number; marker: string | null; n: number }>`
        SELECT @@in_transaction AS tx, @marker AS marker, (SELECT count(*) FROM ${conn.sql(table)}) AS n`,
      ([row]) => ({ id: conn.id, tx: Number(row!.tx), marker: row!.marker, rows: Number(row!.n) })
    )
  )

describeDb("MariaDB: a connection given back in a bad state (scenario 11)", () => {
  it.live(
    "11. an open transaction, a failed one, a use that died, a use interrupted mid-transaction, an unread " +
      "result: each connection is closed and the next borrower gets a clean session; a clean use keeps it",
    () =>
      Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        const { count, user } = yield* mainUser
        yield* Effect.acquireRelease(
          adminQuery(`CREATE TABLE test.${table} (id INT PRIMARY KEY) ENGINE=InnoDB`),
          () => Effect.orDie(adminQuery(`DROP TABLE IF EXISTS test.${table}`))
        )
        const test = yield* makePool(
          target(3306, user),
          { minConnections: 1, maxConnections: 1 }
        )
        const { pool } = test
        const clean = { tx: 0, marker: null, rows: 0 }
        let closed = 0
        /** The bad use closed its connection (reason broken) and the next borrower is on a new, clean one. */
        const expectReplaced = (before: string) =>
          Effect.gen(function*() {
            closed++
            const after = yield* nextBorrower(test)
            expect(after).toMatchObject(clean)
            expect(after.id).not.toBe(before)
            expect((yield* pool.stats).connectionsClosed.broken).toBe(closed)
            return after.id
          })

        // A clean use keeps its connection.
        let id = (yield* nextBorrower(test)).id
        yield* pool.withConnection((conn) => conn.sql`SELECT 1`)
        expect((yield* nextBorrower(test)).id).toBe(id)

        // An open transaction with a row inserted.
        yield* pool.withConnection((conn) =>
          Effect.zipRight(conn.sql`BEGIN`, conn.sql`INSERT INTO ${conn.sql(table)} VALUES (1)`)
        )
        id = yield* expectReplaced(id)

        // A failed transaction: the duplicate fails, the user catches it and gives the connection back.
        yield* adminQuery(`INSERT INTO test.${table} VALUES (2)`)
        const duplicate = yield* pool.withConnection((conn) =>
          Effect.gen(function*() {
            yield* conn.sql`START TRANSACTION`
            yield* conn.sql`INSERT INTO ${conn.sql(table)} VALUES (3)`
            return yield* Effect.either(conn.sql`INSERT INTO ${conn.sql(table)} VALUES (2)`)
          })
        )
        expect(duplicate._tag).toBe("Left")
        yield* adminQuery(`DELETE FROM test.${table}`)
        id = yield* expectReplaced(id)

        // The user's effect died with a session variable set and a transaction open.
        const died = yield* Effect.exit(pool.withConnection((conn) =>
          conn.sql`SET @marker = 'dirty'`.pipe(
            Effect.zipRight(conn.sql`BEGIN`),
            Effect.zipRight(conn.sql`INSERT INTO ${conn.sql(table)} VALUES (4)`),
            Effect.zipRight(Effect.die("boom"))
          )
        ))
        expect(Exit.isFailure(died) && Cause.isDie(died.cause)).toBe(true)
        id = yield* expectReplaced(id)

        // A transaction whose fiber is interrupted while a statement runs: no row, no lock left behind.
        const interrupted = yield* Effect.fork(pool.withTransaction((conn) =>
          Effect.zipRight(conn.sql`INSERT INTO ${conn.sql(table)} VALUES (5)`, conn.sql`SELECT SLEEP(5)`)
        ))
        yield* until(
          adminQuery<{ n: number }>(
            "SELECT count(*) AS n FROM information_schema.processlist WHERE user = ? AND info LIKE 'SELECT SLEEP%'",
            [user]
          ),
          (rows) =>
            Number(rows[0]!.n) === 1
        )
        yield* Fiber.interrupt(interrupted)
        id = yield* expectReplaced(id)
        // The row lock of id 5 is gone: another session inserts it without waiting.
        yield* adminQuery(`INSERT INTO test.${table} VALUES (5)`)
        yield* adminQuery(`DELETE FROM test.${table}`)

        // A result left unread: a stream of a million rows ended after five.
        const five = yield* pool.withConnection((conn) =>
          conn.sql`SELECT seq FROM seq_1_to_1000000`.stream.pipe(Stream.take(5), Stream.runCollect)
        )
        expect([...five].map((row: any) => Number(row.seq))).toEqual([1, 2, 3, 4, 5])
        const started = Date.now()
        id = yield* expectReplaced(id)
        expect(Date.now() - started).toBeLessThan(lag.widen(500))

        expect(unhandled).toEqual([])
        yield* finish(test, count)
      }).pipe(Effect.scoped),
    { timeout: 20_000 }
  )
})
