/**
 * Alert rules for pools, as data: a condition on a pool's statistics and metrics, how long it must hold
 * before the alert is raised, and a severity. The same rules drive the in-process alerts (`Alerts`) and
 * render as a Prometheus rules file (`toPrometheus`); `defaults` is what the package's
 * `prometheus/dbpool.rules.yml` holds.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as internal from "./internal/rules.js"

/**
 * What an alert watches. Windows are those of Prometheus' `increase` and `rate`.
 *
 * - `Saturated`: more than `waiting` callers wait for a connection
 * - `AcquireTimeouts`: a caller gave up after `acquireTimeout` within the last `window`
 * - `CircuitOpen`: the circuit breaker is open (the database cannot be reached; callers fail fast)
 * - `BelowMinimum`: fewer connections idle or in use than `minConnections`
 * - `Leaks`: a lease was held longer than `leakDetectionThreshold` within the last `window`
 * - `SlowAcquire`: the `quantile` of the wait for a connection over the last `window` is above `seconds`
 * - `NodeDown`: the pool is a node of a `@dbpool/cluster` cluster, and the cluster holds the node down
 *   (`dbpool.cluster.node.up` is 0); a pool of no cluster never has it
 *
 * @since 0.1.0
 * @category models
 */
export type Condition = Data.TaggedEnum<{
  Saturated: { readonly waiting: number }
  AcquireTimeouts: { readonly window: Duration.DurationInput }
  CircuitOpen: {}
  BelowMinimum: {}
  Leaks: { readonly window: Duration.DurationInput }
  SlowAcquire: { readonly quantile: number; readonly seconds: number; readonly window: Duration.DurationInput }
  NodeDown: {}
}>

/**
 * Constructors of conditions.
 *
 * @example
 * ```ts
 * import { AlertRule } from "@dbpool/observability"
 *
 * const p95Above250ms = AlertRule.Condition.SlowAcquire({ quantile: 0.95, seconds: 0.25, window: "5 minutes" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const Condition = Data.taggedEnum<Condition>()

/**
 * One alert rule.
 *
 * @since 0.1.0
 * @category models
 */
export interface AlertRule {
  /** The alert's name (Prometheus' `alert`), e.g. `"DbPoolSaturated"`. */
  readonly name: string
  readonly condition: Condition
  /** How long the condition must hold before the alert is raised (Prometheus' `for`); 0 raises at once. */
  readonly for: Duration.DurationInput
  readonly severity: "warning" | "critical"
  /**
   * What the alert says; `{pool}` and `{value}` are replaced by the pool's name and the measured value
   * (seconds to the millisecond for `SlowAcquire`, a whole number otherwise).
   */
  readonly summary: string
}

