/**
 * The errors of the Prometheus exporter.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * The standalone endpoint (`Prometheus.layerServer`) could not listen: the port is taken, or the host is
 * not one of this machine's addresses.
 *
 * @example
 * ```ts
 * import { Prometheus } from "@dbpool/observability"
 * import { Effect, Layer } from "effect"
 *
 * const served = Layer.launch(Prometheus.layerServer({ port: 9464 })).pipe(
 *   Effect.catchTag("PrometheusServerError", (e) => Effect.logError(e.message))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class PrometheusServerError extends Data.TaggedError("PrometheusServerError")<{
  readonly host: string
  readonly port: number
  /** The listening socket's error. */
  readonly cause: unknown
}> {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const reason = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `the Prometheus endpoint could not listen on ${this.host}:${this.port}: ${reason}`
  }
}
