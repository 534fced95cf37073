/**
 * How the cluster picks one node among the usable ones for a read:
 * - `roundRobin`: each in turn;
 * - `random`: uniformly at random (Effect's `Random`, so a test can seed it);
 * - `leastBusy`: the node whose pool has the fewest active connections plus waiting requests (ties: the
 *   first in the configured order);
 * - `weighted`: in proportion to each node's `weight`, spread smoothly (weights 3 and 1 give a a b a, not
 *   a a a b);
 * - `ordered`: the first usable node in the configured order; the rest are its fallbacks.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as internal from "./internal/selector.js"

/**
 * A node as a selector sees it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Candidate {
  readonly name: string
  /** Its place in the configured node list. */
  readonly index: number
  readonly weight: number
  /** Active connections plus waiting requests of its pool. */
  readonly busy: number
}

/**
 * A way to pick a node. A cluster keeps one picking state per selector kind (the round robin's turn,
 * the weighted spread's credits).
 *
 * @since 0.1.0
 * @category models
 */
export type Selector = "roundRobin" | "random" | "leastBusy" | "weighted" | "ordered"

/**
 * Every selector, in the order documented.
 *
 * @since 0.1.0
 * @category constants
 */
export const all: ReadonlyArray<Selector> = ["roundRobin", "random", "leastBusy", "weighted", "ordered"]

/**
 * A picker: given the usable candidates (never empty), the index of the chosen one in that array.
 *
 * @since 0.1.0
 * @category models
 */
export type Picker = (candidates: ReadonlyArray<Candidate>) => Effect.Effect<number>

/**
 * A new picker for a selector, with its own state.
 *
 * @example
 * ```ts
 * import { Selector } from "@dbpool/cluster"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const pick = Selector.picker("weighted")
 *   const nodes = [
 *     { name: "a", index: 0, weight: 3, busy: 0 },
 *     { name: "b", index: 1, weight: 1, busy: 0 }
 *   ]
 *   const picked = []
 *   for (let i = 0; i < 4; i++) picked.push(nodes[yield* pick(nodes)]!.name) // a, a, b, a
 *   return picked
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const picker: (selector: Selector) => Picker = internal.picker
