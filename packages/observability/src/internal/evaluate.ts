/**
 * One evaluation of the alert rules over a pool's samples: each condition measured as its PromQL
 * expression would measure it (instant values, `increase` over a window, `histogram_quantile` of the
 * `rate` of the wait's buckets), and each rule's inactive → pending → firing state advanced as
 * Prometheus advances it.
 */
import type { PoolStats } from "@dbpool/core/PoolStats"
import * as Duration from "effect/Duration"
import type * as AlertRule from "../AlertRule.js"

/** What the alerts read of a pool at one moment. */
export interface Sample {
  readonly time: number
  readonly stats: PoolStats
  /** `dbpool.connection.leaks` (the pool's counter). */
  readonly leaks: number
  /** `db.client.connection.wait_time`: cumulative bucket counts by upper bound, and the count. */
  readonly wait: { readonly buckets: ReadonlyArray<readonly [number, number]>; readonly count: number }
  /** `dbpool.cluster.node.up` (recorded by `@dbpool/cluster` for its nodes' pools); undefined: no cluster's node. */
  readonly nodeUp: number | undefined
}

const millis = (d: Duration.DurationInput): number => Duration.toMillis(Duration.decode(d))

/** The latest sample at least `window` old, else the oldest: the base of an increase over the window. */
const baseOf = (history: ReadonlyArray<Sample>, now: number, window: Duration.DurationInput): Sample => {
  const from = now - millis(window)
  let base = history[0]!
  for (const sample of history) {
    if (sample.time <= from) base = sample
    else break
  }
  return base
}

/**
 * The `q` quantile of the observations between two histograms, interpolated linearly inside its bucket
 * as `histogram_quantile` does; NaN when nothing was observed.
 */
export const quantile = (q: number, from: Sample["wait"], to: Sample["wait"]): number => {
  const total = to.count - from.count
  if (total <= 0) return NaN
  const rank = q * total
  let lower = 0
  let below = 0
  for (let i = 0; i < to.buckets.length; i++) {
    const [bound, cumulative] = to.buckets[i]!
    const count = cumulative - (from.buckets[i]?.[1] ?? 0)
    if (count >= rank) {
      if (bound === Infinity) return lower
      if (i === 0 && bound <= 0) return bound
      return lower + (bound - lower) * ((rank - below) / (count - below))
    }
    lower = bound
    below = count
  }
  return lower
}

/** What a condition measures now, and whether it holds. */
export const measure = (
  condition: AlertRule.Condition,
  history: ReadonlyArray<Sample>
): { readonly value: number; readonly holds: boolean } => {
  const now = history[history.length - 1]!
  const s = now.stats
  switch (condition._tag) {
    case "Saturated":
      return { value: s.waitingRequests, holds: s.waitingRequests > condition.waiting }
    case "AcquireTimeouts": {
      const value = s.timeouts - baseOf(history, now.time, condition.window).stats.timeouts
      return { value, holds: value > 0 }
    }
    case "CircuitOpen":
      return s.circuitState === "open" ? { value: 1, holds: true } : { value: 0, holds: false }
    case "BelowMinimum": {
      // The connections the count gauge shows (idle and used), as the Prometheus rule sums them.
      const value = s.idleConnections + s.activeConnections
      return { value, holds: value < s.minConnections }
    }
    case "Leaks": {
      const value = now.leaks - baseOf(history, now.time, condition.window).leaks
      return { value, holds: value > 0 }
    }
    case "SlowAcquire": {
      const value = quantile(condition.quantile, baseOf(history, now.time, condition.window).wait, now.wait)
      return { value, holds: value > condition.seconds }
    }
    case "NodeDown":
      // as `dbpool_cluster_node_up == 0`: a pool with no such gauge has no series, so never holds
      return { value: now.nodeUp ?? 1, holds: now.nodeUp === 0 }
  }
}

/** The longest window of the rules: older samples are no longer needed (but one, the base). */
export const longestWindow = (rules: ReadonlyArray<AlertRule.AlertRule>): number =>
  rules.reduce(
    (longest, rule) => "window" in rule.condition ? Math.max(longest, millis(rule.condition.window)) : longest,
    0
  )

/** Drops the samples older than the base of the longest window. */
export const prune = (history: Array<Sample>, now: number, window: number): void => {
  let keep = 0
  while (keep + 1 < history.length && history[keep + 1]!.time <= now - window) keep++
  if (keep > 0) history.splice(0, keep)
}

export type RuleState =
  | { readonly phase: "inactive" }
  | { readonly phase: "pending"; readonly since: number }
  | { readonly phase: "firing"; readonly since: number; readonly firedAt: number; readonly value: number }

export type Transition =
  | { readonly _tag: "raised"; readonly value: number }
  | { readonly _tag: "resolved"; readonly duration: number }

/** Advances one rule's state; returns the new state and what to announce, if anything. */
export const step = (
  rule: AlertRule.AlertRule,
  state: RuleState,
  measured: { readonly value: number; readonly holds: boolean },
  now: number
): readonly [RuleState, Transition | undefined] => {
  if (!measured.holds) {
    return state.phase === "firing"
      ? [{ phase: "inactive" }, { _tag: "resolved", duration: now - state.firedAt }]
      : [{ phase: "inactive" }, undefined]
  }
  if (state.phase === "firing") return [{ ...state, value: measured.value }, undefined]
  const since = state.phase === "pending" ? state.since : now
  if (now - since >= millis(rule.for)) {
    return [{ phase: "firing", since, firedAt: now, value: measured.value }, { _tag: "raised", value: measured.value }]
  }
  return [{ phase: "pending", since }, undefined]
}
