/**
 * How a client's statements outside transactions reach the pipeline (`Pool.makeClient`'s `statements`):
 * each goes over a shared connection, unless it must have one of its own (pipelineRoute.ts) or the
 * pipeline is closing; then it takes the pool's usual way.
 */
import type * as Pool from "@dbpool/sql/Pool"
import * as Effect from "effect/Effect"
import type { Pipeline } from "./pipeline.js"
import { pipelinable } from "./pipelineRoute.js"

export const runner = (pipeline: Pipeline) =>
(exclusive: Pool.StatementRunner): Pool.StatementRunner =>
(
  kind,
  sql,
  params,
  transformRows
) => {
  if (pipeline.closed || !pipelinable(sql)) return exclusive(kind, sql, params, transformRows)
  switch (kind) {
    case "execute":
    case "executeUnprepared": {
      const rows = pipeline.run(sql, params, "rows") as Effect.Effect<ReadonlyArray<any>, any>
      return transformRows === undefined ? rows : Effect.map(rows, transformRows)
    }
    case "executeRaw":
      return pipeline.run(sql, params, "raw")
    case "executeValues":
      return pipeline.run(sql, params, "values")
  }
}
