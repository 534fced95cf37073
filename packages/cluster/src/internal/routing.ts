/**
 * Where a statement outside a transaction runs: on the primary, unless the fiber is in a read scope; then
 * on a usable replica chosen by the selector, or, when none is usable, on the primary (or a
 * `NoReplicaError`). A read that a replica's pool could not even start (no connection: it never reached the
 * server) runs again on another choice.
 */
import type * as Pool from "@dbpool/sql/Pool"
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import type { NodeHealth } from "../Cluster.js"
import { NoReplicaError } from "../ClusterError.js"
import type * as Replication from "../Replication.js"
import type * as Selector from "../Selector.js"
import type { Tracker } from "./health.js"
import { neverSent } from "./health.js"
import * as ReadScope from "./readScope.js"
import * as Session from "./session.js"
import type { NodeCounters } from "./stats.js"

export interface RoutedNode {
  readonly name: string
  readonly index: number
  readonly weight: number
  readonly pool: Pool.Pool<any>
  readonly tracker: Tracker
  readonly counters: NodeCounters
}

export interface Routing {
  readonly primary: RoutedNode
  readonly replicas: ReadonlyArray<RoutedNode>
  readonly pickers: ReadonlyMap<Selector.Selector, Selector.Picker>
  readonly selector: Selector.Selector
  readonly readFallback: "primary" | "fail"
  readonly replication: Replication.Replication | undefined
}

const runOn = <A, R>(node: RoutedNode, run: (pool: Pool.Pool<any>) => Effect.Effect<A, SqlError, R>) =>
  Effect.tapBoth(run(node.pool), { onFailure: node.tracker.failed, onSuccess: () => node.tracker.succeeded })

const candidate = (node: RoutedNode, busy: number): Selector.Candidate => ({
  name: node.name,
  index: node.index,
  weight: node.weight,
  busy
})

/** The candidates a selector sees: the pools' load only for `leastBusy` (a stats snapshot per node). */
const candidatesOf = (
  nodes: ReadonlyArray<RoutedNode>,
  withLoad: boolean
): Effect.Effect<ReadonlyArray<Selector.Candidate>> =>
  withLoad
    ? Effect.forEach(nodes, (node) =>
      Effect.map(node.pool.stats, (s) => candidate(node, s.activeConnections + s.waitingRequests)))
    : Effect.succeed(nodes.map((node) =>
      candidate(node, 0)
    ))

const skipReason = (health: NodeHealth): string =>
  health.up ? `${Math.round(health.lagMillis ?? 0)} ms behind the primary` : health.reason ?? "down"

/** The usable replicas not yet tried. */
const usableReplicas = (routing: Routing, tried: ReadonlySet<string> | undefined): Array<RoutedNode> => {
  const usable: Array<RoutedNode> = []
  for (const node of routing.replicas) {
    if ((tried === undefined || !tried.has(node.name)) && node.tracker.usable()) usable.push(node)
  }
  return usable
}

const noReplica = (routing: Routing, tried: ReadonlySet<string> | undefined) => {
  const skipped = routing.replicas.map((node) => ({
    node: node.name,
    reason: tried?.has(node.name) ? "failed this read" : skipReason(node.tracker.state())
  }))
  const error = new NoReplicaError({
    message: routing.replicas.length === 0 ? "the cluster has no replica" : "no replica is usable",
    skipped
  })
  return Effect.fail(new SqlError({ message: error.message, cause: error }))
}

const pick = (routing: Routing, selector: Selector.Selector, nodes: ReadonlyArray<RoutedNode>) => {
  if (nodes.length === 0) return Effect.succeed(routing.primary)
  if (nodes.length === 1) return Effect.succeed(nodes[0]!)
  return Effect.map(
    Effect.flatMap(candidatesOf(nodes, selector === "leastBusy"), routing.pickers.get(selector)!),
    (index) => nodes[index]!
  )
}

const chooseReplica = (
  routing: Routing,
  selector: Selector.Selector,
  tried: ReadonlySet<string> | undefined,
  session: Session.Session | undefined
): Effect.Effect<RoutedNode, SqlError> => {
  const usable = usableReplicas(routing, tried)
  if (usable.length === 0) {
    return routing.readFallback === "primary" ? Effect.succeed(routing.primary) : noReplica(routing, tried)
  }
  // in a read-your-writes session after a write, only where the write is visible; nowhere: the primary
  if (session === undefined || (!session.wrote && session.position === undefined)) {
    return pick(routing, selector, usable)
  }
  return Effect.flatMap(
    Session.visibleOn(session, usable, routing.primary, routing.replication),
    (visible) => pick(routing, selector, visible)
  )
}

const readOn = <A, R>(
  routing: Routing,
  selector: Selector.Selector,
  run: (pool: Pool.Pool<any>) => Effect.Effect<A, SqlError, R>,
  tried: ReadonlySet<string> | undefined,
  session: Session.Session | undefined
): Effect.Effect<A, SqlError, R> =>
  Effect.flatMap(
    chooseReplica(routing, selector, tried, session),
    (node) => {
      node.counters.read(node === routing.primary)
      return node === routing.primary ? runOn(node, run) : Effect.catchAll(runOn(node, run), (error) => {
        if (!neverSent(error)) return Effect.fail(error)
        node.counters.reroute()
        return readOn(routing, selector, run, new Set([...(tried ?? []), node.name]), session)
      })
    }
  )

export const route = (routing: Routing): Pool.Route => (run) =>
  Effect.withFiberRuntime((fiber) => {
    const scope = fiber.getFiberRef(ReadScope.current)
    const session = fiber.getFiberRef(Session.current)
    if (scope !== undefined) return readOn(routing, scope.selector ?? routing.selector, run, undefined, session)
    routing.primary.counters.write()
    const written = runOn(routing.primary, run)
    return session === undefined ? written : Effect.ensuring(written, Session.markWrite(session))
  })
