/**
 * Where a statement outside a transaction runs: on the primary, unless the fiber is in a read scope; then
 * on a usable replica chosen by the selector, or, when none is usable, on the primary (or a
 * `NoReplicaError`). A read that a replica's pool could not even start (no connection: it never reached the
 * server) runs again on another choice.
 */
import type * as Pool from "@dbpool/sql/Pool"
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import type { NodeHealth } from "../Cluster.js"
import { NoReplicaError } from "../ClusterError.js"
import type * as Replication from "../Replication.js"
import type * as Selector from "../Selector.js"
import type { Tracker } from "./health.js"
import { neverSent } from "./health.js"
import * as ReadScope from "./readScope.js"
import * as Session from "./session.js"

export interface RoutedNode {
  readonly name: string
  readonly index: number
  readonly weight: number
  readonly pool: Pool.Pool<any>
  readonly tracker: Tracker
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

const candidateOf = (node: RoutedNode, withLoad: boolean): Effect.Effect<Selector.Candidate> =>
  withLoad
    ? Effect.map(node.pool.stats, (s) => ({
      name: node.name,
      index: node.index,
      weight: node.weight,
      busy: s.activeConnections + s.waitingRequests
    }))
    : Effect.succeed({ name: node.name, index: node.index, weight: node.weight, busy: 0 })

const skipReason = (health: NodeHealth): string =>
  health.up ? `${Math.round(health.lagMillis ?? 0)} ms behind the primary` : health.reason ?? "down"

/** The usable replicas not yet tried, or the reasons none is. */
const usableReplicas = (routing: Routing, tried: ReadonlySet<string>) =>
  Effect.gen(function*() {
    const usable: Array<RoutedNode> = []
    const skipped: Array<{ node: string; reason: string }> = []
    for (const node of routing.replicas) {
      if (tried.has(node.name)) skipped.push({ node: node.name, reason: "failed this read" })
      else if (yield* node.tracker.usable) usable.push(node)
      else skipped.push({ node: node.name, reason: skipReason(node.tracker.state()) })
    }
    return { usable, skipped }
  })

const chooseReplica = (routing: Routing, selector: Selector.Selector, tried: ReadonlySet<string>) =>
  Effect.gen(function*() {
    const { skipped, usable } = yield* usableReplicas(routing, tried)
    if (usable.length === 0) {
      if (routing.readFallback === "primary") return routing.primary
      const error = new NoReplicaError({
        message: routing.replicas.length === 0 ? "the cluster has no replica" : "no replica is usable",
        skipped
      })
      return yield* Effect.fail(new SqlError({ message: error.message, cause: error }))
    }
    // in a read-your-writes session, only where the session's writes are visible; nowhere: the primary
    const visible = yield* Session.visibleOn(usable, routing.primary, routing.replication)
    if (visible.length === 0) return routing.primary
    if (visible.length === 1) return visible[0]!
    const candidates = yield* Effect.forEach(visible, (node) => candidateOf(node, selector === "leastBusy"))
    return visible[yield* routing.pickers.get(selector)!(candidates)]!
  })

const readOn = <A, R>(
  routing: Routing,
  selector: Selector.Selector,
  run: (pool: Pool.Pool<any>) => Effect.Effect<A, SqlError, R>,
  tried: ReadonlySet<string>
): Effect.Effect<A, SqlError, R> =>
  Effect.flatMap(
    chooseReplica(routing, selector, tried),
    (node) =>
      node === routing.primary ? runOn(node, run) : Effect.catchAll(runOn(node, run), (error) =>
        neverSent(error)
          ? readOn(routing, selector, run, new Set([...tried, node.name]))
          : Effect.fail(error))
  )

export const route = (routing: Routing): Pool.Route => (run) =>
  Effect.flatMap(FiberRef.get(ReadScope.current), (scope) =>
    scope === undefined
      ? Effect.ensuring(runOn(routing.primary, run), Session.markWrite)
      : readOn(routing, scope.selector ?? routing.selector, run, new Set()))
