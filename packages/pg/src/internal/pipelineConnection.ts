/**
 * The `SqlConnection` a client's statements see when pipelining is on: each statement goes over a shared
 * connection of the pipeline, unless it must have one of its own (pipelineRoute.ts), then it takes the
 * pool's usual way.
 */
import type * as Pool from "@dbpool/sql/Pool"
import type * as SqlConnection from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { Pipeline } from "./pipeline.js"
import { pipelinable } from "./pipelineRoute.js"

type TransformRows = (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined

export class PipelinedConnection implements SqlConnection.Connection {
  constructor(private readonly pipeline: Pipeline, private readonly exclusive: Pool.StatementRunner) {}

  private shared(sql: string): boolean {
    return !this.pipeline.closed && pipelinable(sql)
  }

  execute(sql: string, params: ReadonlyArray<unknown>, transformRows: TransformRows) {
    if (!this.shared(sql)) return this.exclusive((c) => c.execute(sql, params, transformRows))
    const rows = this.pipeline.run(sql, params, "rows") as Effect.Effect<ReadonlyArray<any>, SqlError>
    return transformRows === undefined ? rows : Effect.map(rows, transformRows)
  }
  executeRaw(sql: string, params: ReadonlyArray<unknown>) {
    if (!this.shared(sql)) return this.exclusive((c) => c.executeRaw(sql, params))
    return this.pipeline.run(sql, params, "raw")
  }
  executeValues(sql: string, params: ReadonlyArray<unknown>) {
    if (!this.shared(sql)) return this.exclusive((c) => c.executeValues(sql, params))
    return this.pipeline.run(sql, params, "values") as Effect.Effect<ReadonlyArray<ReadonlyArray<unknown>>, SqlError>
  }
  executeUnprepared(sql: string, params: ReadonlyArray<unknown>, transformRows: TransformRows) {
    return this.execute(sql, params, transformRows)
  }
  /**
   * Never reached: a statement's stream takes @effect/sql's scoped path, which holds a connection of its
   * own for as long as the stream is read (the pool's `acquirer`), not this one.
   */
  executeStream(): Stream.Stream<any, SqlError> {
    return Stream.fail(new SqlError({ message: "A stream needs a connection of its own, not a pipelined one" }))
  }
}

/** The `statements` option of `Pool.makeClient`: statements outside transactions go through `pipeline`. */
export const runner = (pipeline: Pipeline) => (exclusive: Pool.StatementRunner): Pool.StatementRunner => {
  const connection = new PipelinedConnection(pipeline, exclusive)
  return (f) => f(connection)
}
