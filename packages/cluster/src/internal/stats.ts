/**
 * The cluster's statistics and metrics: counters kept per node by the routing (plain numbers, and the
 * registry hooks of their metrics, so a routed statement pays two increments), an exact snapshot built on
 * demand from the counters, the nodes' health and their pools' stats, and a publication of it (`changes`,
 * the gauges) every `statsInterval` (the shortest of the node pools'), when a node goes down or up, and
 * when lag is measured.
 */
import type * as Pool from "@dbpool/sql/Pool"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as MetricHook from "effect/MetricHook"
import * as MetricKey from "effect/MetricKey"
import type * as MetricKeyType from "effect/MetricKeyType"
import * as PubSub from "effect/PubSub"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type * as Cluster from "../Cluster.js"
import { ClusterConfigError } from "../ClusterError.js"
import type { ClusterEvent } from "../ClusterEvent.js"
import type { ClusterStats, NodeStats } from "../ClusterStats.js"
import type { RoutedNode } from "./routing.js"

export const names = {
  statements: "dbpool.cluster.statements",
  fallbacks: "dbpool.cluster.fallbacks",
  reroutes: "dbpool.cluster.reroutes",
  nodeUp: "dbpool.cluster.node.up",
  replicaLag: "dbpool.cluster.replica.lag"
} as const

/** The pools' own label, so that a node's cluster metrics and its pool's metrics join on it. */
export const poolNameAttribute = "db.client.connection.pool.name"
export const kindAttribute = "dbpool.cluster.statement.kind"

const descriptions = {
  statements: "Statements outside a transaction the cluster routed to the node, by kind (read or write)",
  fallbacks: "Reads the node (the primary) ran because no replica could take them",
  reroutes: "Reads the node could not start (no connection), run again on the next choice",
  nodeUp: "1 while the node is up, 0 while it is down",
  replicaLag: "The replica's last measured lag behind the primary (s)"
} as const

const hook = <T extends MetricKeyType.MetricKeyType<any, any>>(
  key: MetricKey.MetricKey<T>,
  node: string,
  kind?: "read" | "write"
) => {
  const tagged = MetricKey.tagged(key, poolNameAttribute, node)
  return Metric.globalMetricRegistry.get(kind === undefined ? tagged : MetricKey.tagged(tagged, kindAttribute, kind))
}

const counterKey = (name: string, description: string) => MetricKey.counter(name, { description, incremental: true })

/** One node's counts, updated by the routing as it sends statements (synchronously: no effect per count). */
export class NodeCounters {
  reads = 0
  writes = 0
  fallbacks = 0
  rerouted = 0
  readonly #reads: MetricHook.MetricHook<number, unknown>
  readonly #writes: MetricHook.MetricHook<number, unknown>
  readonly #fallbacks: MetricHook.MetricHook<number, unknown>
  readonly #reroutes: MetricHook.MetricHook<number, unknown>
  readonly up: MetricHook.MetricHook<number, unknown>
  readonly lag: MetricHook.MetricHook<number, unknown>

  constructor(node: string) {
    const statements = counterKey(names.statements, descriptions.statements)
    this.#reads = hook(statements, node, "read")
    this.#writes = hook(statements, node, "write")
    this.#fallbacks = hook(counterKey(names.fallbacks, descriptions.fallbacks), node)
    this.#reroutes = hook(counterKey(names.reroutes, descriptions.reroutes), node)
    this.up = hook(MetricKey.gauge(names.nodeUp, { description: descriptions.nodeUp }), node)
    this.lag = hook(MetricKey.gauge(names.replicaLag, { description: descriptions.replicaLag }), node)
  }

  /** A read sent to this node; `fallback` when it is the primary taking a read no replica could. */
  read(fallback: boolean): void {
    this.reads++
    this.#reads.update(1)
    if (fallback) {
      this.fallbacks++
      this.#fallbacks.update(1)
    }
  }

  write(): void {
    this.writes++
    this.#writes.update(1)
  }

  reroute(): void {
    this.rerouted++
    this.#reroutes.update(1)
  }
}

/**
 * Each node's pool must be named after the node: its metrics carry its pool's name, and two pools with
 * one name (the default `"default"`) would update the same series.
 */
