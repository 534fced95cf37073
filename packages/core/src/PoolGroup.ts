/**
 * One connection budget shared by several pools: a program with many pools (several databases, or a
 * pool per tenant) under one server's `max_connections` or one role's `CONNECTION LIMIT`. The group
 * never lets its pools hold more connections than its `maxConnections`, counting every open
 * connection (closing ones too) and every creation in flight, and moves capacity to where demand is:
 * an idle connection of a quiet pool is closed so that a busy pool may open one.
 *
 * A pool joins by its `group` setting (`PoolConfig.Input`), so the SQL layers (`PgPool.layer`,
 * `MysqlPool.layer`, `SqlitePool.layer`, `Pool.layer`) join through their `pool` options.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type { Pipeable } from "effect/Pipeable"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as eventInternal from "./internal/groupEvent.js"
import * as internal from "./internal/poolGroup.js"
import type { PoolConfigError } from "./PoolError.js"

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
 * @since 0.1.0
 * @category type ids
 */
export const MembershipTypeId: unique symbol = internal.MembershipTypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type MembershipTypeId = typeof MembershipTypeId

/**
 * What happens in a group, as `group.events`.
 *
 * @since 0.1.0
 * @category models
 */
export type GroupEvent = eventInternal.GroupEvent

/**
 * Constructors and `$is` / `$match` for group events.
 *
 * @example
 * ```ts
 * import * as PoolGroup from "@dbpool/core/PoolGroup"
 *
 * const moved = PoolGroup.GroupEvent.$is("CapacityMoved")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const GroupEvent = eventInternal.GroupEvent

/**
 * What `make` takes: the budget, and how often the controller rebalances.
 *
 * @example
 * ```ts
 * import type * as PoolGroup from "@dbpool/core/PoolGroup"
 *
 * const options: PoolGroup.Options = {
 *   name: "tenants",
 *   maxConnections: 90,
 *   rebalanceInterval: "500 millis",
 *   // a ceiling goes back up at once only when demand is 9 or more under the budget (or its ceiling), else after 3 ticks
 *   hysteresis: { margin: 9, ticks: 3 }
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Used in errors, events and metrics. Default `"default"`. */
  readonly name?: string | undefined
  /** Never more connections at once in all the member pools together, creations in flight included. */
  readonly maxConnections: number
  /** How often the controller rebalances the members' shares. Default 1 second. */
  readonly rebalanceInterval?: Duration.DurationInput | undefined
  /** Overrides `rebalanceInterval`: a rebalance at each recurrence (none after the schedule ends). */
  readonly rebalanceSchedule?: Schedule.Schedule<unknown, unknown> | undefined
  /**
   * Keeps ceilings from moving on every rebalance while demand swings across the budget. A ceiling is
   * lowered at once (another member waits for its share); it is raised at once only when the members'
   * demand is at most `maxConnections - margin` or the member's own demand at most its ceiling less
   * `margin`, otherwise once the higher ceiling has been wanted at `ticks` rebalances in a row. Default `{ margin: 10 % of maxConnections (at least 1), ticks: 3 }`;
   * `{ margin: 0, ticks: 1 }` turns it off.
   */
  readonly hysteresis?: {
    readonly margin?: number | undefined
    readonly ticks?: number | undefined
  } | undefined
}

/**
 * One member in a group's statistics (`GroupStats.members`). `connections` is what it holds of the budget (open,
 * closing, and being opened).
 *
 * @since 0.1.0
 * @category models
 */
export interface MemberStats {
  readonly pool: string
  readonly floor: number
  /** What it may hold now: its cap, or its fair share while the members' demand exceeds the budget. */
  readonly ceiling: number
  readonly connections: number
  /** Lent out or being checked. */
  readonly active: number
  readonly idle: number
  /** Creations queued or in flight. */
  readonly pending: number
  /** Callers waiting for a connection. */
  readonly waiting: number
}

