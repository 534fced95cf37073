/**
 * How many connections a pool keeps open. `fixed` (the default) keeps
 * `minConnections` open and opens more on demand, up to `maxConnections`;
 * `adaptive` measures demand (arrival rate × mean hold time, by Little's law,
 * plus the callers waiting) and moves the number kept open, the target,
 * between `minConnections` and `maxConnections`: it opens ahead of the queue
 * and retires idle connections above the target sooner than `maxIdleTime`
 * when demand falls. Warming policies (`spare`, `scheduled`, `learned`) raise
 * the target further; the pool keeps the largest of them. Every move is a
 * `TargetChanged` event and the `dbpool.connection.target` gauge.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type { Pipeable } from "effect/Pipeable"
import type * as Schedule from "effect/Schedule"
import * as internal from "./internal/sizing.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = internal.TypeId

/**
 * How a pool is sized: pass it as the `sizing` setting of `PoolConfig`.
 *
 * @since 0.1.0
 * @category models
 */
export type PoolSizing = Fixed | Adaptive

/**
 * `minConnections` kept open, more opened on demand up to `maxConnections`,
 * closed after `maxIdleTime` idle: the pool's behaviour without `sizing`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Fixed extends Pipeable {
  readonly [TypeId]: TypeId
  readonly _tag: "Fixed"
}

/**
 * A controller sizes the pool from measured demand; see `adaptive`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Adaptive extends Pipeable {
  readonly [TypeId]: TypeId
  readonly _tag: "Adaptive"
  readonly interval: Duration.DurationInput
  readonly headroom: number
  readonly hysteresis: number
  readonly decay: number
  readonly smoothing: number
  readonly retireAfter: Duration.DurationInput
  readonly warming: ReadonlyArray<Warming>
}

/**
 * The options of `adaptive`, all optional.
 *
 * @since 0.1.0
 * @category models
 */
export interface AdaptiveOptions {
  /** How often the controller measures and decides. Default 1 second. */
  readonly interval?: Duration.DurationInput | undefined
  /** Share added to the estimate (0.25: 25 % more connections than Little's law gives). Default 0.25. */
  readonly headroom?: number | undefined
  /** The target falls only once the estimate is this share (at least one connection) below it. Default 0.3. */
  readonly hysteresis?: number | undefined
  /** Share of the gap to the estimate the target falls by per interval (at least one). Default 0.1. */
  readonly decay?: number | undefined
  /** Weight of the newest interval in the moving means of arrival rate and hold time. Default 0.2. */
  readonly smoothing?: number | undefined
  /** An idle connection above the target is closed after being idle this long. Default 10 seconds. */
  readonly retireAfter?: Duration.DurationInput | undefined
  /** Warming policies: the target is at least what each asks for. Default none. */
  readonly warming?: ReadonlyArray<Warming> | undefined
}

/**
 * Keep `connections` idle connections above those in use and waited for.
 *
 * @since 0.1.0
 * @category models
 */
export interface Spare {
  readonly _tag: "Spare"
  readonly connections: number
}

/**
 * At each recurrence of `schedule`, keep `connections` open for `duration`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Scheduled {
  readonly _tag: "Scheduled"
  readonly schedule: Schedule.Schedule<unknown, unknown>
  readonly connections: number
  readonly duration: Duration.DurationInput
}

/**
 * Remember the peak demand of each `bucket` of time over one `period`, and
 * open, `lead` ahead, what the same buckets needed one period before.
 *
 * @since 0.1.0
 * @category models
 */
export interface Learned {
  readonly _tag: "Learned"
  readonly period: Duration.DurationInput
  readonly bucket: Duration.DurationInput
  readonly lead: Duration.DurationInput
}

/**
 * A warming policy: data, read by the adaptive controller.
 *
 * @since 0.1.0
 * @category models
 */
export type Warming = Spare | Scheduled | Learned

/**
 * The default sizing: `minConnections` kept open, more on demand.
 *
 * @example
 * ```ts
 * import * as PoolSizing from "@dbpool/core/PoolSizing"
 *
 * const config = { minConnections: 2, maxConnections: 20, sizing: PoolSizing.fixed }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fixed: Fixed = internal.fixed

/**
 * Sizes the pool from measured demand: each `interval` the controller
 * estimates the connections needed as arrival rate × mean hold time
 * (Little's law) × (1 + `headroom`), plus the callers waiting, at least those
 * in use; it raises the target at once, and lowers it, once the estimate is
 * `hysteresis` below it, by a `decay` share of the gap per interval. Idle
 * connections above the target close after `retireAfter`.
 *
 * @example
 * ```ts
 * import * as PoolSizing from "@dbpool/core/PoolSizing"
 *
 * const config = {
 *   minConnections: 2,
 *   maxConnections: 40,
 *   sizing: PoolSizing.adaptive({ headroom: 0.5, warming: [PoolSizing.spare(2)] })
 * }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const adaptive: (options?: AdaptiveOptions) => Adaptive = internal.adaptive

/**
 * Keep `connections` idle connections ready above those in use (and the
 * callers waiting), checked at each interval of the controller.
 *
 * @example
 * ```ts
 * import * as PoolSizing from "@dbpool/core/PoolSizing"
 *
 * const sizing = PoolSizing.adaptive({ warming: [PoolSizing.spare(3)] })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const spare: (connections: number) => Spare = internal.spare

/**
 * Before a known peak: at each recurrence of `schedule` (for instance
 * `Schedule.cron`), keep `connections` open for `duration`.
 *
 * @example
 * ```ts
 * import { Schedule } from "effect"
 * import * as PoolSizing from "@dbpool/core/PoolSizing"
 *
 * // Weekdays at 08:55 (UTC), 30 connections for the next hour.
 * const morning = PoolSizing.scheduled({
 *   schedule: Schedule.cron("55 8 * * 1-5"),
 *   connections: 30,
 *   duration: "1 hour"
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const scheduled: (options: {
  readonly schedule: Schedule.Schedule<unknown, unknown>
  readonly connections: number
  readonly duration: Duration.DurationInput
}) => Scheduled = internal.scheduled

/**
 * Learns from recent demand: the peak demand of each `bucket` (default
 * 1 minute) is remembered for one `period` (default 1 day), and `lead`
 * (default 1 minute) ahead of a bucket, the target is raised to what that
 * bucket needed one period before.
 *
 * @example
 * ```ts
 * import * as PoolSizing from "@dbpool/core/PoolSizing"
 *
 * const sizing = PoolSizing.adaptive({ warming: [PoolSizing.learned({ period: "1 hour", lead: "30 seconds" })] })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const learned: (options?: {
  readonly period?: Duration.DurationInput | undefined
  readonly bucket?: Duration.DurationInput | undefined
  readonly lead?: Duration.DurationInput | undefined
}) => Learned = internal.learned

/**
 * Whether a value is a `PoolSizing`.
 *
 * @example
 * ```ts
 * import * as PoolSizing from "@dbpool/core/PoolSizing"
 *
 * PoolSizing.isPoolSizing(PoolSizing.fixed) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isPoolSizing: (u: unknown) => u is PoolSizing = internal.isPoolSizing
