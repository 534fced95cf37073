import * as Pool from "@dbpool/sql/Pool"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Cluster from "../Cluster.js"
import type { ClusterConfigError } from "../ClusterError.js"
import type { ClusterEvent } from "../ClusterEvent.js"
import { all as selectors, picker } from "../Selector.js"
import { resolve } from "./config.js"
import { makeTracker, watchCircuit } from "./health.js"
import { measure } from "./lag.js"
import { route, type RoutedNode } from "./routing.js"
import * as Session from "./session.js"
import * as Stats from "./stats.js"

export const tag: Context.Tag<Cluster.Cluster, Cluster.Cluster> = Context.GenericTag<Cluster.Cluster>(
  "@dbpool/cluster/Cluster"
)

export const make = <E = never, R = never>(
  configs: ReadonlyArray<Cluster.NodeConfig<E, R>>,
  options: Cluster.Options = {}
): Effect.Effect<Cluster.Cluster, ClusterConfigError | E, R | Scope.Scope> =>
  Effect.gen(function*() {
    const resolved = yield* resolve(configs, options)
    const scope = yield* Effect.scope
    const events = yield* Effect.acquireRelease(PubSub.unbounded<ClusterEvent>(), PubSub.shutdown)
    const pools = yield* Effect.forEach(configs, (config) => config.pool, { concurrency: "unbounded" })
    yield* Stats.checkPoolNames(configs, pools)
    const routed: Array<RoutedNode> = configs.map((config, index) => ({
      name: config.name,
      index,
      weight: resolved.weights[index]!,
      pool: pools[index]!,
      counters: new Stats.NodeCounters(config.name),
      tracker: makeTracker({
        name: config.name,
        pool: pools[index]!,
        threshold: resolved.removeAfterFailures,
        maxLag: resolved.maxLag,
        probe: resolved.probe,
        publish: (event) => PubSub.publish(events, event),
        scope
      })
    }))
    yield* Effect.forEach(routed, (node) => Effect.forkIn(watchCircuit(node.pool, node.tracker), scope))
    const primary = routed[resolved.primaryIndex]!
    const replicas = routed.filter((node) => node !== primary)
    const stats = yield* Stats.make(routed, () => primary, events, scope)
    if (options.replication !== undefined && Number.isFinite(resolved.maxLag)) {
      const schedule = Schedule.tapInput(resolved.lagSchedule, () => stats.publish)
      yield* Effect.forkIn(measure(options.replication, primary, replicas, schedule), scope)
    }
    const sql = Pool.makeRoutedClient(
      primary.pool,
      route({
        primary,
        replicas,
        pickers: new Map(selectors.map((s) => [s, picker(s)])),
        selector: resolved.selector,
        readFallback: resolved.readFallback,
        replication: options.replication
      })
    )
    // a transaction may have written: a read-your-writes session's next read must see it
    const transaction = sql.withTransaction
    Object.assign(sql, {
      withTransaction: <A, E2, R2>(effect: Effect.Effect<A, E2, R2>) =>
        Effect.ensuring(transaction(effect), Session.markCurrent)
    })
    const nodes: ReadonlyArray<Cluster.Node> = routed.map((node) => ({
      name: node.name,
      role: node === primary ? "primary" : "replica",
      weight: node.weight,
      pool: node.pool,
      health: Effect.sync(node.tracker.state)
    }))
    return {
      nodes,
      primary: nodes[resolved.primaryIndex]!,
      sql,
      events: Stream.fromPubSub(events),
      subscribe: PubSub.subscribe(events),
      health: Effect.sync(() => routed.map((node) => ({ name: node.name, ...node.tracker.state() }))),
      stats: stats.stats,
      changes: stats.changes
    }
  })

export const layer = <E = never, R = never>(
  configs: ReadonlyArray<Cluster.NodeConfig<E, R>>,
  options?: Cluster.Options
): Layer.Layer<Cluster.Cluster | SqlClient.SqlClient, ClusterConfigError | E, Exclude<R, Scope.Scope>> =>
  Layer.scopedContext(
    Effect.map(
      make(configs, options),
      (cluster) => Context.make(tag, cluster).pipe(Context.add(SqlClient.SqlClient, cluster.sql))
    )
  )
