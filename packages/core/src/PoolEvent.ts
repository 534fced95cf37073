/**
 * What happens in a pool, as a stream of events (`pool.events`). Events cost
 * nothing while nobody subscribes.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { CloseReason } from "./PoolStats.js"

/**
 * @since 0.1.0
 * @category models
 */
export type PoolEvent = Data.TaggedEnum<{
  /** A connection was opened; `createTime` in milliseconds includes retries. */
  ConnectionCreated: { readonly connectionId: string; readonly createTime: number; readonly attempts: number }
  /** A connection was closed. */
  ConnectionClosed: { readonly connectionId: string; readonly reason: CloseReason }
  /** A caller got a connection after waiting `waitTime` milliseconds. */
  ConnectionAcquired: { readonly connectionId: string; readonly waitTime: number }
  /** A caller gave a connection back after using it `useTime` milliseconds. */
  ConnectionReleased: { readonly connectionId: string; readonly useTime: number }
  /** A health check of an idle connection (or of one about to be lent) started. */
  HealthCheckStarted: { readonly connectionId: string }
  /** A health check ended; an unhealthy connection is closed. */
  HealthCheckCompleted: { readonly connectionId: string; readonly healthy: boolean; readonly duration: number }
  /** A caller waited `acquireTimeout` and gave up. */
  AcquireTimedOut: { readonly waitTime: number }
  /** A lease has been held longer than `leakDetectionThreshold` (reported once per lease). */
  LeakDetected: { readonly connectionId: string; readonly heldTime: number }
  /** One attempt to open a connection failed (`cause` is the driver's error, or "timeout"). */
  ConnectFailed: { readonly attempt: number; readonly cause: unknown }
  /**
   * The circuit breaker opened after `failures` consecutive failed connection attempts; `cause` is the
   * last one's (the driver's error, or "timeout").
   */
  CircuitOpened: { readonly failures: number; readonly cause: unknown }
  /**
   * The circuit breaker closed after being open for `duration` milliseconds: a connection was opened (by a
   * probe, or by an attempt already in flight when it opened), or its probe schedule ended.
   */
  CircuitClosed: { readonly duration: number }
  /**
   * The adaptive sizing controller (`PoolSizing.adaptive`) moved the pool's target, the number of
   * connections it keeps open, `from` → `to`. `reason`: "demand" (the estimate rose), "queue" (it rose
   * with callers waiting), "spare", "scheduled" or "learned" (a warming policy asked for more), "decay"
   * (demand fell). `demand` is the estimated number of connections busy (arrival rate × mean hold time).
   */
  TargetChanged: {
    readonly from: number
    readonly to: number
    readonly reason: "demand" | "queue" | "spare" | "scheduled" | "learned" | "decay"
    readonly demand: number
  }
  /**
   * An alert rule's condition has held for its duration (in-process alerting, `@dbpool/observability`):
   * `alert` names the rule, `value` is what its condition measured, `summary` says it in words.
   * Never emitted by the pool itself.
   */
  AlertRaised: {
    readonly pool: string
    readonly alert: string
    readonly severity: "warning" | "critical"
    readonly value: number
    readonly summary: string
  }
  /** A raised alert's condition no longer holds; it was raised for `duration` milliseconds. */
  AlertResolved: { readonly pool: string; readonly alert: string; readonly duration: number }
}>

/**
 * Constructors and `$is` / `$match` for events.
 *
 * @since 0.1.0
 * @category constructors
 */
export const PoolEvent = Data.taggedEnum<PoolEvent>()

/**
 * The tags of every event.
 *
 * @since 0.1.0
 * @category models
 */
export type Tag = PoolEvent["_tag"]

/**
 * An object of callbacks, one per event kind, all optional.
 *
 * @since 0.1.0
 * @category models
 */
export type Observer<R = never> = {
  readonly [K in Tag as `on${K}`]?: (event: Extract<PoolEvent, { _tag: K }>) => Effect.Effect<void, never, R>
}

/**
 * Runs an observer over a stream of events until the stream ends (or the
 * fiber is interrupted). Fork it in a scope to watch a pool in the background.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as PoolEvent from "@dbpool/core/PoolEvent"
 * import type { ResourcePool } from "@dbpool/core/ResourcePool"
 *
 * declare const pool: ResourcePool<string>
 * const watch = PoolEvent.observe(pool.events, {
 *   onConnectionClosed: (e) => Effect.log(`closed ${e.connectionId}: ${e.reason}`),
 *   onAcquireTimedOut: (e) => Effect.logWarning(`gave up after ${e.waitTime} ms`)
 * }).pipe(Effect.forkScoped)
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const observe = <E, R, R2>(
  events: Stream.Stream<PoolEvent, E, R>,
  observer: Observer<R2>
): Effect.Effect<void, E, R | R2> =>
  Stream.runForEach(events, (event) => {
    const handler = observer[`on${event._tag}`] as ((e: PoolEvent) => Effect.Effect<void, never, R2>) | undefined
    return handler === undefined ? Effect.void : handler(event)
  })
