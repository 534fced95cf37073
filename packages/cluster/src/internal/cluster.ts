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
import { resolve, type Resolved } from "./config.js"
import { isNodeFailure, makeTracker, refusedReadWrite, watchCircuit } from "./health.js"
import { measure } from "./lag.js"
import { isSqlError } from "./pick.js"
import { route, type RoutedNode, type Routing } from "./routing.js"
import * as Session from "./session.js"
import * as Start from "./start.js"
import * as Stats from "./stats.js"
import { refusedStatement, write, writer } from "./write.js"
import * as Writers from "./writers.js"

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
    const publish = (event: ClusterEvent) => PubSub.publish(events, event)
    // with failover, a pool that cannot open is a node that is down, even the configured primary's
    const discovering = resolved.writers === undefined && options.replication?.isPrimary !== undefined
    const pools = yield* Effect.locally(
      Effect.forEach(configs, (config) => config.pool, { concurrency: "unbounded" }),
      Start.discovering,
      discovering
    )
    yield* Stats.checkPoolNames(configs, pools)
    const routed = routedNodes(configs, pools, resolved, options, publish, scope)
    yield* Effect.forEach(routed, (node) => Effect.forkIn(watchCircuit(node.pool, node.tracker), scope))
    const writers = yield* writersOf(routed, configs, resolved, options, publish, scope)
    yield* Effect.forkIn(writers.background, scope)
    const readers = readersOf(routed, configs, writers)
    const nodes = routed.map((node) => nodeView(node, configs, writers))
    const roles = { primary: writers.lastPrimary, of: (node: RoutedNode) => nodes[node.index]!.role }
    const stats = yield* Stats.make(routed, roles, events, scope)
    if (options.replication !== undefined && Number.isFinite(resolved.maxLag)) {
      const schedule = Schedule.tapInput(resolved.lagSchedule, () => stats.publish)
      yield* Effect.forkIn(measure(options.replication, writers.primary, readers, schedule), scope)
    }
    const routing = route({
      writers,
      readers,
      pickers: new Map(selectors.map((s) => [s, picker(s)])),
      // writes keep picking states of their own: reads between them do not skew their turns
      writePickers: new Map(selectors.map((s) => [s, picker(s)])),
      selector: resolved.selector,
      writeSelector: resolved.writers ?? "ordered",
      readFallback: resolved.readFallback,
      replication: options.replication,
      failoverTimeout: resolved.failoverTimeout
    })
    // with a primary to discover (or several writers), a transaction begins so that a node that takes no
    // writes refuses it before its effect starts; a fixed primary begins as a single pool does
    const begin = writers.mode === "fixed" ? undefined : options.replication?.beginWrite
    const sql = clientOf(routed, routing, begin)
    const current = () => writers.primary()
    return {
      nodes,
      get primary() {
        return nodes[writers.lastPrimary().index]!
      },
      currentPrimary: Effect.sync(() => {
        const primary = current()
        return primary === undefined ? undefined : nodes[primary.index]
      }),
      sql,
      events: Stream.fromPubSub(events),
      subscribe: PubSub.subscribe(events),
      health: Effect.sync(() => routed.map((node) => ({ name: node.name, ...node.tracker.state() }))),
      stats: stats.stats,
      changes: stats.changes
    }
  })

/** Each node with its pool and its health tracker. */
const routedNodes = (
  configs: ReadonlyArray<Cluster.NodeConfig<any, any>>,
  pools: ReadonlyArray<Pool.Pool<any>>,
  resolved: Resolved,
  options: Cluster.Options,
  publish: (event: ClusterEvent) => Effect.Effect<unknown>,
  scope: Scope.Scope
): Array<RoutedNode> => {
  // several writers: a writer's probe checks that it takes writes again, not merely that it answers
  const writerCheck = resolved.writers !== undefined ? options.replication?.isPrimary : undefined
  return configs.map((config, index) => ({
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
      publish,
      scope,
      check: config.role === "primary" && writerCheck !== undefined
        ? Effect.filterOrFail(writerCheck(pools[index]!.sql), (yes) => yes)
        : undefined
    })
  }))
}

