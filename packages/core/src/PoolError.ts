/**
 * The errors a pool can fail with. Each says what happened in words a user
 * understands, carries what is needed to act on it, and never a password.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import type { PoolStats } from "./PoolStats.js"
import type { LeaseInfo } from "./ResourcePool.js"

/**
 * A caller waited `acquireTimeout` for a connection and got none. Carries a
 * snapshot of the pool's statistics at that moment, who held the connections
 * then (`leases`, oldest first: how long each had been held, the acquiring
 * span when a tracer is on, the call site under leak detection) and, when
 * connecting was failing at the time, the last connection error. The message
 * names the three oldest leases.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { ResourcePool } from "@dbpool/core/ResourcePool"
 *
 * declare const pool: ResourcePool<string>
 * pool.use(Effect.succeed).pipe(
 *   Effect.catchTag("PoolTimeoutError", (e) =>
 *     Effect.logWarning(e.message, e.leases.map((l) => `${l.connectionId}: ${l.heldFor} ms`)))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class PoolTimeoutError extends Data.TaggedError("PoolTimeoutError")<{
  readonly pool: string
  readonly timeout: Duration.Duration
  readonly stats: PoolStats
  /** The connections lent out at that moment, held longest first. */
  readonly leases: ReadonlyArray<LeaseInfo>
  readonly lastConnectError?: ConnectError | undefined
}> {
  override get message(): string {
    const s = this.stats
    const base = `Timed out after ${Duration.format(this.timeout)} waiting for a connection from pool "${this.pool}" ` +
      `(${s.activeConnections} in use, ${s.idleConnections} idle, ${s.pendingConnections} being opened, ` +
      `${s.waitingRequests} waiting, max ${s.maxConnections})`
    const held = this.leases.length === 0 ? base : `${base}; held longest: ${describeLeases(this.leases)}`
    return this.lastConnectError === undefined
      ? held
      : `${held}; last connection error: ${this.lastConnectError.message}`
  }
}

/** The three oldest leases, e.g. `p-1 for 12000 ms (span "checkout"), p-2 for 900 ms, and 3 more`. */
const describeLeases = (leases: ReadonlyArray<LeaseInfo>): string => {
  const named = leases.slice(0, 3).map((l) => {
    const span = l.span === undefined ? "" : ` (span ${l.span.name === undefined ? "external" : `"${l.span.name}"`})`
    return `${l.connectionId} for ${l.heldFor} ms${span}`
  })
  const more = leases.length - named.length
  return more > 0 ? `${named.join(", ")}, and ${more} more` : named.join(", ")
}

/**
 * The pool is closed (its scope ended): no connection can be acquired any more.
 *
 * @since 0.1.0
 * @category errors
 */
export class PoolClosedError extends Data.TaggedError("PoolClosedError")<{
  readonly pool: string
}> {
  override get message(): string {
    return `Pool "${this.pool}" is closed`
  }
}

/**
 * The queue of waiting callers is full (`maxWaiting`): the request failed at
 * once instead of joining it.
 *
 * @since 0.1.0
 * @category errors
 */
export class PoolExhaustedError extends Data.TaggedError("PoolExhaustedError")<{
  readonly pool: string
  readonly waiting: number
  readonly maxWaiting: number
}> {
  override get message(): string {
    return `Pool "${this.pool}" is exhausted: ${this.waiting} callers are already waiting (maxWaiting ${this.maxWaiting})`
  }
}

/**
 * Opening a connection failed after every attempt the retry schedule allowed.
 * `reason` tells whether the last attempt failed with the driver's error
 * (`cause`) or ran past `connectTimeout`.
 *
 * With `circuitOpen: true`, the pool made no attempt for this caller: its
 * circuit breaker is open (`circuitBreakerThreshold` consecutive attempts
 * failed), so it failed the acquisition at once, and the other fields are those
 * of the last failed attempt.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { ResourcePool } from "@dbpool/core/ResourcePool"
 *
 * declare const pool: ResourcePool<string, Error>
 * pool.use(Effect.succeed).pipe(
 *   Effect.catchTag("ConnectError", (e) =>
 *     e.circuitOpen ? Effect.logWarning(`database down, failing fast: ${e.message}`) : Effect.fail(e))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectError<E = unknown> extends Data.TaggedError("ConnectError")<{
  readonly pool: string
  readonly attempts: number
  readonly reason: "failed" | "timeout"
  readonly cause?: E | undefined
  readonly timeout?: Duration.Duration | undefined
  /** True when the circuit breaker failed the acquisition at once, without an attempt of its own. */
  readonly circuitOpen?: boolean | undefined
}> {
  override get message(): string {
    const what = this.reason === "timeout"
      ? `the attempt timed out after ${Duration.format(this.timeout ?? Duration.zero)}`
      : describeCause(this.cause)
    const tries = this.attempts === 1 ? "1 attempt" : `${this.attempts} attempts`
    const base = `Cannot connect (pool "${this.pool}", ${tries}): ${what}`
    return this.circuitOpen === true ? `${base} (circuit breaker open: failing fast until a probe connects)` : base
  }
}

/**
 * A configuration value is invalid. Raised before any connection is opened;
 * `field` names the offending field.
 *
 * @since 0.1.0
 * @category errors
 */
export class PoolConfigError extends Data.TaggedError("PoolConfigError")<{
  readonly field: string
  readonly value: unknown
  readonly reason: string
}> {
  override get message(): string {
    return `Invalid pool configuration: ${this.field} ${this.reason} (got ${showValue(this.value)})`
  }
}

/**
 * Everything acquiring a connection can fail with, for a resource whose
 * creation fails with `E`.
 *
 * @since 0.1.0
 * @category errors
 */
export type PoolError<E = unknown> = PoolTimeoutError | PoolClosedError | PoolExhaustedError | ConnectError<E>

const describeCause = (cause: unknown): string => {
  if (cause instanceof Error) return cause.message
  if (typeof cause === "object" && cause !== null && "message" in cause && typeof cause.message === "string") {
    return cause.message
  }
  return String(cause)
}

const showValue = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value)
  if (typeof value === "number" || typeof value === "boolean" || value === undefined || value === null) {
    return String(value)
  }
  if (Duration.isDuration(value)) return Duration.format(value)
  try {
    return JSON.stringify(value)
  } catch {
    return String(value)
  }
}
