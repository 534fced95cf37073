import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import type * as Resource from "@effect/opentelemetry/Resource"
import type { MetricReader } from "@opentelemetry/sdk-metrics"
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Effect from "effect/Effect"
import type { LazyArg } from "effect/Function"
import * as Layer from "effect/Layer"
import type * as PoolTelemetry from "../PoolTelemetry.js"
import { makeProducer } from "./producer.js"
import { registerProducer } from "./register.js"

export const layerMetrics = (
  reader: LazyArg<MetricReader | NonEmptyReadonlyArray<MetricReader>>,
  options?: PoolTelemetry.MetricsOptions
): Layer.Layer<never, never, Resource.Resource> =>
  Layer.scopedDiscard(
    Effect.flatMap(
      makeProducer(options?.include ?? "pools"),
      (producer) => registerProducer(producer, reader, options?.shutdownTimeout)
    )
  )

const nonEmpty = <A>(value: A | ReadonlyArray<A> | undefined): value is A | NonEmptyReadonlyArray<A> =>
  value !== undefined && (!Array.isArray(value) || value.length > 0)

export const layer = (options: PoolTelemetry.Options): Layer.Layer<Resource.Resource> => {
  // Spans and the resource through @effect/opentelemetry's own SDK layer; metrics through our producer,
  // which gives them their units (NodeSdk's metricReader would export them with unit "1").
  const sdk = NodeSdk.layer(() => ({
    resource: options.resource,
    spanProcessor: options.spanProcessor,
    tracerConfig: options.tracerConfig,
    shutdownTimeout: options.shutdownTimeout
  }))
  const reader = options.metricReader
  if (!nonEmpty(reader)) return sdk
  return Layer.provideMerge(layerMetrics(() => reader, options), sdk)
}
