/**
 * Effect metrics named after the OpenTelemetry semantic conventions for
 * database client connection pools, tagged with the pool's name, so that
 * @effect/opentelemetry exports them with no extra code.
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import type * as MetricHook from "effect/MetricHook"
import * as MetricKey from "effect/MetricKey"
import type * as MetricKeyType from "effect/MetricKeyType"
import type { PoolStats } from "../PoolStats.js"

export const names = {
  count: "db.client.connection.count",
  max: "db.client.connection.max",
  idleMin: "db.client.connection.idle.min",
  pendingRequests: "db.client.connection.pending_requests",
  timeouts: "db.client.connection.timeouts",
  leaks: "dbpool.connection.leaks",
  circuitOpen: "dbpool.circuit.open",
  target: "dbpool.connection.target",
  createTime: "db.client.connection.create_time",
  waitTime: "db.client.connection.wait_time",
  useTime: "db.client.connection.use_time"
} as const

export const poolNameAttribute = "db.client.connection.pool.name"
export const stateAttribute = "db.client.connection.state"

// Seconds: 19 bounds doubling from 100 µs to 26.2 s, and +Inf (20 buckets).
const timeBoundaries = MetricBoundaries.exponential({ start: 0.0001, factor: 2, count: 20 })

const descriptions = {
  count: "Connections currently in the state described by the state attribute",
  max: "The maximum number of open connections allowed",
  idleMin: "The minimum number of idle open connections allowed",
  pendingRequests: "The number of current pending requests for an open connection",
  timeouts: "The number of connection timeouts that have occurred trying to obtain a connection from the pool",
  leaks: "Leases held longer than leakDetectionThreshold (each counted once)",
  circuitOpen: "1 while the circuit breaker is open (failing fast, probing), 0 while it is closed",
  target: "Connections the adaptive sizing controller keeps open (its target), set at each move",
  createTime: "The time it took to create a new connection (s)",
  waitTime: "The time it took to obtain an open connection from the pool (s)",
  useTime: "The time between borrowing a connection and returning it to the pool (s)"
} as const

const count = Metric.gauge(names.count, { description: descriptions.count })
const max = Metric.gauge(names.max, { description: descriptions.max })
const idleMin = Metric.gauge(names.idleMin, { description: descriptions.idleMin })
const pendingRequests = Metric.gauge(names.pendingRequests, { description: descriptions.pendingRequests })
const circuitOpen = Metric.gauge(names.circuitOpen, { description: descriptions.circuitOpen })
const target = Metric.gauge(names.target, { description: descriptions.target })

/**
 * The metrics of one pool, with its name attached. Those updated on every
 * acquisition hold their registry hook directly: going through a tagged
 * `Metric` looks the hook up again at each update, which cost about a
 * microsecond, a sizeable share of an acquisition.
 */
export class PoolMetrics {
  readonly idle
  readonly used
  readonly max
  readonly idleMin
  readonly pendingRequests
  readonly circuitOpen
  /** Updated by the adaptive sizing controller only, as it moves the target. */
  readonly target
  readonly timeouts: MetricHook.MetricHook<number, unknown>
  readonly leaks: MetricHook.MetricHook<number, unknown>
  readonly createTime: MetricHook.MetricHook<number, unknown>
  readonly waitTime: MetricHook.MetricHook<number, unknown>
  readonly useTime: MetricHook.MetricHook<number, unknown>

  constructor(poolName: string) {
    const tag = <T, I, O>(m: Metric.Metric<T, I, O>) => Metric.tagged(m, poolNameAttribute, poolName)
    const hook = <T extends MetricKeyType.MetricKeyType<any, any>>(key: MetricKey.MetricKey<T>) =>
      Metric.globalMetricRegistry.get(MetricKey.tagged(key, poolNameAttribute, poolName))
    this.idle = Metric.tagged(tag(count), stateAttribute, "idle")
    this.used = Metric.tagged(tag(count), stateAttribute, "used")
    this.max = tag(max)
    this.idleMin = tag(idleMin)
    this.pendingRequests = tag(pendingRequests)
    this.circuitOpen = tag(circuitOpen)
    this.target = tag(target)
    this.timeouts = hook(MetricKey.counter(names.timeouts, { description: descriptions.timeouts, incremental: true }))
    this.leaks = hook(MetricKey.counter(names.leaks, { description: descriptions.leaks, incremental: true }))
    this.createTime = hook(MetricKey.histogram(names.createTime, timeBoundaries, descriptions.createTime))
    this.waitTime = hook(MetricKey.histogram(names.waitTime, timeBoundaries, descriptions.waitTime))
    this.useTime = hook(MetricKey.histogram(names.useTime, timeBoundaries, descriptions.useTime))
  }

  /** Gauges follow the published statistics (every `statsInterval`). */
  publish(stats: PoolStats): void {
    this.idle.unsafeUpdate(stats.idleConnections, [])
    this.used.unsafeUpdate(stats.activeConnections, [])
    this.max.unsafeUpdate(stats.maxConnections, [])
    this.idleMin.unsafeUpdate(stats.minConnections, [])
    this.pendingRequests.unsafeUpdate(stats.waitingRequests, [])
    this.circuitOpen.unsafeUpdate(stats.circuitState === "open" ? 1 : 0, [])
  }
}
