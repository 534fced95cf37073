/**
 * The dashboard's one reader of the pools: every `interval` it takes one
 * sample of each pool (its exact statistics, the acquisitions and timeouts
 * since the last sample, the acquire wait's p50 and p99 over that interval,
 * the connections and who holds them), keeps the last minutes of samples for
 * a page that opens later, and follows each pool's notices. Pages subscribe
 * to what it publishes; however many are open, the pools are read once.
 *
 * The acquire wait comes from the pool's own `db.client.connection.wait_time`
 * histogram, which every acquisition updates anyway: following it costs the
 * pools nothing.
 */
import type { PoolEvent } from "@dbpool/core/PoolEvent"
import type * as PoolGroup from "@dbpool/core/PoolGroup"
import type { PoolStats } from "@dbpool/core/PoolStats"
import type { ConnectionInfo, LeaseInfo } from "@dbpool/core/ResourcePool"
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as MetricPair from "effect/MetricPair"
import * as MetricState from "effect/MetricState"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { AlertSource, ClusterNodeView, ClusterSource, ClusterStatsView, PoolSource } from "./source.js"

export interface PoolPoint {
  readonly name: string
  readonly stats: PoolStats
  /** Acquisitions per second since the previous sample. */
  readonly throughput: number
  /** Acquisitions that timed out since the previous sample. */
  readonly timeouts: number
  /** Acquire wait over the interval, in milliseconds; null when nothing was acquired. */
  readonly waitP50: number | null
  readonly waitP99: number | null
}

/** A cluster at one tick: its statistics without the nodes' pool stats (those are in the pools' points). */
export interface ClusterPoint extends Omit<ClusterStatsView, "nodes"> {
  readonly nodes: ReadonlyArray<ClusterNodeView>
}

/** One tick: every pool's point; `connections` and `leases` are sent live but not kept in the history. */
export interface Sample {
  readonly t: number
  readonly pools: ReadonlyArray<PoolPoint>
  /** With a cluster in the context. */
  readonly cluster?: ClusterPoint | undefined
  /** With pool groups (given, or those the pools belong to): each group's budget and members. */
  readonly groups?: ReadonlyArray<PoolGroup.GroupStats> | undefined
}

export interface PoolDetail {
  readonly name: string
  readonly connections: ReadonlyArray<ConnectionInfo>
  readonly leases: ReadonlyArray<LeaseInfo>
}

export interface Notice {
  readonly t: number
  readonly pool: string
  /**
   * A pool's event, an alert, a cluster's `NodeDown` / `NodeUp` (shown on the node's pool), or a group's
   * `CeilingChanged` (on its pool) / `CapacityMoved` (on the pool that gave the connection up).
   */
  readonly event: PoolEvent | { readonly _tag: string; readonly node: string } | PoolGroup.GroupEvent
}

export type Message =
  | { readonly _tag: "sample"; readonly sample: Sample; readonly details: ReadonlyArray<PoolDetail> }
  | { readonly _tag: "notice"; readonly notice: Notice }

export interface Sampler {
  readonly pools: ReadonlyArray<PoolSource>
  readonly cluster: ClusterSource | undefined
  readonly groups: ReadonlyArray<PoolGroup.PoolGroup>
  /** The kept samples, oldest first, and the recent notices. */
  readonly history: () => { readonly samples: ReadonlyArray<Sample>; readonly notices: ReadonlyArray<Notice> }
  readonly latest: () => { readonly sample: Sample; readonly details: ReadonlyArray<PoolDetail> } | undefined
  /** What is published from now on. */
  readonly subscribe: Effect.Effect<Stream.Stream<Message>, never, Scope.Scope>
}

const waitTimeMetric = "db.client.connection.wait_time"
const poolNameAttribute = "db.client.connection.pool.name"
const keptNotices = 200

type Buckets = ReadonlyArray<readonly [number, number]>

/** The pool's wait-time histogram (cumulative buckets, seconds), found by name and pool tag. */
const waitBuckets = (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>, pool: string): Buckets | undefined => {
  for (const pair of pairs) {
    if (pair.metricKey.name !== waitTimeMetric) continue
    if (!pair.metricKey.tags.some((t) => t.key === poolNameAttribute && t.value === pool)) continue
    if (MetricState.isHistogramState(pair.metricState)) return pair.metricState.buckets
  }
  return undefined
}

/**
 * The `q` quantile, in milliseconds, of the values counted between two snapshots
 * of cumulative buckets: linear within the bucket it falls in.
 */
export const quantile = (now: Buckets, before: Buckets | undefined, q: number): number | null => {
  const count = (i: number) => now[i]![1] - (before?.[i]?.[1] ?? 0)
  const total = now.length === 0 ? 0 : count(now.length - 1)
  if (total <= 0) return null
  const rank = q * total
  for (let i = 0; i < now.length; i++) {
    const upTo = count(i)
    if (upTo < rank) continue
    const below = i === 0 ? 0 : count(i - 1)
    const low = i === 0 ? 0 : now[i - 1]![0]
    const high = Number.isFinite(now[i]![0]) ? now[i]![0] : low * 2
    const within = upTo - below
    const seconds = within <= 0 ? high : low + (high - low) * ((rank - below) / within)
    return seconds * 1000
  }
  return null
}

