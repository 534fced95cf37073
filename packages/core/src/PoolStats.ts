/**
 * A snapshot of a pool's statistics. Read it with `pool.stats` (exact, now) or
 * follow it with `pool.changes` (sampled every `statsInterval`).
 *
 * Every snapshot is taken in one step, so it never shows an impossible state:
 * `activeConnections + idleConnections <= totalConnections` and
 * `totalConnections + pendingConnections <= maxConnections` always hold (the one exception:
 * after `resize` lowers the maximum below the connections in use, until enough come back —
 * a connection is never taken from its user).
 *
 * @since 0.1.0
 */

/**
 * Why a connection was closed.
 *
 * - `idle`: idle above `minConnections` for longer than `maxIdleTime`
 * - `lifetime`: older than `maxLifetime` (with jitter)
 * - `unhealthy`: failed a health check (periodic or on borrow)
 * - `broken`: invalidated by its user, or its use ended in a defect or an interruption
 * - `closed`: the pool itself was closed
 *
 * @since 0.1.0
 * @category models
 */
export type CloseReason = "idle" | "lifetime" | "unhealthy" | "broken" | "closed"

/**
 * The close reasons, in a fixed order.
 *
 * @since 0.1.0
 * @category constants
 */
export const closeReasons: ReadonlyArray<CloseReason> = ["idle", "lifetime", "unhealthy", "broken", "closed"]

/**
 * The state of a pool's circuit breaker.
 *
 * - `closed`: connections are opened for callers as usual
 * - `open`: `circuitBreakerThreshold` consecutive connection attempts failed; an
 *   acquisition that would need a new connection fails at once with the last
 *   `ConnectError`, and the pool makes one probe attempt per tick of its probe
 *   schedule until one connects
 *
 * @since 0.1.0
 * @category models
 */
export type CircuitState = "closed" | "open"

/**
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { ResourcePool } from "@dbpool/core/ResourcePool"
 *
 * declare const pool: ResourcePool<string>
 * const program = Effect.gen(function*() {
 *   const s = yield* pool.stats
 *   yield* Effect.log(`${s.activeConnections}/${s.totalConnections} in use, ${s.waitingRequests} waiting`)
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface PoolStats {
  /** The pool's name (`PoolConfig.name`). */
  readonly name: string
  /** `minConnections` in force. */
  readonly minConnections: number
  /** `maxConnections` in force. */
  readonly maxConnections: number
  /**
   * Connections the pool keeps open now (refilled when fewer, idle ones above it retired): `minConnections`
   * for a fixed pool; the adaptive controller's target for a pool sized by `PoolSizing.adaptive`.
   */
  readonly targetConnections: number
  /**
   * Connections the pool may hold now: `maxConnections`, or less in a `PoolGroup` (the member's own ceiling,
   * or its fair share of the budget while the members' demand exceeds it).
   */
  readonly ceilingConnections: number
  /** Connections open now: in use, idle, being validated or being closed. Counts against the maximum. */
  readonly totalConnections: number
  /** Connections lent to a caller. */
  readonly activeConnections: number
  /** Connections ready to be lent. */
  readonly idleConnections: number
  /** Connections taken out of the idle set for a health check. */
  readonly validatingConnections: number
  /** Connections being closed (they still count against the maximum until closed). */
  readonly closingConnections: number
  /** Connections requested from the driver and not yet open (queued or connecting). */
  readonly pendingConnections: number
  /** Callers waiting for a connection. */
  readonly waitingRequests: number
  /** Acquisitions asked for since the pool started. */
  readonly totalRequests: number
  /** Acquisitions that got a connection. */
  readonly successfulRequests: number
  /** Acquisitions that failed (timeout, exhausted, cannot connect, closed). */
  readonly failedRequests: number
  /** Acquisitions abandoned by their caller (interrupted while waiting). */
  readonly cancelledRequests: number
  /** Acquisitions that failed because `acquireTimeout` passed. */
  readonly timeouts: number
  /** Mean time from asking to having, in milliseconds, over the successful acquisitions. */
  readonly averageAcquireTime: number
  /** Open connections not known to be bad. */
  readonly healthyConnections: number
  /** Open connections known to be bad (failed a check, broken) and being closed. */
  readonly unhealthyConnections: number
  /** Connections opened since the pool started. */
  readonly connectionsCreated: number
  /** Connections closed since the pool started, by reason. */
  readonly connectionsClosed: { readonly [R in CloseReason]: number }
  /** Connection attempts that failed (each attempt, retries included). */
  readonly connectFailures: number
  /** Whether the circuit breaker is `"closed"` (connecting as usual) or `"open"` (failing fast, probing). */
  readonly circuitState: CircuitState
}
