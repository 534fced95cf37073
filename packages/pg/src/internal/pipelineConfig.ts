/**
 * The `pipeline` option of `PgPool`: checked before any connection is opened, so a bad value fails with a
 * `PoolConfigError` naming the field, as every other setting does.
 */
import { PoolConfigError } from "@dbpool/core/PoolError"
import * as Effect from "effect/Effect"

/** The checked setting. */
export interface PipelineConfig {
  /** Statements in flight at once on one shared connection. */
  readonly maxInFlight: number
}

/** Deeper than this, a pipeline only queues on the server; the bound also catches a unit mistake (bytes, ms). */
export const maxDepth = 1024

const invalid = (field: string, value: unknown, reason: string) =>
  Effect.fail(new PoolConfigError({ field, value, reason }))

/** `undefined` (off) or `{ maxInFlight }` with a whole number from 1 to `maxDepth`. */
export const decode = (input: unknown): Effect.Effect<PipelineConfig | undefined, PoolConfigError> =>
  Effect.suspend(() => {
    if (input === undefined) return Effect.succeed(undefined)
    if (typeof input !== "object" || input === null || Array.isArray(input)) {
      return invalid("pipeline", input, "must be an object such as { maxInFlight: 8 } (leave it out to turn it off)")
    }
    const value = (input as { readonly maxInFlight?: unknown }).maxInFlight
    const field = "pipeline.maxInFlight"
    if (typeof value !== "number" || Number.isNaN(value)) return invalid(field, value, "must be a number")
    if (!Number.isInteger(value)) return invalid(field, value, "must be a whole number")
    if (value < 1 || value > maxDepth) return invalid(field, value, `must be from 1 to ${maxDepth}`)
    return Effect.succeed({ maxInFlight: value })
  })