/** A node as users see it: with failover, its role is the discovered one. */
const nodeView = (
  node: RoutedNode,
  configs: ReadonlyArray<Cluster.NodeConfig<any, any>>,
  writers: Writers.Writers
): Cluster.Node => ({
  name: node.name,
  get role(): Cluster.Role {
    if (writers.mode !== "discovered") return configs[node.index]!.role
    return writers.primary() === node ? "primary" : "replica"
  },
  weight: node.weight,
  pool: node.pool,
  health: Effect.sync(node.tracker.state)
})

/** Fixed, discovered (failover: `replication.isPrimary` and one primary) or several writers. */
const writersOf = (
  routed: ReadonlyArray<RoutedNode>,
  configs: ReadonlyArray<Cluster.NodeConfig<any, any>>,
  resolved: Resolved,
  options: Cluster.Options,
  publish: (event: ClusterEvent) => Effect.Effect<unknown>,
  scope: Scope.Scope
): Effect.Effect<Writers.Writers> => {
  const configured = routed.filter((node) => configs[node.index]!.role === "primary")
  if (resolved.writers !== undefined) return Effect.succeed(Writers.several(configured))
  const isPrimary = options.replication?.isPrimary
  if (isPrimary === undefined) return Effect.succeed(Writers.fixed(routed[resolved.primaryIndex]!))
  return Writers.discovered({
    nodes: routed,
    configured,
    replication: options.replication,
    discovery: resolved.discovery,
    publish,
    scope,
    isPrimary
  })
}

/** The nodes that take reads: with several writers, the replicas; else every node but the primary and the fenced. */
const readersOf = (
  routed: ReadonlyArray<RoutedNode>,
  configs: ReadonlyArray<Cluster.NodeConfig<any, any>>,
  writers: Writers.Writers
): () => ReadonlyArray<RoutedNode> => {
  if (writers.mode === "discovered") {
    return () => {
      const primary = writers.primary()
      return routed.filter((node) => node !== primary && !writers.fenced(node))
    }
  }
  const replicas = routed.filter((node) => configs[node.index]!.role === "replica")
  return () => replicas
}

/**
 * The routing client: statements go where `route` says; a transaction (and `reserve`) runs on a node that
 * takes writes, through that node's own routed client (every pool shares the transaction tag, so statements
 * inside join it). A transaction that failed before its effect started (no connection to lend, its
 * connection lost at BEGIN, or its `BEGIN READ WRITE` refused by a standby) runs again on the primary of the
 * moment; once its effect started, it is never run again.
 */
const clientOf = (
  routed: ReadonlyArray<RoutedNode>,
  routing: Pool.Route & { readonly routing: Routing },
  begin: string | undefined
) => {
  const clients = routed.map((node) => Pool.makeRoutedClient(node.pool, routing, { begin }))
  // its own client: the nodes' clients keep their own transactions, which this one's delegate to
  const sql = Pool.makeRoutedClient(routed[0]!.pool, routing)
  const withTransaction = <A, E2, R2>(effect: Effect.Effect<A, E2, R2>) => {
    let started = false
    const inner = Effect.suspend(() => {
      started = true
      return effect
    })
    const transaction = write(
      routing.routing,
      (node) =>
        Effect.suspend(() => {
          started = false
          return clients[node.index]!.withTransaction(inner)
        }),
      // before its effect started nothing of it ran but BEGIN: even a lost connection may run it again, and a
      // standby's refusal of `begin` says to run it on the primary
      (error) =>
        started || !isSqlError(error)
          ? undefined
          : refusedStatement(error) ??
            (isNodeFailure(error) || (begin !== undefined && refusedReadWrite(error)) ? error : undefined)
    )
    // a transaction may have written: a read-your-writes session's next read must see it
    return Effect.ensuring(transaction, Session.markCurrent)
  }
  const reserve = Effect.flatMap(
    writer(routing.routing, { tried: new Set(), since: undefined, last: undefined }),
    (node) => clients[node.index]!.reserve
  )
  return Object.assign(sql, { withTransaction, reserve })
}

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
