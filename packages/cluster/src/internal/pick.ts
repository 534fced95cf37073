/** Running on a node (its health counts the outcome) and picking one node among several by a selector. */
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import type * as Selector from "../Selector.js"
import type { RoutedNode } from "./routing.js"

export const isSqlError = (u: unknown): u is SqlError =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "SqlError"

/** Runs on the node, counting the outcome in its health. */
export const runOn = <A, E, R>(node: RoutedNode, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.tapBoth(effect, {
    onFailure: (error) => isSqlError(error) ? node.tracker.failed(error) : Effect.void,
    onSuccess: () => node.tracker.succeeded
  })

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

/** One of `nodes` (never empty) by the selector. */
export const pick = (
  pickers: ReadonlyMap<Selector.Selector, Selector.Picker>,
  selector: Selector.Selector,
  nodes: ReadonlyArray<RoutedNode>
): Effect.Effect<RoutedNode> => {
  if (nodes.length === 1) return Effect.succeed(nodes[0]!)
  return Effect.map(
    Effect.flatMap(candidatesOf(nodes, selector === "leastBusy"), pickers.get(selector)!),
    (index) => nodes[index]!
  )
}