export const checkPoolNames = (
  configs: ReadonlyArray<Cluster.NodeConfig<any, any>>,
  pools: ReadonlyArray<Pool.Pool<any>>
): Effect.Effect<void, ClusterConfigError> => {
  const index = configs.findIndex((config, i) => pools[i]!.config.name !== config.name)
  if (index < 0) return Effect.void
  const node = JSON.stringify(configs[index]!.name)
  const pool = JSON.stringify(pools[index]!.config.name)
  const message = `node ${configs[index]!.name}: its pool is named ${pool}; name it after the node ` +
    `(Pool.make(connector, { name: ${node} })) so that its statistics and metrics carry the node's name`
  return Effect.fail(new ClusterConfigError({ problem: "InvalidOption", message }))
}

export interface Stats {
  /** Exact, now. */
  readonly stats: Effect.Effect<ClusterStats>
  readonly changes: Stream.Stream<ClusterStats>
  /** Takes a snapshot, sets the gauges and publishes it to `changes` when it differs from the last. */
  readonly publish: Effect.Effect<void>
}

const nodeStats = (node: RoutedNode, role: Cluster.Role): Effect.Effect<NodeStats> =>
  Effect.map(node.pool.stats, (pool) => {
    const health = node.tracker.state()
    const counters = node.counters
    return {
      name: node.name,
      role,
      weight: node.weight,
      up: health.up,
      reason: health.reason,
      failures: health.failures,
      lagMillis: health.lagMillis,
      position: health.position,
      reads: counters.reads,
      writes: counters.writes,
      fallbacks: counters.fallbacks,
      rerouted: counters.rerouted,
      pool
    }
  })

const sum = (nodes: ReadonlyArray<NodeStats>, field: "reads" | "writes" | "fallbacks" | "rerouted") =>
  nodes.reduce((total, node) => total + node[field], 0)

/** Who is primary, and each node's role (with failover, the discovered one; with several writers, each writer's). */
export interface Roles {
  readonly primary: () => RoutedNode
  readonly of: (node: RoutedNode) => "primary" | "replica"
}

const snapshot = (nodes: ReadonlyArray<RoutedNode>, roles: Roles): Effect.Effect<ClusterStats> =>
  Effect.map(
    Effect.forEach(nodes, (node) => nodeStats(node, roles.of(node))),
    (stats) => ({
      primary: roles.primary().name,
      nodes: stats,
      reads: sum(stats, "reads"),
      writes: sum(stats, "writes"),
      fallbacks: sum(stats, "fallbacks"),
      rerouted: sum(stats, "rerouted"),
      nodesUp: stats.filter((node) => node.up).length
    })
  )

const setGauges = (nodes: ReadonlyArray<RoutedNode>, stats: ClusterStats): void => {
  stats.nodes.forEach((node, i) => {
    const counters = nodes[i]!.counters
    counters.up.update(node.up ? 1 : 0)
    if (node.lagMillis !== undefined) counters.lag.update(node.lagMillis / 1000)
  })
}

/** The publication, and the fibers (in `scope`) that run it on the interval and when a node goes down or up. */
export const make = (
  nodes: ReadonlyArray<RoutedNode>,
  roles: Roles,
  events: PubSub.PubSub<ClusterEvent>,
  scope: Scope.Scope
): Effect.Effect<Stats> =>
  Effect.gen(function*() {
    const take = snapshot(nodes, roles)
    const first = yield* take
    setGauges(nodes, first)
    const ref = yield* SubscriptionRef.make(first)
    let last = JSON.stringify(first)
    const publish = Effect.flatMap(take, (stats) => {
      setGauges(nodes, stats)
      const text = JSON.stringify(stats)
      if (text === last) return Effect.void
      last = text
      return SubscriptionRef.set(ref, stats)
    })
    // On a timer rather than on the pools' `changes`: subscribing to those makes a pool publish at once,
    // which would change when the cluster's own circuit watch sees a pool's breaker open.
    const interval = Math.min(...nodes.map((node) => Duration.toMillis(node.pool.config.statsInterval)))
    yield* Effect.forkIn(Effect.repeat(publish, Schedule.spaced(Duration.millis(interval))), scope)
    // subscribed now, not when the fiber starts: a NodeDown right after the cluster's start is not missed
    const downsAndUps = yield* Scope.extend(PubSub.subscribe(events), scope)
    yield* Effect.forkIn(Stream.runForEach(Stream.fromQueue(downsAndUps), () => publish), scope)
    return { stats: take, changes: ref.changes, publish }
  })
