/**
 * In-process alerts, for programs without Prometheus: the rules of `AlertRule` (the same conditions,
 * thresholds and durations as the shipped Prometheus rules file) evaluated on a pool's statistics as they
 * change (`changes`) and every `interval`, raising `AlertRaised` and `AlertResolved` pool events.
 *
 * @since 0.1.0
 */
import type { PoolEvent } from "@dbpool/core/PoolEvent"
import type { ResourcePool } from "@dbpool/core/ResourcePool"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { AlertRule, AlertRuleError } from "./AlertRule.js"
import * as internal from "./internal/alerts.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The rules. Default: `AlertRule.defaults`. */
  readonly rules?: ReadonlyArray<AlertRule> | undefined
  /** How often the rules are evaluated besides each change of the statistics. Default: 1 second. */
  readonly interval?: Duration.DurationInput | undefined
  /** Called with each `AlertRaised` and `AlertResolved`, in order (its failures are logged). */
  readonly onAlert?:
    | ((event: Extract<PoolEvent, { readonly _tag: "AlertRaised" | "AlertResolved" }>) => Effect.Effect<void>)
    | undefined
}

/**
 * An alert being raised now.
 *
 * @since 0.1.0
 * @category models
 */
export interface ActiveAlert {
  readonly pool: string
  readonly alert: string
  readonly severity: "warning" | "critical"
  /** When it was raised (epoch milliseconds of the `Clock`). */
  readonly since: number
  /** What its condition measured at the last evaluation. */
  readonly value: number
}

/**
 * The alerts of one pool.
 *
 * @since 0.1.0
 * @category models
 */
export interface Alerts {
  /** `AlertRaised` and `AlertResolved`, from the moment of subscription. */
  readonly events: Stream.Stream<PoolEvent>
  /** The alerts raised and not yet resolved. */
  readonly active: Effect.Effect<ReadonlyArray<ActiveAlert>>
}

/**
 * The alerts of the pool `layer` watches.
 *
 * @since 0.1.0
 * @category tags
 */
export const Alerts: Context.Tag<Alerts, Alerts> = internal.tag

/**
 * Watches a pool until the scope closes (or the pool does). Fails with `AlertRuleError` if a rule is
 * invalid (see `AlertRule.validate`).
 *
 * @example
 * ```ts
 * import type { ResourcePool } from "@dbpool/core/ResourcePool"
 * import { Alerts } from "@dbpool/observability"
 * import { Effect } from "effect"
 *
 * declare const pool: ResourcePool<unknown>
 * const watched = Alerts.make(pool, {
 *   onAlert: (event) =>
 *     event._tag === "AlertRaised"
 *       ? Effect.logWarning(`${event.alert}: ${event.summary}`)
 *       : Effect.logInfo(`${event.alert} resolved after ${event.duration} ms`)
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: <A, E>(
  pool: ResourcePool<A, E>,
  options?: Options
) => Effect.Effect<Alerts, AlertRuleError, Scope.Scope> = internal.make

/**
 * The alerts of the pool of a tag (`Pool.Pool` of @dbpool/sql, or your own pool's tag) as a layer.
 *
 * @example
 * ```ts
 * import { Alerts } from "@dbpool/observability"
 * import { Pool } from "@dbpool/sql"
 * import { Effect, Stream } from "effect"
 *
 * const AlertsLive = Alerts.layer(Pool.Pool)
 * const log = Effect.gen(function*() {
 *   const alerts = yield* Alerts.Alerts
 *   yield* Stream.runForEach(alerts.events, (e) => Effect.log(e))
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: <I, S extends ResourcePool<any, any>>(
  pool: Context.Tag<I, S>,
  options?: Options
) => Layer.Layer<Alerts, AlertRuleError, I> = internal.layer

/**
 * The pool's events with its alerts among them: what `pool.events` would be if the pool raised them.
 *
 * @example
 * ```ts
 * import type { ResourcePool } from "@dbpool/core/ResourcePool"
 * import * as PoolEvent from "@dbpool/core/PoolEvent"
 * import { Alerts } from "@dbpool/observability"
 * import { Effect } from "effect"
 *
 * declare const pool: ResourcePool<unknown>
 * const watch = Effect.gen(function*() {
 *   const alerts = yield* Alerts.make(pool)
 *   yield* PoolEvent.observe(Alerts.withAlerts(pool, alerts), {
 *     onAlertRaised: (e) => Effect.logWarning(e.summary),
 *     onAcquireTimedOut: (e) => Effect.logWarning(`gave up after ${e.waitTime} ms`)
 *   })
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withAlerts: <A, E>(pool: ResourcePool<A, E>, alerts: Alerts) => Stream.Stream<PoolEvent> =
  internal.withAlerts
