import { Pool } from "@dbpool/sql"
import { SqlClient } from "@effect/sql"
import * as Statement from "@effect/sql/Statement"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Option, Tracer } from "effect"
import { type FakeNative, makeFakeDriver } from "./utils/FakeDriver.js"

const config = { minConnections: 1, maxConnections: 2 } as const

/** A tracer that records every span it ends, as an OpenTelemetry exporter would. */
const recordingTracer = () => {
  const spans: Array<{ name: string; attributes: Map<string, unknown> }> = []
  const native = Effect.runSync(Effect.tracer)
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind) => {
      const span = native.span(name, parent, context, links, startTime, kind)
      const end = span.end.bind(span)
      return Object.assign(span, {
        end: (endTime: bigint, exit: any) => {
          spans.push({ name, attributes: span.attributes as Map<string, unknown> })
          end(endTime, exit)
        }
      })
    },
    context: (f) => f()
  })
  return { spans, tracer }
}

describe("statements on the pool", () => {
  it.effect("every form of execution runs on a borrowed connection and gives it back", () => {
    const driver = makeFakeDriver()
    return Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      expect(yield* sql`SELECT ${1}`).toEqual([{ conn: 1, sql: "SELECT ?" }])
      expect(yield* sql`SELECT w`.withoutTransform).toEqual([{ conn: 1, sql: "SELECT w" }])
      expect(yield* sql`SELECT r`.raw).toEqual([{ conn: 1, sql: "SELECT r" }])
      expect(yield* sql`SELECT v`.values).toEqual([[1, "SELECT v"]])
      expect(yield* sql`SELECT u`.unprepared).toEqual([{ conn: 1, sql: "SELECT u" }])
      expect(yield* sql.unsafe("SELECT unsafe")).toEqual([{ conn: 1, sql: "SELECT unsafe" }])
      const stats = yield* Pool.stats
      expect([stats.activeConnections, stats.successfulRequests, stats.connectionsCreated]).toEqual([0, 6, 1])
    }).pipe(Effect.provide(Pool.layer(driver.connector, config)))
  })

  it.effect("a statement nested in another template compiles exactly as @effect/sql's own", () => {
    const driver = makeFakeDriver()
    return Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const reference = Statement.make(Effect.never, Statement.makeCompilerSqlite(), [], undefined)
      const ours = sql`SELECT * FROM t WHERE a IN (${sql`SELECT a FROM u WHERE b = ${2}`}) AND c = ${3}`
      const theirs = reference`SELECT * FROM t WHERE a IN (${reference`SELECT a FROM u WHERE b = ${2}`}) AND c = ${3}`
      expect(ours.compile()).toEqual(theirs.compile())
      expect(ours.compile()).toEqual(["SELECT * FROM t WHERE a IN (SELECT a FROM u WHERE b = ?) AND c = ?", [2, 3]])
      expect(Statement.isFragment(ours)).toBe(true)
      expect(yield* ours).toEqual([{
        conn: 1,
        sql: "SELECT * FROM t WHERE a IN (SELECT a FROM u WHERE b = ?) AND c = ?"
      }])
    }).pipe(Effect.provide(Pool.layer(driver.connector, config)))
  })

  it.effect("with a tracer installed, each statement runs in an sql.execute span with the query's attributes", () => {
    const driver = makeFakeDriver()
    const { spans, tracer } = recordingTracer()
    return Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`SELECT ${1}`.values.pipe(Effect.withTracer(tracer))
      const executes = spans.filter((span) => span.name === "sql.execute")
      expect(executes.length).toBe(1)
      const attributes = executes[0].attributes
      expect(attributes.get("db.system.name")).toBe("fake")
      expect(attributes.get("db.operation.name")).toBe("executeValues")
      expect(attributes.get("db.query.text")).toBe("SELECT ?")
    }).pipe(Effect.provide(Pool.layer(driver.connector, config)))
  })

  it.effect("without a tracer no statement span is made: the statement runs in the caller's span", () => {
    const driver = makeFakeDriver()
    const seen: Array<string> = []
    const connector = {
      ...driver.connector,
      connection: (native: FakeNative) => {
        const inner = driver.connector.connection(native)
        return {
          ...inner,
          execute: (sql: string, params: ReadonlyArray<unknown>, transform: any) =>
            Effect.flatMap(Effect.currentSpan, (span) => {
              seen.push(span.name)
              return inner.execute(sql, params, transform)
            }).pipe(Effect.orDie)
        }
      }
    }
    const { tracer } = recordingTracer()
    return Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* Effect.withSpan(sql`SELECT 1`, "outer")
      yield* Effect.withSpan(sql`SELECT 1`, "outer").pipe(Effect.withTracer(tracer))
      expect(seen).toEqual(["outer", "sql.execute"])
    }).pipe(Effect.provide(Pool.layer(connector, config)))
  })

  it.effect("a statement transformer sees the statement and can replace it, as with @effect/sql", () => {
    const driver = makeFakeDriver()
    return Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const seen: Array<string> = []
      const rows = yield* sql`SELECT original`.pipe(
        Statement.withTransformer((statement, make) => {
          seen.push(statement.compile()[0])
          return Effect.succeed(make`SELECT replaced`)
        })
      )
      expect(seen).toEqual(["SELECT original"])
      expect(rows).toEqual([{ conn: 1, sql: "SELECT replaced" }])
      expect((yield* Pool.stats).activeConnections).toBe(0)
      expect(driver.all[0].log).toEqual(["SELECT replaced"])
    }).pipe(Effect.provide(Pool.layer(driver.connector, config)))
  })

  it.effect("inside withTransaction a statement joins the transaction's connection; outside it borrows", () => {
    const driver = makeFakeDriver()
    return Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      // Forked before the transaction began, this fiber is outside it even while it runs.
      const gate = yield* Deferred.make<void>()
      const outside = yield* Effect.fork(Effect.zipRight(Deferred.await(gate), sql`SELECT outside`))
      yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT in_tx`
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(outside)
      }))
      const [first, second] = driver.all
      expect(first.log).toEqual(["BEGIN", "INSERT in_tx", "COMMIT"])
      expect(Option.fromNullable(second).pipe(Option.map((n) => n.log))).toEqual(Option.some(["SELECT outside"]))
    }).pipe(Effect.provide(Pool.layer(driver.connector, config)))
  })
})