const clusterPoint = ({ nodes, ...totals }: ClusterStatsView): ClusterPoint => ({
  ...totals,
  nodes: nodes.map(({ pool: _, ...node }) => node)
})

/** A group's `CapacityMoved` is shown on the pool that gave its connection up. */
const movedFrom = (event: Notice["event"]): string =>
  event._tag === "CapacityMoved" && "from" in event && typeof event.from === "string" ? event.from : ""

interface Previous {
  readonly t: number
  readonly successful: number
  readonly timeouts: number
  readonly buckets: Buckets | undefined
}

export const make = (
  pools: ReadonlyArray<PoolSource>,
  options: {
    readonly interval: Duration.Duration
    readonly keep: number
    readonly alerts: ReadonlyArray<AlertSource>
    readonly cluster: ClusterSource | undefined
    readonly groups: ReadonlyArray<PoolGroup.PoolGroup>
  }
): Effect.Effect<Sampler, never, Scope.Scope> =>
  Effect.gen(function*() {
    const hub = yield* Effect.acquireRelease(PubSub.sliding<Message>(1024), PubSub.shutdown)
    const samples: Array<Sample> = []
    const notices: Array<Notice> = []
    let latest: { readonly sample: Sample; readonly details: ReadonlyArray<PoolDetail> } | undefined
    const previous = new Map<string, Previous>()

    const point = (
      pool: PoolSource,
      stats: PoolStats,
      t: number,
      pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>
    ) => {
      const name = pool.config.name
      const buckets = waitBuckets(pairs, name)
      const before = previous.get(name)
      previous.set(name, { t, successful: stats.successfulRequests, timeouts: stats.timeouts, buckets })
      const seconds = before === undefined ? 0 : (t - before.t) / 1000
      const point: PoolPoint = {
        name,
        stats,
        throughput: before === undefined || seconds <= 0 ? 0 : (stats.successfulRequests - before.successful) / seconds,
        timeouts: before === undefined ? 0 : stats.timeouts - before.timeouts,
        waitP50: buckets === undefined || before === undefined ? null : quantile(buckets, before.buckets, 0.5),
        waitP99: buckets === undefined || before === undefined ? null : quantile(buckets, before.buckets, 0.99)
      }
      return point
    }

    const tick = Effect.gen(function*() {
      const t = yield* Clock.currentTimeMillis
      const pairs = yield* Metric.snapshot
      const points: Array<PoolPoint> = []
      const details: Array<PoolDetail> = []
      for (const pool of pools) {
        const stats = yield* pool.stats
        points.push(point(pool, stats, t, pairs))
        details.push({ name: pool.config.name, connections: yield* pool.metrics, leases: yield* pool.leases })
      }
      const cluster = options.cluster === undefined ? undefined : clusterPoint(yield* options.cluster.stats)
      const groups = yield* Effect.forEach(options.groups, (group) => group.stats)
      const sample: Sample = {
        t,
        pools: points,
        ...(cluster === undefined ? {} : { cluster }),
        ...(groups.length === 0 ? {} : { groups })
      }
      samples.push(sample)
      if (samples.length > options.keep) samples.splice(0, samples.length - options.keep)
      latest = { sample, details }
      yield* PubSub.publish(hub, { _tag: "sample", sample, details })
    })

    // An alert names its pool; a pool's own notices are its.
    const follow = (events: Stream.Stream<Notice["event"]>, pool: string | undefined) =>
      Stream.runForEach(events, (event) =>
        Effect.flatMap(Clock.currentTimeMillis, (t) => {
          const named = "pool" in event ? event.pool : "node" in event ? event.node : movedFrom(event)
          const notice: Notice = { t, pool: pool ?? named, event }
          notices.push(notice)
          if (notices.length > keptNotices) notices.shift()
          return PubSub.publish(hub, { _tag: "notice", notice })
        }))

    yield* tick
    yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(options.interval), tick)))
    for (const pool of pools) yield* Effect.forkScoped(follow(pool.notices, pool.config.name))
    for (const alerts of options.alerts) yield* Effect.forkScoped(follow(alerts.events, undefined))
    for (const group of options.groups) yield* Effect.forkScoped(follow(group.events, undefined))
    if (options.cluster !== undefined) {
      // subscribed before the sampler is returned: no NodeDown between the two is missed
      const downsAndUps = yield* options.cluster.subscribe
      yield* Effect.forkScoped(follow(Stream.fromQueue(downsAndUps), undefined))
    }

    return {
      pools,
      cluster: options.cluster,
      groups: options.groups,
      history: () => ({ samples: samples.slice(), notices: notices.slice() }),
      latest: () => latest,
      subscribe: Effect.map(PubSub.subscribe(hub), (queue) => Stream.fromQueue(queue))
    }
  })