/**
 * The group's statistics: the budget, what is counted against it, and each member.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type * as PoolGroup from "@dbpool/core/PoolGroup"
 *
 * declare const group: PoolGroup.PoolGroup
 * const waiting = Effect.map(group.stats, (s) => s.members.filter((m) => m.waiting > 0).map((m) => m.pool))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface GroupStats {
  readonly name: string
  readonly maxConnections: number
  /** Connections held by every member: open (closing ones too) and being opened. Never above `maxConnections`. */
  readonly connections: number
  /** Idle connections closed so far so that another member could open one. */
  readonly capacityMoves: number
  readonly members: ReadonlyArray<MemberStats>
}

/**
 * A group of pools under one connection budget. Make it with `make` and give it (or a `member` of
 * it) as a pool's `group` setting.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import type * as PoolGroup from "@dbpool/core/PoolGroup"
 *
 * declare const group: PoolGroup.PoolGroup
 * const logMoves = Stream.runForEach(group.events, (event) =>
 *   event._tag === "CapacityMoved" ? Effect.log(`${event.from} -> ${event.to ?? "(its share)"}`) : Effect.void
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface PoolGroup extends Pipeable {
  readonly [TypeId]: TypeId
  readonly name: string
  readonly maxConnections: number
  /** The budget, and what each member holds, uses and waits for now. */
  readonly stats: Effect.Effect<GroupStats>
  /** `CapacityMoved` and `CeilingChanged`, from the moment the stream is run. */
  readonly events: Stream.Stream<GroupEvent>
  /** One controller step now (the controller also runs on its schedule). */
  readonly rebalance: Effect.Effect<void>
  /** @internal */
  readonly toJSON: () => unknown
}

/**
 * A pool's place in a group, with its own bounds there (see `member`).
 *
 * @example
 * ```ts
 * import * as PoolGroup from "@dbpool/core/PoolGroup"
 *
 * declare const group: PoolGroup.PoolGroup
 * const reports: PoolGroup.Membership = PoolGroup.member(group, { floor: 0, ceiling: 2 })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Membership {
  readonly [MembershipTypeId]: MembershipTypeId
  readonly group: PoolGroup
  /** The group never closes this pool's connections below it, and the pool can always open up to it. Default `minConnections`. */
  readonly floor: number | undefined
  /** The pool never holds more in the group. Default (and at most) `maxConnections`. */
  readonly ceiling: number | undefined
}

/**
 * Makes a group in the current scope; its controller runs until the scope closes. Fails with
 * `PoolConfigError` if `maxConnections` is not a whole number ≥ 1, `rebalanceInterval` is not a
 * positive finite duration, or `hysteresis` has a `margin` that is not a whole number ≥ 0 or `ticks`
 * that is not a whole number ≥ 1. A pool whose floor would make the members' floors exceed the budget
 * fails to start with `PoolConfigError` on its `group` field.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as PoolGroup from "@dbpool/core/PoolGroup"
 * import * as ResourcePool from "@dbpool/core/ResourcePool"
 *
 * const program = Effect.gen(function*() {
 *   const group = yield* PoolGroup.make({ name: "tenants", maxConnections: 20 })
 *   const connect = Effect.sync(() => ({ open: true }))
 *   const a = yield* ResourcePool.make({ acquire: connect, config: { name: "a", maxConnections: 20, group } })
 *   const b = yield* ResourcePool.make({
 *     acquire: connect,
 *     config: { name: "b", maxConnections: 20, group: PoolGroup.member(group, { floor: 2, ceiling: 10 }) }
 *   })
 *   return yield* group.stats
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options: Options) => Effect.Effect<PoolGroup, PoolConfigError, Scope.Scope> = internal.make

/**
 * A pool's membership with its own floor and ceiling, for its `group` setting.
 *
 * @example
 * ```ts
 * import * as PoolGroup from "@dbpool/core/PoolGroup"
 *
 * declare const group: PoolGroup.PoolGroup
 * const config = { name: "reports", maxConnections: 10, group: PoolGroup.member(group, { floor: 1, ceiling: 4 }) }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const member: (
  group: PoolGroup,
  bounds?: { readonly floor?: number | undefined; readonly ceiling?: number | undefined }
) => Membership = internal.member

/**
 * @example
 * ```ts
 * import * as PoolGroup from "@dbpool/core/PoolGroup"
 *
 * PoolGroup.isPoolGroup({}) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isPoolGroup: (u: unknown) => u is PoolGroup = internal.isPoolGroup
