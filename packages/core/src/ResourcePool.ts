/**
 * A pool of any resource: a bounded number of real resources (connections),
 * shared safely by any number of fibers, kept healthy, measured, and closed
 * with its scope.
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import type * as Effect from "effect/Effect"
import type { Pipeable } from "effect/Pipeable"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/pool.js"
import type * as PoolConfig from "./PoolConfig.js"
import type { ConnectError, PoolConfigError, PoolError } from "./PoolError.js"
import type { PoolEvent } from "./PoolEvent.js"
import type { PoolStats } from "./PoolStats.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = internal.TypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * A pool of resources of type `A` whose creation fails with `E`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResourcePool<in out A, in out E = never> extends Pipeable {
  readonly [TypeId]: TypeId
  /** The checked configuration in force (sizes as last resized). */
  readonly config: PoolConfig.PoolConfig
  /** A lease on a resource, given back when the scope closes. */
  readonly get: Effect.Effect<Lease<A>, PoolError<E>, Scope.Scope>
  /**
   * Borrows a resource for the duration of `f`. The main path: no scope is
   * made. If `f` dies or is interrupted, the resource is closed, not reused.
   */
  readonly use: <B, E2, R>(f: (lease: Lease<A>) => Effect.Effect<B, E2, R>) => Effect.Effect<B, PoolError<E> | E2, R>
  /** Marks a leased resource as bad: it is closed when released and never lent again. */
  readonly invalidate: (lease: Lease<A>) => Effect.Effect<void>
  /**
   * Holds a leased resource out of the pool, once given back, until `verdict`
   * ends: then it is lent again (`true`) or closed (`false`, a failure). Meanwhile
   * it counts as active and is lent to no one; its caller does not wait. For a
   * resource whose state is still being decided (a statement being cancelled).
   * Shutdown interrupts a verdict still pending and closes the resource.
   */
  readonly hold: (lease: Lease<A>, verdict: Effect.Effect<boolean>) => Effect.Effect<void>
  /**
   * Closes an idle resource known to be gone (the server ended its session,
   * the driver said so), now rather than at the next health check or borrow;
   * the minimum is refilled as after any close. A resource lent out or being
   * checked is left alone: invalidate its lease instead.
   */
  readonly discard: (resource: A) => Effect.Effect<void>
  /** An exact snapshot of the statistics, now. */
  readonly stats: Effect.Effect<PoolStats>
  /** The statistics as they change, sampled every `statsInterval` (the current value first, then each published change; it ends when the pool closes). */
  readonly changes: Stream.Stream<PoolStats>
  /** Everything that happens in the pool, in order, from the moment of subscription; it ends when the pool closes. */
  readonly events: Stream.Stream<PoolEvent>
  /**
   * The same events but the two every acquisition makes (`ConnectionAcquired`,
   * `ConnectionReleased`): connections opened and closed, health checks,
   * timeouts, leaks, connection failures, the circuit breaker. What a
   * dashboard or an alert follows: subscribing costs the acquisition path nothing.
   */
  readonly notices: Stream.Stream<PoolEvent>
  /** Who holds the connections now, held longest first (as a `PoolTimeoutError` lists them). */
  readonly leases: Effect.Effect<ReadonlyArray<LeaseInfo>>
  /** One entry per open connection: id, age, uses, state. */
  readonly metrics: Effect.Effect<ReadonlyArray<ConnectionInfo>>
  /** Changes the bounds; connections above a lowered maximum close as they fall idle. */
  readonly resize: (bounds: { readonly min?: number | undefined; readonly max?: number | undefined }) => Effect.Effect<
    void,
    PoolConfigError
  >
}

/**
 * A resource lent to one caller.
 *
 * @since 0.1.0
 * @category models
 */
export interface Lease<out A> {
  readonly resource: A
  /** The connection's id, stable for its whole life. */
  readonly id: string
  /** When the connection was opened (epoch milliseconds of the pool's `Clock`). */
  readonly createdAt: number
  /** How many times the connection has been lent, this time included. */
  readonly usageCount: number
  /** When this lease began. */
  readonly acquiredAt: number
}

