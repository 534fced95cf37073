/**
 * The alert rules as data, and their rendering as a Prometheus rules file: one description of each
 * condition, threshold and duration serves the rules file shipped in the package (checked to be exactly
 * this rendering of the defaults) and the in-process alerts.
 */
import * as Duration from "effect/Duration"
import type * as AlertRule from "../AlertRule.js"

const pool = "db_client_connection_pool_name"
// Per program instance and pool: the same pool name in two replicas is two pools.
const by = `job, instance, ${pool}`

/** A Prometheus duration: the largest whole unit (1h, 5m, 30s, 500ms). */
export const promDuration = (d: Duration.DurationInput): string => {
  const ms = Duration.toMillis(Duration.decode(d))
  if (ms === 0) return "0s"
  for (const [unit, size] of [["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`
  }
  return `${ms}ms`
}

/** The PromQL expression of a condition over the metrics as @opentelemetry/exporter-prometheus names them. */
export const expression = (condition: AlertRule.Condition): string => {
  switch (condition._tag) {
    case "Saturated":
      return `db_client_connection_pending_requests > ${condition.waiting}`
    case "AcquireTimeouts":
      return `increase(db_client_connection_timeouts_total[${promDuration(condition.window)}]) > 0`
    case "CircuitOpen":
      return "dbpool_circuit_open > 0"
    case "BelowMinimum":
      return `sum by (${by}) (db_client_connection_count) < on (${by}) db_client_connection_idle_min`
    case "Leaks":
      return `increase(dbpool_connection_leaks_total[${promDuration(condition.window)}]) > 0`
    case "SlowAcquire":
      return `histogram_quantile(${condition.quantile}, sum by (le, ${by}) ` +
        `(rate(db_client_connection_wait_time_bucket[${promDuration(condition.window)}]))) > ${condition.seconds}`
    case "NodeDown":
      return "dbpool_cluster_node_up == 0"
  }
}

/** Whether a condition measures seconds (the wait's quantile) or counts (the rest). */
const inSeconds = (condition: AlertRule.Condition): boolean => condition._tag === "SlowAcquire"

/** A measured value as the summary shows it: seconds to the millisecond, counts whole (increase() extrapolates). */
export const formatValue = (condition: AlertRule.Condition, value: number): string =>
  inSeconds(condition) ? value.toFixed(3) : String(Math.round(value))

/** What the alert says, with the pool's name and the measured value (formatted as `formatValue` does) filled in by Prometheus. */
const annotation = (rule: AlertRule.AlertRule): string =>
  rule.summary.replace("{pool}", `{{ $labels.${pool} }}`).replace(
    "{value}",
    inSeconds(rule.condition) ? `{{ $value | printf "%.3f" }}` : `{{ $value | printf "%.0f" }}`
  )

const quoted = (s: string): string => JSON.stringify(s)

export const toPrometheus = (
  rules: ReadonlyArray<AlertRule.AlertRule>,
  options?: { readonly group?: string | undefined }
): string => {
  const lines = [
    "# Alert rules for dbpool's connection pools, for Prometheus (rule_files). Generated from",
    "# AlertRule.defaults of @dbpool/observability: the in-process alerts use the same conditions.",
    "groups:",
    `  - name: ${quoted(options?.group ?? "dbpool")}`,
    "    rules:"
  ]
  for (const rule of rules) {
    lines.push(
      `      - alert: ${rule.name}`,
      `        expr: ${quoted(expression(rule.condition))}`,
      `        for: ${promDuration(rule.for)}`,
      "        labels:",
      `          severity: ${rule.severity}`,
      "        annotations:",
      `          summary: ${quoted(annotation(rule))}`
    )
  }
  return lines.join("\n") + "\n"
}
