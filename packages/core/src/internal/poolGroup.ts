/**
 * The pool group's runtime: its options checked, the controller fiber on a Schedule, events, stats and
 * metrics; and a pool's joining (from its `group` setting) and leaving. The bookkeeping is group.ts.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import { pipeArguments } from "effect/Pipeable"
import * as PubSub from "effect/PubSub"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as PoolConfig from "../PoolConfig.js"
import { PoolConfigError } from "../PoolError.js"
import type * as PoolGroup from "../PoolGroup.js"
import { Group, Member } from "./group.js"
import type { GroupEvent } from "./groupEvent.js"
import type { PoolState } from "./state.js"

export const TypeId: PoolGroup.TypeId = Symbol.for("@dbpool/core/PoolGroup") as PoolGroup.TypeId
export const MembershipTypeId: PoolGroup.MembershipTypeId = Symbol.for(
  "@dbpool/core/PoolGroup/Membership"
) as PoolGroup.MembershipTypeId

/** The bookkeeping behind a `PoolGroup` value, for the pools that join it. */
const groups = new WeakMap<PoolGroup.PoolGroup, Group>()

export const isPoolGroup = (u: unknown): u is PoolGroup.PoolGroup => typeof u === "object" && u !== null && TypeId in u

export const isMembership = (u: unknown): u is PoolGroup.Membership =>
  typeof u === "object" && u !== null && MembershipTypeId in u

/** What the `group` setting accepts. */
export const isGroupSetting = (u: unknown): u is PoolGroup.PoolGroup | PoolGroup.Membership =>
  isPoolGroup(u) || isMembership(u)

const invalid = (field: string, value: unknown, reason: string) => new PoolConfigError({ field, value, reason })

const wholeAtLeast = (n: unknown, min: number): boolean => typeof n === "number" && Number.isInteger(n) && n >= min

export const member = (
  group: PoolGroup.PoolGroup,
  bounds: { readonly floor?: number | undefined; readonly ceiling?: number | undefined } = {}
): PoolGroup.Membership => ({
  [MembershipTypeId]: MembershipTypeId,
  group,
  floor: bounds.floor,
  ceiling: bounds.ceiling
})

/** The `group` setting's rule against the pool's bounds (checked with the rest of the configuration). */
export const checkSetting = (
  value: PoolGroup.PoolGroup | PoolGroup.Membership,
  earlier: { readonly minConnections: number; readonly maxConnections: number }
): string | undefined => {
  if (!isMembership(value)) return undefined
  if (!isPoolGroup(value.group)) return "must be a membership of a PoolGroup (PoolGroup.member(group, ...))"
  const { ceiling, floor } = value
  if (floor !== undefined && !wholeAtLeast(floor, 0)) return `floor must be a whole number ≥ 0 (got ${floor})`
  if (ceiling !== undefined && !wholeAtLeast(ceiling, 1)) return `ceiling must be a whole number ≥ 1 (got ${ceiling})`
  const f = floor ?? earlier.minConnections
  const c = Math.min(ceiling ?? earlier.maxConnections, earlier.maxConnections)
  return f > c ? `floor (${f}) must not exceed the ceiling (${c}, at most maxConnections)` : undefined
}

/**
 * Joins the pool's group, if its configuration names one: fails with `PoolConfigError` if the floors
 * would not fit the budget. Returns how to leave once the pool has drained.
 */
export const join = <A, E>(
  config: PoolConfig.PoolConfig,
  state: PoolState<A, E>
): Effect.Effect<Effect.Effect<void>, PoolConfigError> => {
  const setting = config.group
  if (setting === undefined) return Effect.succeed(Effect.void)
  const value = isMembership(setting) ? setting.group : setting
  const group = groups.get(value)
  const floor = (isMembership(setting) ? setting.floor : undefined) ?? config.minConnections
  const cap = Math.min(
    (isMembership(setting) ? setting.ceiling : undefined) ?? config.maxConnections,
    value.maxConnections
  )
  return Effect.suspend(() => {
    if (group === undefined) {
      return Effect.fail(invalid("group", value.name, "is a PoolGroup of another copy of @dbpool/core"))
    }
    const refused = group.refuse(config.name, floor)
    if (refused !== undefined) return Effect.fail(invalid("group", value.name, refused))
    const m = new Member(group, state as PoolState<unknown, unknown>, floor, cap)
    group.join(m)
    state.ceiling = Math.min(state.ceiling, cap)
    return Effect.succeed(Effect.sync(() => group.leave(m)))
  })
}

// ---- metrics ------------------------------------------------------------------
const groupAttribute = "dbpool.group.name"
const poolAttribute = "db.client.connection.pool.name"
const budgetGauge = Metric.gauge("dbpool.group.max", {
  description: "The connection budget shared by the group's pools"
})
const usedGauge = Metric.gauge("dbpool.group.connections", {
  description: "A member's connections, open or being opened, counted against the group's budget"
})
const ceilingGauge = Metric.gauge("dbpool.group.ceiling", { description: "A member's current ceiling in the group" })
const movesCounter = Metric.counter("dbpool.group.capacity_moved", {
  description: "Idle connections closed so that another member of the group could open one",
  incremental: true
})

