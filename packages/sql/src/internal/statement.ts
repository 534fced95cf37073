/**
 * Statements that run on the pool without @effect/sql's per-statement scope.
 *
 * @effect/sql runs every statement as `Effect.scoped(acquire connection)` inside
 * a span. On a pool that is three costs per statement that the statement itself
 * does not need: a `Scope` made and closed, a lease tied to it, and a span even
 * when no tracer is installed. Measured here, those cost more than the pool
 * (`Effect.scoped(pool.get)` ≈ 20 µs of CPU against ≈ 4 µs for `pool.use`). So a
 * statement is built by @effect/sql (segments, helpers, compiler: everything a
 * user can observe), and only its execution is ours: compile, borrow with `use`
 * (or join the current transaction), run, give back. When a statement
 * transformer is installed (`Statement.withTransformer`), the statement takes
 * @effect/sql's own path, so transformers see what they always saw.
 */
import type * as SqlConnection from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import * as Effect from "effect/Effect"
import * as Effectable from "effect/Effectable"
import type * as Fiber from "effect/Fiber"
import { identity } from "effect/Function"
import type * as Stream from "effect/Stream"

/** Effect's own tracer, in place when no tracer is installed: then a span per statement is pure cost. */
export const builtInTracer = Effect.runSync(Effect.tracer)

/** Which of the connection's methods runs the statement. */
export type Kind = "execute" | "executeRaw" | "executeValues" | "executeUnprepared"

type TransformRows = (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined

/** Runs a statement with a connection's method of that kind. */
export const invoke = (
  connection: SqlConnection.Connection,
  kind: Kind,
  sql: string,
  params: ReadonlyArray<unknown>,
  transformRows: TransformRows
): Effect.Effect<any, SqlError> => {
  switch (kind) {
    case "execute":
      return connection.execute(sql, params, transformRows)
    case "executeRaw":
      return connection.executeRaw(sql, params)
    case "executeValues":
      return connection.executeValues(sql, params)
    case "executeUnprepared":
      return connection.executeUnprepared(sql, params, transformRows)
  }
}

/** How statements of one client reach a connection, and what their spans say. */
export interface Executor {
  /**
   * Runs the statement on the transaction's connection when `fiber` is inside one, else on a connection
   * borrowed for it. Called while `fiber` runs, just before the returned effect runs.
   */
  readonly run: (
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    kind: Kind,
    sql: string,
    params: ReadonlyArray<unknown>,
    transformRows: TransformRows
  ) => Effect.Effect<any, SqlError>
  readonly spanAttributes: ReadonlyArray<readonly [string, unknown]>
  readonly transformRows: TransformRows
}

class PooledStatement<A> extends Effectable.Class<ReadonlyArray<A>, SqlError> implements Statement.Statement<A> {
  constructor(readonly statement: Statement.Statement<A>, readonly executor: Executor) {
    super()
  }

  get [Statement.FragmentId](): (_: Statement.FragmentId) => Statement.FragmentId {
    return identity
  }
  /** Nested in another template, the statement contributes its segments, as @effect/sql's does. */
  get segments(): ReadonlyArray<Statement.Segment> {
    return this.statement.segments
  }
  compile(withoutTransform?: boolean | undefined): readonly [sql: string, params: ReadonlyArray<unknown>] {
    return this.statement.compile(withoutTransform)
  }

  private execute<B>(
    kind: Kind,
    operation: string,
    withoutTransform: boolean,
    transformRows: TransformRows,
    fallback: Effect.Effect<B, SqlError>
  ): Effect.Effect<B, SqlError> {
    return Effect.withFiberRuntime((fiber) => {
      if (fiber.getFiberRef(Statement.currentTransformer)._tag === "Some") return fallback
      const [sql, params] = this.statement.compile(withoutTransform)
      const executor = this.executor
      if (fiber.currentTracer === builtInTracer) return executor.run(fiber, kind, sql, params, transformRows)
      return Effect.useSpan("sql.execute", { kind: "client", captureStackTrace: false }, (span) => {
        for (const [key, value] of executor.spanAttributes) span.attribute(key, value)
        span.attribute("db.operation.name", operation)
        span.attribute("db.query.text", sql)
        // Unlike @effect/sql, the statement's span is the parent of what runs inside (waiting for a connection).
        return Effect.withParentSpan(
          Effect.withFiberRuntime((inner) => executor.run(inner, kind, sql, params, transformRows)),
          span
        )
      })
    })
  }

  commit(): Effect.Effect<ReadonlyArray<A>, SqlError> {
    return this.execute("execute", "execute", false, this.executor.transformRows, this.statement)
  }
  get withoutTransform(): Effect.Effect<ReadonlyArray<A>, SqlError> {
    return this.execute("execute", "executeWithoutTransform", true, undefined, this.statement.withoutTransform)
  }
  get raw(): Effect.Effect<unknown, SqlError> {
    return this.execute("executeRaw", "executeRaw", true, undefined, this.statement.raw)
  }
  get values(): Effect.Effect<ReadonlyArray<ReadonlyArray<unknown>>, SqlError> {
    return this.execute("executeValues", "executeValues", false, undefined, this.statement.values)
  }
  get unprepared(): Effect.Effect<ReadonlyArray<A>, SqlError> {
    return this.execute(
      "executeUnprepared",
      "executeUnprepared",
      false,
      this.executor.transformRows,
      this.statement.unprepared
    )
  }
  /** A stream holds its connection for as long as it is read: @effect/sql's scoped path is the right one. */
  get stream(): Stream.Stream<A, SqlError> {
    return this.statement.stream
  }
  toJSON(): unknown {
    const [sql, params] = this.compile()
    return { _id: "@effect/sql/Statement", segments: this.segments, sql, params }
  }
}

/**
 * Wraps @effect/sql's statement constructor so that the statements it makes
 * execute through `executor`; fragments, identifiers and helpers are its own.
 */
export const makeConstructor = (
  constructor: Statement.Constructor,
  executor: Executor
): Statement.Constructor => {
  const sql = function(strings: unknown, ...args: Array<unknown>) {
    const made = (constructor as any)(strings, ...args)
    return Array.isArray(strings) ? new PooledStatement(made, executor) : made
  }
  return Object.assign(sql, constructor, {
    unsafe: <A extends object>(text: string, params?: ReadonlyArray<unknown> | undefined) =>
      new PooledStatement<A>(constructor.unsafe<A>(text, params), executor)
  }) as unknown as Statement.Constructor
}