/**
 * The rules of `prometheus/dbpool.rules.yml`:
 *
 * | alert | condition | for | severity |
 * | --- | --- | --- | --- |
 * | DbPoolSaturated | callers waiting (> 0) | 1 minute | warning |
 * | DbPoolAcquireTimeouts | a timeout in the last 5 minutes | 0 | critical |
 * | DbPoolCircuitOpen | circuit breaker open | 0 | critical |
 * | DbPoolBelowMinimum | fewer open than minConnections | 5 minutes | warning |
 * | DbPoolLeak | a leak detected in the last 15 minutes | 0 | warning |
 * | DbPoolSlowAcquire | p99 of the wait above 1 s over 5 minutes | 5 minutes | warning |
 * | DbPoolClusterNodeDown | a cluster's node held down | 1 minute | warning |
 *
 * @example
 * ```ts
 * import { AlertRule } from "@dbpool/observability"
 *
 * // Stricter saturation, the rest as shipped.
 * const rules = AlertRule.defaults.map((rule) => rule.name === "DbPoolSaturated" ? { ...rule, for: "15 seconds" } : rule)
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults: ReadonlyArray<AlertRule> = [
  {
    name: "DbPoolSaturated",
    condition: Condition.Saturated({ waiting: 0 }),
    for: "1 minute",
    severity: "warning",
    summary: "Pool {pool}: callers waiting for a connection for over a minute ({value} now)"
  },
  {
    name: "DbPoolAcquireTimeouts",
    condition: Condition.AcquireTimeouts({ window: "5 minutes" }),
    for: 0,
    severity: "critical",
    summary: "Pool {pool}: acquisitions timed out (acquireTimeout) in the last 5 minutes: {value}"
  },
  {
    name: "DbPoolCircuitOpen",
    condition: Condition.CircuitOpen(),
    for: 0,
    severity: "critical",
    summary: "Pool {pool}: circuit breaker open, the database cannot be reached"
  },
  {
    name: "DbPoolBelowMinimum",
    condition: Condition.BelowMinimum(),
    for: "5 minutes",
    severity: "warning",
    summary: "Pool {pool}: {value} connections open, fewer than minConnections, for 5 minutes"
  },
  {
    name: "DbPoolLeak",
    condition: Condition.Leaks({ window: "15 minutes" }),
    for: 0,
    severity: "warning",
    summary: "Pool {pool}: leases held longer than leakDetectionThreshold in the last 15 minutes: {value}"
  },
  {
    name: "DbPoolSlowAcquire",
    condition: Condition.SlowAcquire({ quantile: 0.99, seconds: 1, window: "5 minutes" }),
    for: "5 minutes",
    severity: "warning",
    summary: "Pool {pool}: p99 wait for a connection {value} s over 5 minutes"
  },
  {
    name: "DbPoolClusterNodeDown",
    condition: Condition.NodeDown(),
    for: "1 minute",
    severity: "warning",
    summary: "Cluster node {pool}: down (failures in a row, or its circuit open) for over a minute"
  }
]

/**
 * The PromQL expression of a condition (metric names as @opentelemetry/exporter-prometheus writes them).
 *
 * @example
 * ```ts
 * import { AlertRule } from "@dbpool/observability"
 *
 * AlertRule.expression(AlertRule.Condition.Saturated({ waiting: 0 }))
 * // "db_client_connection_pending_requests > 0"
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const expression: (condition: Condition) => string = internal.expression

/**
 * Renders rules as a Prometheus rules file (YAML, one group), e.g. your own thresholds.
 *
 * @example
 * ```ts
 * import { AlertRule } from "@dbpool/observability"
 * import * as fs from "node:fs"
 *
 * fs.writeFileSync("dbpool.rules.yml", AlertRule.toPrometheus(AlertRule.defaults, { group: "orders-db" }))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const toPrometheus: (
  rules: ReadonlyArray<AlertRule>,
  options?: { readonly group?: string | undefined }
) => string = internal.toPrometheus

/**
 * A rule that cannot be evaluated: `rule` names it (or its position), `field` the bad field.
 *
 * @example
 * ```ts
 * import { AlertRule } from "@dbpool/observability"
 * import { Effect } from "effect"
 *
 * const checked = AlertRule.validate(AlertRule.defaults).pipe(
 *   Effect.catchTag("AlertRuleError", (e) => Effect.dieMessage(e.message))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class AlertRuleError extends Data.TaggedError("AlertRuleError")<{
  readonly rule: string
  readonly field: string
  readonly reason: string
}> {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `alert rule ${this.rule}: ${this.field} ${this.reason}`
  }
}

const alertName = /^[A-Za-z_][A-Za-z0-9_]*$/

/** The problem with a duration, if any (`Duration.decode` throws on what it cannot read). */
const badDuration = (input: Duration.DurationInput, positive: boolean): string | undefined => {
  let millis: number
  try {
    millis = Duration.toMillis(Duration.decode(input))
  } catch {
    return `is not a duration: ${String(input)}`
  }
  if (!Number.isFinite(millis)) return "must be finite"
  // (Effect's durations are never negative: a negative input reads as 0.)
  if (positive && millis <= 0) return "must be more than 0"
  return undefined
}

/** The first problem of one rule, as [field, reason]. */
const problemOf = (rule: AlertRule): readonly [string, string] | undefined => {
  if (!alertName.test(rule.name)) return ["name", "must be a Prometheus alert name (letters, digits, _)"]
  if (rule.severity !== "warning" && rule.severity !== "critical") return ["severity", "must be warning or critical"]
  const forProblem = badDuration(rule.for, false)
  if (forProblem !== undefined) return ["for", forProblem]
  const c = rule.condition
  if (c._tag === "Saturated" && !(Number.isInteger(c.waiting) && c.waiting >= 0)) {
    return ["condition.waiting", "must be a whole number, 0 or more"]
  }
  if (c._tag === "SlowAcquire" && !(c.quantile >= 0 && c.quantile <= 1)) {
    return ["condition.quantile", "must be within 0 and 1"]
  }
  if (c._tag === "SlowAcquire" && !(c.seconds >= 0 && Number.isFinite(c.seconds))) {
    return ["condition.seconds", "must be a finite number, 0 or more"]
  }
  if ("window" in c) {
    const windowProblem = badDuration(c.window, true)
    if (windowProblem !== undefined) return ["condition.window", windowProblem]
  }
  return undefined
}

/**
 * Checks rules before they are used (`Alerts.make` does): names usable in Prometheus and unique,
 * durations readable and finite, windows above 0, a quantile within 0 and 1, counts whole.
 *
 * @example
 * ```ts
 * import { AlertRule } from "@dbpool/observability"
 *
 * const rules = AlertRule.validate([{ ...AlertRule.defaults[0]!, name: "saturated pool" }]) // fails: name
 * ```
 *
 * @since 0.1.0
 * @category validation
 */
export const validate = (rules: ReadonlyArray<AlertRule>): Effect.Effect<ReadonlyArray<AlertRule>, AlertRuleError> =>
  Effect.suspend(() => {
    const seen = new Set<string>()
    for (const [i, rule] of rules.entries()) {
      const label = typeof rule.name === "string" && rule.name !== "" ? rule.name : `#${i + 1}`
      const problem = problemOf(rule)
      if (problem !== undefined) {
        return Effect.fail(new AlertRuleError({ rule: label, field: problem[0], reason: problem[1] }))
      }
      if (seen.has(rule.name)) {
        return Effect.fail(new AlertRuleError({ rule: label, field: "name", reason: "is used twice" }))
      }
      seen.add(rule.name)
    }
    return Effect.succeed(rules)
  })
