import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import type * as Selector from "../Selector.js"

const roundRobin = (): Selector.Picker => {
  let turn = 0
  return (candidates) =>
    Effect.sync(() => {
      const index = turn % candidates.length
      turn = (turn + 1) % Number.MAX_SAFE_INTEGER
      return index
    })
}

const random = (): Selector.Picker => (candidates) => Random.nextIntBetween(0, candidates.length)

/** Fewest active + waiting; the first in the configured order among equals (a stable fallback order). */
const leastBusy = (): Selector.Picker => (candidates) =>
  Effect.sync(() => {
    let best = 0
    for (let i = 1; i < candidates.length; i++) {
      const c = candidates[i]!
      const b = candidates[best]!
      if (c.busy < b.busy || (c.busy === b.busy && c.index < b.index)) best = i
    }
    return best
  })

/**
 * Smooth weighted round robin: every pick adds each candidate's weight to its credit, the one with the most
 * credit wins and pays the total. Over any run of picks each node's share follows its weight, interleaved.
 * Credits are kept by name, so a node that leaves and comes back keeps its place.
 */
const weighted = (): Selector.Picker => {
  const credit = new Map<string, number>()
  return (candidates) =>
    Effect.sync(() => {
      let total = 0
      let best = 0
      for (let i = 0; i < candidates.length; i++) {
        const c = candidates[i]!
        total += c.weight
        credit.set(c.name, (credit.get(c.name) ?? 0) + c.weight)
        if (credit.get(c.name)! > credit.get(candidates[best]!.name)!) best = i
      }
      const name = candidates[best]!.name
      credit.set(name, credit.get(name)! - total)
      return best
    })
}

const ordered = (): Selector.Picker => (candidates) =>
  Effect.sync(() => {
    let best = 0
    for (let i = 1; i < candidates.length; i++) if (candidates[i]!.index < candidates[best]!.index) best = i
    return best
  })

export const picker = (selector: Selector.Selector): Selector.Picker => {
  switch (selector) {
    case "roundRobin":
      return roundRobin()
    case "random":
      return random()
    case "leastBusy":
      return leastBusy()
    case "weighted":
      return weighted()
    case "ordered":
      return ordered()
  }
}
