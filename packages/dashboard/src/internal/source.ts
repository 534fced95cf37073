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

/** In-process alerts (the `Alerts` of @dbpool/observability): `AlertRaised` and `AlertResolved` events. */
export interface AlertSource {
  readonly events: Stream.Stream<PoolEvent>
}

/** Alerts, or an effect that yields them (the `Alerts.Alerts` tag of @dbpool/observability). */
export type AlertInput<R> = AlertSource | Effect.Effect<AlertSource, never, R>

export const gatherAlerts = <R>(
  inputs: ReadonlyArray<AlertInput<R>> | undefined
): Effect.Effect<ReadonlyArray<AlertSource>, never, R> =>
  Effect.forEach(inputs ?? [], (input) => Effect.isEffect(input) ? input : Effect.succeed(input))

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
