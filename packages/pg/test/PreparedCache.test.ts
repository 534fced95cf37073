/**
 * Each connection's cache of named prepared statements, against the real PostgreSQL: what the session has
 * prepared is read from `pg_prepared_statements` on the same (only) connection.
 */
import { PgPool } from "@dbpool/pg"
import { Pool } from "@dbpool/sql"
import { Reliability } from "@dbpool/testing"
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option } from "effect"
import type Pg from "pg"

const appName = `dbpool-test-prepared-${process.pid}`
const base = { host: "127.0.0.1", port: 5432, database: "test", username: "postgres" } as const

const run = await Effect.runPromise(Reliability.mainServer("postgresql", "the @dbpool/pg tests"))
const describeDb = run ? describe : describe.skip

let tables = 0
const table = () => `prepared_test_${process.pid}_${++tables}`

/**
 * The first statement with parameters on a connection runs unnamed, behind the check that the connection
 * reaches the server directly (no pooler): from the next one on, statements are named.
 */
const warmUp = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT ${0}::int AS warm`)

/** One connection, so that every statement runs on the session the checks read. */
const withPool = <A, E>(
  program: Effect.Effect<A, E, Pool.Pool | SqlClient.SqlClient>,
  preparedStatements?: number
) =>
  Effect.provide(
    Effect.zipRight(warmUp, program),
    PgPool.layer({
      ...base,
      applicationName: appName,
      preparedStatements,
      pool: { minConnections: 1, maxConnections: 1 }
    })
  )

/** The statements the session has prepared, oldest first. */
const prepared = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(
    sql<{ statement: string }>`SELECT statement FROM pg_prepared_statements ORDER BY prepare_time, name`,
    (rows) => rows.map((row) => row.statement)
  ))

const a = (n: number) => Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ a: number }>`SELECT ${n}::int AS a`)
const b = (n: number) => Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ b: number }>`SELECT ${n}::int AS b`)
const c = (n: number) => Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ c: number }>`SELECT ${n}::int AS c`)
const textA = "SELECT $1::int AS a"
const textB = "SELECT $1::int AS b"
const textC = "SELECT $1::int AS c"

const sqlstate = (exit: Exit.Exit<unknown, SqlError>): string | undefined =>
  Exit.isFailure(exit)
    ? Option.getOrUndefined(Option.map(Cause.failureOption(exit.cause), (e) => (e.cause as { code?: string }).code))
    : undefined

describeDb("prepared-statement cache", () => {
  it.live("the first statement with parameters of a connection runs unnamed, the next ones named", () =>
    Effect.provide(
      Effect.gen(function*() {
        expect(yield* a(1)).toEqual([{ a: 1 }])
        expect(yield* prepared).toEqual([])
        expect(yield* a(2)).toEqual([{ a: 2 }])
        expect(yield* prepared).toEqual([textA])
      }),
      PgPool.layer({ ...base, applicationName: appName, pool: { minConnections: 1, maxConnections: 1 } })
    ))

  it.live("a statement with parameters is prepared once per connection and reused; one without is never named", () =>
    withPool(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      for (let n = 1; n <= 5; n++) expect(yield* a(n)).toEqual([{ a: n }])
      yield* sql`SELECT 1`
      expect(yield* prepared).toEqual([textA])
      const names = yield* sql<{ name: string }>`SELECT name FROM pg_prepared_statements`
      for (let n = 6; n <= 8; n++) expect(yield* a(n)).toEqual([{ a: n }])
      // Reused: still one, under the same name.
      expect(yield* sql<{ name: string }>`SELECT name FROM pg_prepared_statements`).toEqual(names)
    })))

  it.live("preparedStatements: 0 names nothing", () =>
    withPool(
      Effect.gen(function*() {
        for (let n = 1; n <= 3; n++) expect(yield* a(n)).toEqual([{ a: n }])
        expect(yield* prepared).toEqual([])
      }),
      0
    ))

  it.live("at the bound, the least recently used statement is deallocated on the server", () =>
    withPool(
      Effect.gen(function*() {
        yield* a(1)
        yield* b(2)
        expect(yield* prepared).toEqual([textA, textB])
        // A used again: B is now the least recently used, and C pushes it out.
        yield* a(3)
        expect(yield* c(4)).toEqual([{ c: 4 }])
        expect(yield* prepared).toEqual([textA, textC])
        // B comes back under a new name, pushing out A.
        expect(yield* b(5)).toEqual([{ b: 5 }])
        expect(yield* prepared).toEqual([textC, textB])
      }),
      2
    ))

  it.live("DISCARD ALL and DEALLOCATE ALL empty the cache: the statement is prepared again, no error", () =>
    withPool(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* a(1)
      expect(yield* prepared).toEqual([textA])
      yield* sql`DISCARD ALL`
      expect(yield* prepared).toEqual([])
      expect(yield* a(2)).toEqual([{ a: 2 }])
      expect(yield* prepared).toEqual([textA])
      yield* sql`DEALLOCATE ALL`.unprepared
      expect(yield* prepared).toEqual([])
      expect(yield* a(3)).toEqual([{ a: 3 }])
      expect(yield* prepared).toEqual([textA])
    })))

  it.live("a statement the server lost behind the cache's back (26000) is prepared again and run once more", () =>
    withPool(Effect.gen(function*() {
      yield* a(1)
      // Dropped on the native client: neither dbpool nor node-postgres sees it.
      yield* Pool.withConnection((conn) => Effect.promise(() => (conn.native as Pg.Client).query("DEALLOCATE ALL")))
      expect(yield* a(2)).toEqual([{ a: 2 }])
      expect(yield* prepared).toEqual([textA])
    })))

  it.live("a schema change (0A000): prepared again and run once more outside a transaction; inside one it fails", () =>
    withPool(
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const t = table()
        yield* sql`CREATE TABLE ${sql(t)} (id int)`
        yield* Effect.addFinalizer(() => Effect.orDie(sql`DROP TABLE IF EXISTS ${sql(t)}`))
        yield* sql`INSERT INTO ${sql(t)} VALUES (1)`
        const select = sql`SELECT * FROM ${sql(t)} WHERE id = ${1}`
        expect(yield* select).toEqual([{ id: 1 }])
        yield* sql`ALTER TABLE ${sql(t)} ADD COLUMN x int DEFAULT 7`
        expect(yield* select).toEqual([{ id: 1, x: 7 }])

        yield* sql`ALTER TABLE ${sql(t)} ADD COLUMN y int DEFAULT 8`
        const inTransaction = yield* Effect.exit(sql.withTransaction(select))
        expect(sqlstate(inTransaction)).toBe("0A000")
        expect(yield* select).toEqual([{ id: 1, x: 7, y: 8 }])
        expect((yield* prepared).filter((s) => s.includes(t))).toEqual([`SELECT * FROM "${t}" WHERE id = $1`])
      }).pipe(Effect.scoped)
    ))

  it.live("a bound that is not a whole number 0 or more fails with PoolConfigError", () =>
    Effect.gen(function*() {
      for (const value of [-1, 1.5, Number.NaN]) {
        const exit = yield* Effect.exit(PgPool.connector({ ...base, preparedStatements: value }))
        expect(exit).toMatchObject({
          _tag: "Failure",
          cause: { error: { _tag: "PoolConfigError", field: "preparedStatements" } }
        })
      }
    }))
})