/**
 * What `metrics` tells of one open connection.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectionInfo {
  readonly id: string
  readonly state: "idle" | "active" | "validating" | "closing"
  readonly createdAt: number
  /** Milliseconds since it was opened. */
  readonly age: number
  /** Milliseconds since it last became idle (0 unless idle). */
  readonly idleTime: number
  readonly usageCount: number
  /** When it will be retired for age (its lifetime minus its jitter). */
  readonly retireAt: number
  readonly healthy: boolean
}

/**
 * Who holds one lent connection, as a `PoolTimeoutError` and a dashboard
 * show it: since when, in which span, from where.
 *
 * @example
 * ```ts
 * import type { LeaseInfo } from "@dbpool/core/ResourcePool"
 *
 * const describe = (l: LeaseInfo) =>
 *   `${l.connectionId} held ${l.heldFor} ms` + (l.span === undefined ? "" : ` in span ${l.span.name}`)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface LeaseInfo {
  /** The lent connection's id. */
  readonly connectionId: string
  /** When the lease began (epoch milliseconds of the pool's `Clock`). */
  readonly acquiredAt: number
  /** Milliseconds it has been held, at the moment the list was made. */
  readonly heldFor: number
  /** How many times the connection has been lent, this lease included. */
  readonly usageCount: number
  /**
   * The span the caller acquired it in: recorded when a tracer is installed
   * (or leak detection is on). `name` is undefined for an external span.
   */
  readonly span?: LeaseSpan | undefined
  /** The stack where it was acquired: recorded only while leak detection is on. */
  readonly callSite?: string | undefined
}

/**
 * The acquiring span of a lease: its name and ids.
 *
 * @example
 * ```ts
 * import type { LeaseSpan } from "@dbpool/core/ResourcePool"
 *
 * const link = (s: LeaseSpan) => `trace ${s.traceId}, span ${s.spanId}`
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface LeaseSpan {
  readonly name: string | undefined
  readonly traceId: string
  readonly spanId: string
}

/**
 * How to open, close and check one resource.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<A, E, R> {
  /** Opens one resource. Must clean up after itself if interrupted (`connectTimeout`). */
  readonly acquire: Effect.Effect<A, E, R>
  /** Closes one resource. Errors are logged, never raised. */
  readonly release?: ((resource: A) => Effect.Effect<void>) | undefined
  /** A health check: failing (or taking longer than `validationTimeout`) means unhealthy. */
  readonly validate?: ((resource: A) => Effect.Effect<void, unknown>) | undefined
  /** Whether a creation error is worth another attempt (a wrong password is not). Default: always. */
  readonly retryable?: ((error: E) => boolean) | undefined
  /**
   * Whether a use that ended with this cause leaves the resource unfit for
   * reuse. Default: a defect or an interruption (the resource's state is
   * unknown); a typed failure alone does not.
   */
  readonly isBroken?: ((cause: Cause.Cause<unknown>) => boolean) | undefined
  /** Partial configuration; defaults fill the rest. */
  readonly config?: PoolConfig.Input | undefined
}

/**
 * Makes a pool in the current scope. The configuration is checked first
 * (`PoolConfigError`, before any resource is opened); then `minConnections`
 * are opened, and if none can be, the pool fails with the `ConnectError`.
 * Closing the scope stops new acquisitions, waits for leases in use (at most
 * `shutdownTimeout`) and closes every resource exactly once.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as ResourcePool from "@dbpool/core/ResourcePool"
 *
 * const program = Effect.gen(function*() {
 *   const pool = yield* ResourcePool.make({
 *     acquire: Effect.sync(() => ({ socket: "open" })),
 *     release: (conn) => Effect.sync(() => { conn.socket = "closed" }),
 *     config: { minConnections: 2, maxConnections: 10, acquireTimeout: "5 seconds" }
 *   })
 *   return yield* pool.use((lease) => Effect.succeed(lease.resource.socket))
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: <A, E = never, R = never>(
  options: Options<A, E, R>
) => Effect.Effect<ResourcePool<A, E>, PoolConfigError | ConnectError<E>, R | Scope.Scope> = internal.make

/**
 * @since 0.1.0
 * @category refinements
 */
export const isResourcePool: (u: unknown) => u is ResourcePool<unknown, unknown> = internal.isResourcePool
