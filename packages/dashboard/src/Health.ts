/**
 * Health as Kubernetes probes read it, for the dashboard's `/health/live` and
 * `/health/ready` and for programs that serve their own: a pool is ready when
 * its circuit breaker is closed and it hands out a connection within a short
 * bound.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as DurationM from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as internal from "./internal/health.js"
import type { PoolSource } from "./internal/source.js"

/**
 * One pool's verdict; `reason` says why it is not ready.
 *
 * @example
 * ```ts
 * import type * as Health from "@dbpool/dashboard/Health"
 *
 * const down: Health.PoolHealth = { name: "primary", ready: false, reason: "circuit breaker open" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface PoolHealth extends internal.PoolHealth {}

/**
 * Every pool's verdict: `"ready"` only if each pool is; otherwise `reason` is
 * the first failing pool's. `/health/ready` answers it as JSON, with status
 * 200 or 503.
 *
 * @example
 * ```ts
 * import type * as Health from "@dbpool/dashboard/Health"
 *
 * const status = (r: Health.Readiness) => (r.status === "ready" ? 200 : 503)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Readiness extends internal.Readiness {}

/**
 * Checks every pool at once: no pool's circuit open, and a connection from
 * each within `timeout` (taken and given back at once, so the probe counts as
 * an acquisition in the pool's statistics).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Health from "@dbpool/dashboard/Health"
 * import type { ResourcePool } from "@dbpool/core/ResourcePool"
 *
 * declare const pool: ResourcePool<string, Error>
 * const ready = Effect.map(Health.readiness([pool], "1 second"), (r) => r.status === "ready")
 * ```
 *
 * @since 0.1.0
 * @category checks
 */
export const readiness = (
  pools: ReadonlyArray<PoolSource>,
  timeout: Duration.DurationInput
): Effect.Effect<Readiness> => internal.readiness(pools, DurationM.decode(timeout))
