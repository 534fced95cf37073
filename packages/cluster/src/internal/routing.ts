/**
 * Where a statement outside a transaction runs: on the primary, unless the fiber is in a read scope; then
 * on a usable replica chosen by the selector, or, when none is usable, on the primary (or a
 * `NoReplicaError`). A read that a replica's pool could not even start (no connection: it never reached the
 * server) runs again on another choice. Writes: see `write.ts`.
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
import { pick, runOn } from "./pick.js"
import * as ReadScope from "./readScope.js"
import * as Session from "./session.js"
import type { NodeCounters } from "./stats.js"
import { refusedStatement, write } from "./write.js"
import type { Writers } from "./writers.js"

export interface RoutedNode {
  readonly name: string
  readonly index: number
  readonly weight: number
  readonly pool: Pool.Pool<any>
  readonly tracker: Tracker
  readonly counters: NodeCounters
}

export interface Routing {
  readonly writers: Writers
  /** The nodes that may take reads now (not the primary, not a fenced node). */
  readonly readers: () => ReadonlyArray<RoutedNode>
  readonly pickers: ReadonlyMap<Selector.Selector, Selector.Picker>
  readonly writePickers: ReadonlyMap<Selector.Selector, Selector.Picker>
  readonly selector: Selector.Selector
  /** How writes pick among several writers. */
  readonly writeSelector: Selector.Selector
  readonly readFallback: "primary" | "fail"
  readonly replication: Replication.Replication | undefined
  /** Milliseconds a write waits for a primary. */
  readonly failoverTimeout: number
}

const skipReason = (health: NodeHealth): string =>
  health.up ? `${Math.round(health.lagMillis ?? 0)} ms behind the primary` : health.reason ?? "down"

/** The usable replicas not yet tried. */
const usableReplicas = (routing: Routing, tried: ReadonlySet<string> | undefined): Array<RoutedNode> => {
  const usable: Array<RoutedNode> = []
  for (const node of routing.readers()) {
    if ((tried === undefined || !tried.has(node.name)) && node.tracker.usable()) usable.push(node)
  }
  return usable
}

const noReplica = (routing: Routing, tried: ReadonlySet<string> | undefined) => {
  const readers = routing.readers()
  const skipped = readers.map((node) => ({
    node: node.name,
    reason: tried?.has(node.name) ? "failed this read" : skipReason(node.tracker.state())
  }))
  const none = routing.readFallback === "primary" ? " and there is no primary to fall back to" : ""
  const error = new NoReplicaError({
    message: (readers.length === 0 ? "the cluster has no replica" : "no replica is usable") + none,
    skipped
  })
  return Effect.fail(new SqlError({ message: error.message, cause: error }))
}

/** The primary a read falls back to, or a `NoReplicaError`. */
const fallback = (routing: Routing, tried: ReadonlySet<string> | undefined) => {
  const primary = routing.readFallback === "primary" ? routing.writers.primary() : undefined
  return primary === undefined ? noReplica(routing, tried) : Effect.succeed(primary)
}

const chooseReplica = (
  routing: Routing,
  selector: Selector.Selector,
  tried: ReadonlySet<string> | undefined,
  session: Session.Session | undefined
): Effect.Effect<RoutedNode, SqlError> => {
  const usable = usableReplicas(routing, tried)
  if (usable.length === 0) return fallback(routing, tried)
  // in a read-your-writes session after a write, only where the write is visible; nowhere: the primary
  if (session === undefined || (!session.wrote && session.position === undefined)) {
    return pick(routing.pickers, selector, usable)
  }
  const primary = routing.writers.primary()
  return Effect.flatMap(
    Session.visibleOn(session, usable, primary, routing.replication),
    (visible) =>
      visible.length > 0
        ? pick(routing.pickers, selector, visible)
        : primary === undefined
        ? noReplica(routing, tried)
        : Effect.succeed(primary)
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
      const onPrimary = node === routing.writers.primary()
      node.counters.read(onPrimary)
      return onPrimary ? runOn(node, run(node.pool)) : Effect.catchAll(runOn(node, run(node.pool)), (error) => {
        if (!neverSent(error)) return Effect.fail(error)
        node.counters.reroute()
        return readOn(routing, selector, run, new Set([...(tried ?? []), node.name]), session)
      })
    }
  )

export const route = (routing: Routing): Pool.Route & { readonly routing: Routing } =>
  Object.assign(routeWith(routing), { routing })

const routeWith = (routing: Routing): Pool.Route => (run) =>
  Effect.withFiberRuntime((fiber) => {
    const scope = fiber.getFiberRef(ReadScope.current)
    const session = fiber.getFiberRef(Session.current)
    if (scope !== undefined) return readOn(routing, scope.selector ?? routing.selector, run, undefined, session)
    const written = write(routing, (node) => {
      node.counters.write()
      return run(node.pool)
    }, refusedStatement)
    return session === undefined ? written : Effect.ensuring(written, Session.markWrite(session))
  })