const statsOf = (group: Group): PoolGroup.GroupStats => ({
  name: group.name,
  maxConnections: group.budget,
  connections: group.used,
  capacityMoves: group.capacityMoves,
  members: group.members.map((m): PoolGroup.MemberStats => ({
    pool: m.name,
    floor: m.floor,
    ceiling: Math.min(m.limit, m.state.ceiling),
    connections: m.used,
    active: m.state.active + m.state.validating,
    idle: m.state.idle.length,
    pending: m.state.pending,
    waiting: m.state.waiters.length
  }))
})

const publishMetrics = (stats: PoolGroup.GroupStats): Effect.Effect<void> =>
  Effect.gen(function*() {
    yield* Metric.set(Metric.tagged(budgetGauge, groupAttribute, stats.name), stats.maxConnections)
    for (const m of stats.members) {
      const tag = <T, I, O>(metric: Metric.Metric<T, I, O>) =>
        metric.pipe(Metric.tagged(groupAttribute, stats.name), Metric.tagged(poolAttribute, m.pool))
      yield* Metric.set(tag(usedGauge), m.connections)
      yield* Metric.set(tag(ceilingGauge), m.ceiling)
    }
  })

/** The ceilings' hysteresis margin by default: 10 % of the budget, at least 1. */
export const defaultMargin = (budget: number): number => Math.max(1, Math.round(budget / 10))

const checkOptions = (options: PoolGroup.Options): PoolConfigError | undefined => {
  if (options.name !== undefined && (typeof options.name !== "string" || options.name.length === 0)) {
    return invalid("name", options.name, "must be a non-empty string")
  }
  if (!wholeAtLeast(options.maxConnections, 1)) {
    return invalid("maxConnections", options.maxConnections, "must be a whole number ≥ 1")
  }
  const h = options.hysteresis
  if (h !== undefined) {
    if (typeof h !== "object" || h === null) return invalid("hysteresis", h, "must be { margin?, ticks? }")
    if (h.margin !== undefined && !wholeAtLeast(h.margin, 0)) {
      return invalid("hysteresis", h, `margin must be a whole number ≥ 0 (got ${h.margin})`)
    }
    if (h.ticks !== undefined && !wholeAtLeast(h.ticks, 1)) {
      return invalid("hysteresis", h, `ticks must be a whole number ≥ 1 (got ${h.ticks})`)
    }
  }
  if (options.rebalanceInterval !== undefined) {
    const d = Duration.decodeUnknown(options.rebalanceInterval)
    if (d._tag === "None" || !Duration.greaterThan(d.value, Duration.zero) || !Duration.isFinite(d.value)) {
      return invalid("rebalanceInterval", options.rebalanceInterval, "must be a finite duration > 0")
    }
  }
  return undefined
}

export const make = (options: PoolGroup.Options): Effect.Effect<PoolGroup.PoolGroup, PoolConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const error = checkOptions(options)
    if (error !== undefined) return yield* Effect.fail(error)
    const name = options.name ?? "default"
    const clock = yield* Effect.clock
    const now = () => clock.unsafeCurrentTimeMillis()
    const pubsub = yield* PubSub.unbounded<GroupEvent>()
    const moves = Metric.tagged(movesCounter, groupAttribute, name)
    let movesToCount = 0
    const group = new Group(name, options.maxConnections, {
      emit: (event) => void pubsub.unsafeOffer(event),
      moved: () => void movesToCount++
    }, {
      margin: options.hysteresis?.margin ?? defaultMargin(options.maxConnections),
      ticks: options.hysteresis?.ticks ?? 3
    })
    const step = Effect.suspend(() => {
      group.rebalance(now())
      const counted = movesToCount
      movesToCount = 0
      return Effect.zipRight(Metric.incrementBy(moves, counted), publishMetrics(statsOf(group)))
    })
    const schedule: Schedule.Schedule<unknown, unknown> = options.rebalanceSchedule ??
      Schedule.spaced(options.rebalanceInterval ?? "1 second")
    const controller = Effect.gen(function*() {
      const driver = yield* Schedule.driver(schedule)
      while (true) {
        yield* driver.next(undefined)
        yield* step
      }
    }).pipe(Effect.catchAll(() => Effect.void))
    const fiber = yield* Effect.forkDaemon(controller)
    yield* Effect.addFinalizer(() => Effect.zipRight(Fiber.interrupt(fiber), PubSub.shutdown(pubsub)))
    const value: PoolGroup.PoolGroup = {
      [TypeId]: TypeId,
      name,
      maxConnections: options.maxConnections,
      stats: Effect.sync(() => statsOf(group)),
      events: Stream.fromPubSub(pubsub),
      rebalance: step,
      toJSON: () => ({ _id: "PoolGroup", name, maxConnections: options.maxConnections }),
      pipe() {
        return pipeArguments(this, arguments)
      }
    }
    groups.set(value, group)
    return value
  })
