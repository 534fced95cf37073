/**
 * The pool's Effect metrics as an OpenTelemetry `MetricProducer`: @effect/opentelemetry's producer (it
 * reads Effect's global metric registry at each collection), narrowed to the pools' metrics and given the
 * units of the OpenTelemetry semantic conventions, which Effect metrics cannot carry (@effect/opentelemetry
 * takes a unit only from a `unit` tag, which would also become an attribute of every point).
 */
import * as Metrics from "@effect/opentelemetry/Metrics"
import type * as Resource from "@effect/opentelemetry/Resource"
import { DataPointType } from "@opentelemetry/sdk-metrics"
import type { CollectionResult, MetricData, MetricProducer } from "@opentelemetry/sdk-metrics"
import * as Effect from "effect/Effect"

/** The unit of each metric a pool records (UCUM, as the semantic conventions write them). */
export const units: Readonly<Record<string, string>> = {
  "db.client.connection.count": "{connection}",
  "db.client.connection.max": "{connection}",
  "db.client.connection.idle.min": "{connection}",
  "db.client.connection.pending_requests": "{request}",
  "db.client.connection.timeouts": "{timeout}",
  "db.client.connection.create_time": "s",
  "db.client.connection.wait_time": "s",
  "db.client.connection.use_time": "s",
  "dbpool.connection.leaks": "{lease}",
  "dbpool.circuit.open": "1",
  // @dbpool/cluster's, labelled with the node's name as its pool's are
  "dbpool.cluster.statements": "{statement}",
  "dbpool.cluster.fallbacks": "{statement}",
  "dbpool.cluster.reroutes": "{statement}",
  "dbpool.cluster.node.up": "1",
  "dbpool.cluster.replica.lag": "s",
  // adaptive sizing's target
  "dbpool.connection.target": "{connection}"
}

export type Include = "pools" | "all"

// By prefix, not by the table above: a metric a pool records later is exported before its unit is known here.
const isPoolMetric = (name: string): boolean => name.startsWith("db.client.connection.") || name.startsWith("dbpool.")

// Effect's histogram starts with min = Number.MAX_VALUE and max = Number.MIN_VALUE (no sample yet, or only
// zeros): exported as they are, a backend would show a wait of 1.8e308 seconds.
const cleanHistogram = (metric: MetricData): MetricData => {
  if (metric.dataPointType !== DataPointType.HISTOGRAM) return metric
  return {
    ...metric,
    dataPoints: metric.dataPoints.map((point) => {
      const { count, max, min, ...rest } = point.value
      if (count === 0) return { ...point, value: { ...rest, count } }
      const low = min ?? 0
      return { ...point, value: { ...rest, count, min: low, max: Math.max(low, max ?? 0) } }
    })
  } as MetricData
}

const rewrite = (include: Include) => (result: CollectionResult): CollectionResult => ({
  ...result,
  resourceMetrics: {
    ...result.resourceMetrics,
    scopeMetrics: result.resourceMetrics.scopeMetrics.map((scope) => ({
      ...scope,
      metrics: scope.metrics.flatMap((metric): Array<MetricData> => {
        const pool = isPoolMetric(metric.descriptor.name)
        if (!pool) return include === "all" ? [metric] : []
        const unit = units[metric.descriptor.name] ?? metric.descriptor.unit
        return [cleanHistogram({ ...metric, descriptor: { ...metric.descriptor, unit } } as MetricData)]
      })
    }))
  }
})

export const makeProducer = (include: Include = "pools"): Effect.Effect<MetricProducer, never, Resource.Resource> =>
  Effect.map(Metrics.makeProducer, (inner): MetricProducer => ({
    collect: (options) => inner.collect(options).then(rewrite(include))
  }))
