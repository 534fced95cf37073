/**
 * How a pool is sized, as data (the public module is PoolSizing.ts): fixed (`minConnections` kept open,
 * more opened on demand up to `maxConnections`), or adaptive (a controller moves the number kept open,
 * `PoolState.target`, from measured demand and warming policies). Here: the values, their constructors
 * and their check; the controller's arithmetic is in demand.ts, its fibers in controller.ts.
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import { pipeArguments } from "effect/Pipeable"
import * as Schedule from "effect/Schedule"
import type * as PoolSizing from "../PoolSizing.js"

export const TypeId: PoolSizing.TypeId = Symbol.for("@dbpool/core/PoolSizing") as PoolSizing.TypeId

const proto = {
  [TypeId]: TypeId,
  pipe() {
    return pipeArguments(this, arguments)
  }
}

const make = <A extends PoolSizing.PoolSizing>(fields: Omit<A, typeof TypeId | "pipe">): A =>
  Object.assign(Object.create(proto), fields)

export const isPoolSizing = (u: unknown): u is PoolSizing.PoolSizing =>
  typeof u === "object" && u !== null && TypeId in u

export const fixed: PoolSizing.Fixed = make<PoolSizing.Fixed>({ _tag: "Fixed" })

export const adaptiveDefaults = {
  interval: "1 second",
  headroom: 0.25,
  hysteresis: 0.3,
  decay: 0.1,
  smoothing: 0.2,
  retireAfter: "10 seconds"
} as const

export const adaptive = (options: PoolSizing.AdaptiveOptions = {}): PoolSizing.Adaptive =>
  make<PoolSizing.Adaptive>({
    _tag: "Adaptive",
    interval: options.interval ?? adaptiveDefaults.interval,
    headroom: options.headroom ?? adaptiveDefaults.headroom,
    hysteresis: options.hysteresis ?? adaptiveDefaults.hysteresis,
    decay: options.decay ?? adaptiveDefaults.decay,
    smoothing: options.smoothing ?? adaptiveDefaults.smoothing,
    retireAfter: options.retireAfter ?? adaptiveDefaults.retireAfter,
    warming: options.warming ?? []
  })

export const spare = (connections: number): PoolSizing.Spare => ({ _tag: "Spare", connections })

export const scheduled = (options: {
  readonly schedule: Schedule.Schedule<unknown, unknown>
  readonly connections: number
  readonly duration: Duration.DurationInput
}): PoolSizing.Scheduled => ({ _tag: "Scheduled", ...options })

export const learned = (options: {
  readonly period?: Duration.DurationInput | undefined
  readonly bucket?: Duration.DurationInput | undefined
  readonly lead?: Duration.DurationInput | undefined
} = {}): PoolSizing.Learned => ({
  _tag: "Learned",
  period: options.period ?? "1 day",
  bucket: options.bucket ?? "1 minute",
  lead: options.lead ?? "1 minute"
})

// ---- the check: why a sizing is invalid, or undefined ----------------------------------------

const positiveDuration = (name: string, input: Duration.DurationInput): string | undefined => {
  const d = Duration.decodeUnknown(input)
  if (Option.isNone(d)) return `${name} is not a duration`
  if (!Duration.isFinite(d.value) || Duration.toMillis(d.value) <= 0) return `${name} must be finite and > 0`
  return undefined
}

const share = (name: string, value: number, max: number): string | undefined =>
  typeof value === "number" && value >= 0 && value <= max ? undefined : `${name} must be a number from 0 to ${max}`

const checkWarming = (w: PoolSizing.Warming): string | undefined => {
  switch (w._tag) {
    case "Spare":
      return Number.isInteger(w.connections) && w.connections >= 0
        ? undefined
        : "spare connections must be a whole number >= 0"
    case "Scheduled":
      if (!Schedule.isSchedule(w.schedule)) return "scheduled warming needs a Schedule"
      if (!Number.isInteger(w.connections) || w.connections < 0) {
        return "scheduled connections must be a whole number >= 0"
      }
      return positiveDuration("scheduled duration", w.duration)
    case "Learned": {
      const bad = positiveDuration("learned period", w.period) ?? positiveDuration("learned bucket", w.bucket) ??
        (Option.isSome(Duration.decodeUnknown(w.lead)) ? undefined : "learned lead is not a duration")
      if (bad !== undefined) return bad
      const buckets = Duration.toMillis(w.period) / Duration.toMillis(w.bucket)
      return buckets >= 1 && buckets <= 100_000 ? undefined : "learned period must hold 1 to 100,000 buckets"
    }
    default:
      return "unknown warming policy"
  }
}

/** Why a value is not a valid sizing, or undefined. */
export const check = (u: unknown): string | undefined => {
  if (!isPoolSizing(u)) return "must be PoolSizing.fixed or PoolSizing.adaptive(...)"
  if (u._tag === "Fixed") return undefined
  if (u._tag !== "Adaptive") return "must be PoolSizing.fixed or PoolSizing.adaptive(...)"
  return positiveDuration("interval", u.interval) ?? positiveDuration("retireAfter", u.retireAfter) ??
    share("headroom", u.headroom, 10) ?? share("hysteresis", u.hysteresis, 1) ??
    share("decay", u.decay, 1) ?? share("smoothing", u.smoothing, 1) ??
    (Array.isArray(u.warming) ? u.warming.map(checkWarming).find((r) => r !== undefined) : "warming must be an array")
}
