/**
 * What the dashboard reads of a pool, and how the pools given to it (values,
 * or effects that yield them, such as a pool's service tag) are gathered.
 */
import type { PoolEvent } from "@dbpool/core/PoolEvent"
import type { PoolStats } from "@dbpool/core/PoolStats"
import type { ConnectionInfo, LeaseInfo } from "@dbpool/core/ResourcePool"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"

/** The part of a `ResourcePool` the dashboard uses: every pool of @dbpool/core and @dbpool/sql is one. */
export interface PoolSource {
  readonly config: { readonly name: string }
  readonly stats: Effect.Effect<PoolStats>
  readonly changes: Stream.Stream<PoolStats>
  readonly notices: Stream.Stream<PoolEvent>
  readonly metrics: Effect.Effect<ReadonlyArray<ConnectionInfo>>
  readonly leases: Effect.Effect<ReadonlyArray<LeaseInfo>>
  readonly use: <B, E2, R>(f: (lease: unknown) => Effect.Effect<B, E2, R>) => Effect.Effect<B, unknown, R>
}

/** A pool, or an effect that yields one (a `Context.Tag` of a pool's service is such an effect). */
export type PoolInput<R> = PoolSource | Effect.Effect<PoolSource, never, R>

export const isPoolSource = (u: unknown): u is PoolSource =>
  typeof u === "object" && u !== null && "notices" in u && "changes" in u && "stats" in u

export class DashboardConfigError extends Data.TaggedError("DashboardConfigError")<{
  readonly field: string
  readonly reason: string
}> {
  override get message(): string {
    return `Invalid dashboard configuration: ${this.field} ${this.reason}`
  }
}

/** The pools, in the order given; two pools with one name would be indistinguishable on the page. */
export const gather = <R>(
  inputs: ReadonlyArray<PoolInput<R>>
): Effect.Effect<ReadonlyArray<PoolSource>, DashboardConfigError, R> =>
  Effect.flatMap(
    Effect.forEach(inputs, (input) => isPoolSource(input) ? Effect.succeed(input) : input),
    (pools) => {
      if (pools.length === 0) {
        return new DashboardConfigError({
          field: "pools",
          reason: "is empty: give at least one pool"
        })
      }
      const names = pools.map((p) => p.config.name)
      const duplicate = names.find((n, i) => names.indexOf(n) !== i)
      return duplicate === undefined
        ? Effect.succeed(pools)
        : new DashboardConfigError({
          field: "pools",
          reason: `has two pools named "${duplicate}": give each its own name (PoolConfig name)`
        })
    }
  )
