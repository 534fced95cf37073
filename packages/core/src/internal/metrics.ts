/**
 * Effect metrics named after the OpenTelemetry semantic conventions for
 * database client connection pools, tagged with the pool's name, so that
 * @effect/opentelemetry exports them with no extra code.
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import type { PoolStats } from "../PoolStats.js"

export const names = {
  count: "db.client.connection.count",
  max: "db.client.connection.max",
  idleMin: "db.client.connection.idle.min",
  pendingRequests: "db.client.connection.pending_requests",
  timeouts: "db.client.connection.timeouts",
  createTime: "db.client.connection.create_time",
  waitTime: "db.client.connection.wait_time",
  useTime: "db.client.connection.use_time"
} as const

export const poolNameAttribute = "db.client.connection.pool.name"
export const stateAttribute = "db.client.connection.state"

// Seconds, from 100 µs to about 52 s.
const timeBoundaries = MetricBoundaries.exponential({ start: 0.0001, factor: 2, count: 20 })

const count = Metric.gauge(names.count, {
  description: "Connections currently in the state described by the state attribute"
})
const max = Metric.gauge(names.max, { description: "The maximum number of open connections allowed" })
const idleMin = Metric.gauge(names.idleMin, { description: "The minimum number of idle open connections allowed" })
const pendingRequests = Metric.gauge(names.pendingRequests, {
  description: "The number of current pending requests for an open connection"
})
const timeouts = Metric.counter(names.timeouts, {
  description: "The number of connection timeouts that have occurred trying to obtain a connection from the pool",
  incremental: true
})
const createTime = Metric.histogram(names.createTime, timeBoundaries, "The time it took to create a new connection (s)")
const waitTime = Metric.histogram(
  names.waitTime,
  timeBoundaries,
  "The time it took to obtain an open connection from the pool (s)"
)
const useTime = Metric.histogram(
  names.useTime,
  timeBoundaries,
  "The time between borrowing a connection and returning it to the pool (s)"
)

/** The metrics of one pool, with its name attached, updated synchronously. */
export class PoolMetrics {
  readonly idle
  readonly used
  readonly max
  readonly idleMin
  readonly pendingRequests
  readonly timeouts
  readonly createTime
  readonly waitTime
  readonly useTime

  constructor(poolName: string) {
    const tag = <T, I, O>(m: Metric.Metric<T, I, O>) => Metric.tagged(m, poolNameAttribute, poolName)
    this.idle = Metric.tagged(tag(count), stateAttribute, "idle")
    this.used = Metric.tagged(tag(count), stateAttribute, "used")
    this.max = tag(max)
    this.idleMin = tag(idleMin)
    this.pendingRequests = tag(pendingRequests)
    this.timeouts = tag(timeouts)
    this.createTime = tag(createTime)
    this.waitTime = tag(waitTime)
    this.useTime = tag(useTime)
  }

  /** Gauges follow the published statistics (every `statsInterval`). */
  publish(stats: PoolStats): void {
    this.idle.unsafeUpdate(stats.idleConnections, [])
    this.used.unsafeUpdate(stats.activeConnections, [])
    this.max.unsafeUpdate(stats.maxConnections, [])
    this.idleMin.unsafeUpdate(stats.minConnections, [])
    this.pendingRequests.unsafeUpdate(stats.waitingRequests, [])
  }
}
