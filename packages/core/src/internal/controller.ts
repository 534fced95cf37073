/**
 * The adaptive sizing controller (PoolSizing.adaptive): a fiber that, at each
 * recurrence of its schedule, measures demand from the state's counters,
 * takes the largest of the estimate and the warming policies, moves the
 * state's target (demand.ts decides how far), and retires idle connections
 * above it. A `scheduled` warming policy runs a fiber of its own on its
 * Schedule, and makes the controller decide at once when its window opens.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { PoolEvent } from "../PoolEvent.js"
import type * as PoolSizing from "../PoolSizing.js"
import type { PoolContext } from "./context.js"
import { decide, DemandEstimator, PeakHistory } from "./demand.js"

/** Why the target moved: the policy that asked for the new target, or "decay" when it fell. */
export type TargetReason = "demand" | "queue" | "spare" | "scheduled" | "learned" | "decay"

const toMillis = (d: Duration.DurationInput): number => Duration.toMillis(Duration.decode(d))

/** What each warming policy asks for now, with the reason it would give. */
interface Floor {
  readonly wanted: (t: number, inUse: number, waiting: number, needed: number) => number
  readonly reason: TargetReason
}

const floorOf = (policy: PoolSizing.Warming, windows: Map<PoolSizing.Scheduled, number>): Floor => {
  switch (policy._tag) {
    case "Spare":
      return { reason: "spare", wanted: (_t, inUse, waiting) => inUse + waiting + policy.connections }
    case "Scheduled":
      return { reason: "scheduled", wanted: (t) => (windows.get(policy) ?? 0) > t ? policy.connections : 0 }
    case "Learned": {
      const history = new PeakHistory(toMillis(policy.period), toMillis(policy.bucket))
      const lead = toMillis(policy.lead)
      return {
        reason: "learned",
        wanted: (t, inUse, _waiting, needed) => {
          history.record(t, Math.max(inUse, needed))
          return history.ahead(t, lead)
        }
      }
    }
  }
}

export interface Controller {
  /** The controller's loop, forked by pool.ts for the life of the pool. */
  readonly run: Effect.Effect<never>
  /** One fiber per `scheduled` policy. */
  readonly schedules: ReadonlyArray<Effect.Effect<void>>
}

export const makeController = <A, E>(ctx: PoolContext<A, E>, sizing: PoolSizing.Adaptive): Controller => {
  const { events, metrics, now, state } = ctx
  const estimator = new DemandEstimator({ headroom: sizing.headroom, smoothing: sizing.smoothing })
  const windows = new Map<PoolSizing.Scheduled, number>()
  const floors = sizing.warming.map((policy) => floorOf(policy, windows))
  const retireAfter = toMillis(sizing.retireAfter)
  metrics.target.unsafeUpdate(state.target, [])

  let needed = state.target
  /**
   * One decision: measure (only on the controller's own ticks, so that the rates are taken over whole
   * intervals), take the largest wish, move the target, retire the idle surplus.
   */
  const tick = (measure: boolean) =>
    Effect.suspend(() => {
      const t = now()
      const inUse = state.active + state.validating
      const waiting = state.waiters.length
      if (measure) {
        needed = estimator.update({
          t,
          arrivals: state.totalRequests,
          ended: state.leasesEnded,
          holdTotal: state.holdTimeTotal,
          waiting
        })
      }
      return decideAt(t, inUse, waiting)
    })

  const decideAt = (t: number, inUse: number, waiting: number): Effect.Effect<void> => {
    let wanted = needed
    let reason: TargetReason = waiting > 0 ? "queue" : "demand"
    for (const floor of floors) {
      const w = floor.wanted(t, inUse, waiting, needed)
      if (w > wanted) {
        wanted = w
        reason = floor.reason
      }
    }
    const from = state.target
    const to = decide(from, wanted, {
      min: state.min,
      max: state.max,
      hysteresis: sizing.hysteresis,
      decay: sizing.decay
    })
    if (to !== undefined && to !== from) state.setTarget(to, t)
    state.trimIdle(t, retireAfter)
    if (state.target === from) return Effect.void
    metrics.target.unsafeUpdate(state.target, [])
    const event = PoolEvent.TargetChanged({
      from,
      to: state.target,
      reason: state.target < from ? "decay" : reason,
      demand: estimator.load
    })
    return events.emit(() => event)
  }

  const run = Effect.gen(function*() {
    const driver = yield* Schedule.driver(Schedule.spaced(sizing.interval))
    while (true) {
      yield* driver.next(undefined)
      if (state.closed) continue
      yield* tick(true)
    }
  }).pipe(Effect.catchAll(() => Effect.never))

  const schedules = sizing.warming.filter((w): w is PoolSizing.Scheduled => w._tag === "Scheduled").map((policy) =>
    Effect.gen(function*() {
      const driver = yield* Schedule.driver(policy.schedule)
      const duration = toMillis(policy.duration)
      while (true) {
        yield* driver.next(undefined)
        windows.set(policy, now() + duration)
        if (!state.closed) yield* tick(false)
      }
    }).pipe(Effect.catchAll(() => Effect.void))
  )
  return { run, schedules }
}
