/** The fiber's read scope: set by `Cluster.read`, read by the cluster's routing when a statement runs. */
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import type * as Selector from "../Selector.js"

export interface ReadScope {
  /** The read's own selector, instead of the cluster's. */
  readonly selector: Selector.Selector | undefined
}

export const current: FiberRef.FiberRef<ReadScope | undefined> = FiberRef.unsafeMake<ReadScope | undefined>(undefined)

const anySelector: ReadScope = { selector: undefined }

/** A read inside a read keeps the outer one's selector (a `readWith` around a function that uses `read`). */
export const read = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.locallyWith(effect, current, (scope) => scope ?? anySelector)

export const readWith = (selector: Selector.Selector) => {
  const scope: ReadScope = { selector }
  return <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => Effect.locally(effect, current, scope)
}

export const write = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.locally(effect, current, undefined)
