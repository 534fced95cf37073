/**
 * What the dashboard reads of a pool, and how the pools given to it (values,
 * or effects that yield them, such as a pool's service tag) are gathered.
 */
import type { PoolEvent } from "@dbpool/core/PoolEvent"
import * as PoolGroup from "@dbpool/core/PoolGroup"
import type { PoolStats } from "@dbpool/core/PoolStats"
import type { ConnectionInfo, LeaseInfo } from "@dbpool/core/ResourcePool"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"

/** The part of a `ResourcePool` the dashboard uses: every pool of @dbpool/core and @dbpool/sql is one. */
export interface PoolSource {
  /** `group`: the pool's `PoolGroup` setting, if any (a group or a membership): the page shows that group. */
  readonly config: { readonly name: string; readonly group?: unknown }
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

/** The group a pool's `group` setting names (a `PoolGroup`, or a `PoolGroup.member(...)` of one), if any. */
const groupOf = (setting: unknown): PoolGroup.PoolGroup | undefined => {
  if (PoolGroup.isPoolGroup(setting)) return setting
  if (typeof setting === "object" && setting !== null && "group" in setting && PoolGroup.isPoolGroup(setting.group)) {
    return setting.group
  }
  return undefined
}

/** The groups given, then those the pools belong to; each once. */
export const gatherGroups = (
  given: ReadonlyArray<PoolGroup.PoolGroup> | undefined,
  pools: ReadonlyArray<PoolSource>
): ReadonlyArray<PoolGroup.PoolGroup> => {
  const groups: Array<PoolGroup.PoolGroup> = []
  for (const g of [...(given ?? []), ...pools.map((p) => groupOf(p.config.group))]) {
    if (g !== undefined && !groups.includes(g)) groups.push(g)
  }
  return groups
}

export const isPoolSource = (u: unknown): u is PoolSource =>
  typeof u === "object" && u !== null && "notices" in u && "changes" in u && "stats" in u

/** One node of a cluster as the dashboard shows it (`NodeStats` of @dbpool/cluster, without its pool's stats). */
export interface ClusterNodeView {
  readonly name: string
  readonly role: string
  readonly up: boolean
  readonly reason?: string | undefined
  readonly failures: number
  /** Milliseconds; `Infinity` (JSON `null`) when behind by an unknown amount; absent when not measured. */
  readonly lagMillis?: number | undefined
  readonly reads: number
  readonly writes: number
  readonly fallbacks: number
  readonly rerouted: number
}

/** A cluster's statistics (`ClusterStats` of @dbpool/cluster). */
export interface ClusterStatsView {
  readonly primary: string
  readonly nodes: ReadonlyArray<ClusterNodeView & { readonly pool: PoolStats }>
  readonly reads: number
  readonly writes: number
  readonly fallbacks: number
  readonly rerouted: number
  readonly nodesUp: number
}

/** The part of @dbpool/cluster's `Cluster` the dashboard uses. */
export interface ClusterSource {
  readonly nodes: ReadonlyArray<{ readonly name: string; readonly role: string; readonly pool: PoolSource }>
  readonly stats: Effect.Effect<ClusterStatsView>
  /** A subscription to `NodeDown` and `NodeUp` (each naming its node), taken now, ended with the scope. */
  readonly subscribe: Effect.Effect<Queue.Dequeue<{ readonly _tag: string; readonly node: string }>, never, Scope.Scope>
}

/**
 * @dbpool/cluster's `Cluster` tag, found by its key: the dashboard shows a cluster of the context without
 * depending on @dbpool/cluster (and on the drivers it brings). `test/Cluster.test.ts` checks that the keys agree.
 */
const clusterTag = Context.GenericTag<ClusterSource>("@dbpool/cluster/Cluster")

export const findCluster: Effect.Effect<Option.Option<ClusterSource>> = Effect.serviceOption(clusterTag)

export class DashboardConfigError extends Data.TaggedError("DashboardConfigError")<{
  readonly field: string
  readonly reason: string
}> {
  override get message(): string {
    return `Invalid dashboard configuration: ${this.field} ${this.reason}`
  }
}

/**
 * The pools, in the order given, then the pools of `extra` (a cluster's nodes) not given by name; two
 * pools with one name would be indistinguishable on the page.
 */
export const gather = <R>(
  inputs: ReadonlyArray<PoolInput<R>>,
  extra: ReadonlyArray<PoolSource> = []
): Effect.Effect<ReadonlyArray<PoolSource>, DashboardConfigError, R> =>
  Effect.flatMap(
    Effect.forEach(inputs, (input) => isPoolSource(input) ? Effect.succeed(input) : input),
    (given) => {
      const pools = [...given, ...extra.filter((pool) => !given.some((g) => g.config.name === pool.config.name))]
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
