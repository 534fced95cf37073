import type { MetricProducer, MetricReader } from "@opentelemetry/sdk-metrics"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { LazyArg } from "effect/Function"
import type * as Scope from "effect/Scope"

/**
 * Binds `producer` to each reader for the scope's life, and shuts the readers down (bounded) when it
 * closes. @effect/opentelemetry's `registerProducer` does the same but takes no shutdown bound.
 *
 * A reader is typed by its shape: @opentelemetry/exporter-prometheus pins an exact @opentelemetry/sdk-metrics
 * version of its own, and a `MetricReader` class from one copy is not assignable to the other's (private
 * fields), though both behave the same.
 */
export const registerProducer = (
  producer: MetricProducer,
  reader: LazyArg<Pick<MetricReader, "setMetricProducer" | "shutdown"> | NonEmptyReadonlyArray<MetricReader>>,
  shutdownTimeout: Duration.DurationInput = "3 seconds"
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.asVoid(Effect.acquireRelease(
    Effect.sync(() => {
      const given = reader()
      const readers = Array.isArray(given) ? given as ReadonlyArray<MetricReader> : [given as MetricReader]
      for (const r of readers) r.setMetricProducer(producer)
      return readers
    }),
    (readers) =>
      Effect.promise(() => Promise.all(readers.map((r) => r.shutdown()))).pipe(
        Effect.ignoreLogged,
        Effect.interruptible,
        Effect.timeoutOption(shutdownTimeout)
      )
  ))
