/**
 * What every part of the pool's runtime shares: the checked configuration,
 * the state machine, the event hub, the statistics' publication, the metrics
 * and the clock. Built once by
 * `make` (pool.ts) and handed to creation.ts, housekeeping.ts and
 * acquisition.ts, which each add one concern's fibers and effects.
 */
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type * as PoolConfig from "../PoolConfig.js"
import type { PoolClosedError } from "../PoolError.js"
import type { Events } from "./events.js"
import type { PoolMetrics } from "./metrics.js"
import type { PoolState } from "./state.js"
import type { StatsPublication } from "./stats.js"

export interface PoolContext<A, E> {
  readonly name: string
  readonly config: PoolConfig.PoolConfig
  readonly state: PoolState<A, E>
  readonly events: Events
  readonly stats: StatsPublication
  readonly metrics: PoolMetrics
  /** The pool's clock (the TestClock under test), in milliseconds. */
  readonly now: () => number
  /** Runs an effect in the background, in the runtime the pool was made in. */
  readonly runFork: <X, Y>(effect: Effect.Effect<X, Y>) => Fiber.RuntimeFiber<X, Y>
  readonly closedError: PoolClosedError
}

/** Restores the caller's interruptibility inside an uninterruptible region. */
export type Restore = <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>

/** A duration in milliseconds; infinite stays infinite. */
export const millis = (d: Duration.Duration): number =>
  Duration.isFinite(d) ? Duration.toMillis(d) : Number.POSITIVE_INFINITY
