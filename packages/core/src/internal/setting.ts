/**
 * The kinds of value a pool setting can hold: a name, a count, a duration, an optional duration, a
 * Schedule. Each kind checks and resolves what a user gave and reads it from Effect Config; the table
 * of settings in config.ts gives each field a kind, its bounds and its default.
 */
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { PoolConfigError } from "../PoolError.js"
import type * as PoolSizing from "../PoolSizing.js"
import * as sizingInternal from "./sizing.js"

/** Thrown by a check and caught once by `make`: a throw keeps every check a plain function. */
export class Invalid {
  constructor(readonly error: PoolConfigError) {}
}

export const invalid = (field: string, value: unknown, reason: string): never => {
  throw new Invalid(new PoolConfigError({ field, value, reason }))
}

/**
 * One setting of the pool. `I` is what a user writes, `O` what the checked configuration holds, `D` the
 * documented default (`undefined` when there is none, or when `defaultFrom` computes it), and `E` the
 * fields earlier in the table that `defaultFrom` and `relation` read (already checked by then).
 */
export interface Setting<I, O, D extends I | undefined, E> {
  readonly default: D
  /** Absent means off (the checked value is `undefined`), rather than a default. */
  readonly optional: boolean
  /** Checks a value, given or default (never `undefined`), and resolves it; throws `Invalid`. */
  readonly check: (field: string, value: unknown) => O
  /** The default, when it depends on earlier fields (`fixed` is the documented default). */
  readonly defaultFrom: ((earlier: E, fixed: D) => I) | undefined
  /** A rule between this field and earlier ones: why the checked value breaks it, or `undefined`. */
  readonly relation: ((value: O, earlier: E) => string | undefined) | undefined
  /** Reads the value from Effect Config, `undefined` if absent; `undefined` for values text cannot express. */
  readonly read: ((key: string) => Config.Config<I | undefined>) | undefined
}

/** Any setting, as the table's derivations handle them. */
export type Any = Setting<any, any, any, any>

/** What a user writes for a setting. */
export type InputOf<S> = S extends Setting<infer I, any, any, any> ? I : never

/** What the checked configuration holds for a setting. */
export type OutputOf<S> = S extends Setting<any, infer O, any, any> ? O : never

/** The documented default of a setting (`undefined`: none). */
export type DefaultOf<S> = S extends Setting<any, any, infer D, any> ? D : never

/** What every kind accepts besides its bounds: a default, computed or not, and a rule against earlier fields. */
interface Options<I, O, D, E> {
  readonly default: D
  readonly defaultFrom?: ((earlier: E, fixed: D) => I) | undefined
  readonly relation?: ((value: O, earlier: E) => string | undefined) | undefined
}

const optional = <A>(config: Config.Config<A>): Config.Config<A | undefined> =>
  config.pipe(Config.option, Config.map(Option.getOrUndefined))

/** A non-empty string. */
export const text = <D extends string, E = unknown>(
  options: Options<string, string, D, E>
): Setting<string, string, D, E> => ({
  default: options.default,
  optional: false,
  check: (field, value) =>
    typeof value === "string" && value.length > 0 ? value : invalid(field, value, "must be a non-empty string"),
  defaultFrom: options.defaultFrom,
  relation: options.relation,
  read: (key) => optional(Config.string(key))
})

/** A whole number of at least `min`; `infinite` also accepts `Infinity` (no limit). */
export const count = <D extends number, E = unknown>(
  options: Options<number, number, D, E> & { readonly min: number; readonly infinite?: boolean | undefined }
): Setting<number, number, D, E> => ({
  default: options.default,
  optional: false,
  check: (field, value) => {
    if (typeof value !== "number") return invalid(field, value, "must be a number")
    if (Number.isNaN(value)) return invalid(field, value, "must be a number, not NaN")
    if (value === Number.POSITIVE_INFINITY && options.infinite === true) return value
    if (!Number.isInteger(value)) return invalid(field, value, "must be a whole number")
    if (value < options.min) return invalid(field, value, `must be at least ${options.min}`)
    return value
  },
  defaultFrom: options.defaultFrom,
  relation: options.relation,
  read: (key) => optional(Config.number(key))
})

/** Whether zero is a valid duration for the setting. */
export type Bound = "positive" | "non-negative"

interface DurationOptions {
  readonly bound: Bound
  /** Rejects an infinite duration. */
  readonly finite?: boolean | undefined
}

/** A duration, with a default (given or computed). */
export const duration = <D extends Duration.DurationInput | undefined, E = unknown>(
  options: Options<Duration.DurationInput, Duration.Duration, D, E> & DurationOptions
): Setting<Duration.DurationInput, Duration.Duration, D, E> => ({
  default: options.default,
  optional: false,
  check: (field, value) => checkDuration(field, value, options),
  defaultFrom: options.defaultFrom,
  relation: options.relation,
  read: readDuration
})

/** A duration that is off unless given. */
export const optionalDuration = (
  options: DurationOptions
): Setting<Duration.DurationInput, Duration.Duration | undefined, undefined, unknown> => ({
  default: undefined,
  optional: true,
  check: (field, value) => checkDuration(field, value, options),
  defaultFrom: undefined,
  relation: undefined,
  read: readDuration
})

type AnySchedule = Schedule.Schedule<unknown, unknown>

/** A Schedule that overrides other settings when given. Text cannot express one, so Config never reads it. */
export const schedule = (): Setting<AnySchedule, AnySchedule | undefined, undefined, unknown> => ({
  default: undefined,
  optional: true,
  check: (field, value) =>
    Schedule.isSchedule(value) ? value as AnySchedule : invalid(field, value, "must be a Schedule"),
  defaultFrom: undefined,
  relation: undefined,
  read: undefined
})

/** How the pool is sized (PoolSizing); off means fixed. Text cannot express one, so Config never reads it. */
export const sizing = (): Setting<PoolSizing.PoolSizing, PoolSizing.PoolSizing | undefined, undefined, unknown> => ({
  default: undefined,
  optional: true,
  check: (field, value) => {
    const broken = sizingInternal.check(value)
    return broken === undefined ? value as PoolSizing.PoolSizing : invalid(field, value, broken)
  },
  defaultFrom: undefined,
  relation: undefined,
  read: undefined
})

/** A bare number from the environment is milliseconds, as a number is in code. */
const readDuration = (key: string): Config.Config<Duration.DurationInput | undefined> =>
  optional(
    Config.string(key).pipe(
      Config.map((s): Duration.DurationInput =>
        /^\s*\d+(\.\d+)?\s*$/.test(s) ? Number(s) : (s as Duration.DurationInput)
      )
    )
  )

const checkDuration = (field: string, input: unknown, options: DurationOptions): Duration.Duration => {
  const decoded = decodeDuration(field, input)
  if (options.bound === "positive" && Duration.lessThanOrEqualTo(decoded, Duration.zero)) {
    return invalid(field, input, "must be greater than zero")
  }
  if (options.finite === true && !Duration.isFinite(decoded)) return invalid(field, input, "must be finite")
  return decoded
}

/**
 * `Duration.decodeUnknown` turns a negative number or string into zero, rejects surrounding spaces and says
 * nothing of why it fails: negative and malformed values are caught first, each with its own reason. A
 * string may carry spaces (as it comes from the environment) and may be "Infinity" in any case.
 */
const decodeDuration = (field: string, input: unknown): Duration.Duration => {
  if (typeof input === "number") {
    if (Number.isNaN(input)) return invalid(field, input, "must be a duration, not NaN")
    if (input < 0) return invalid(field, input, "must not be negative")
  } else if (typeof input === "bigint") {
    if (input < 0n) return invalid(field, input, "must not be negative")
  } else if (typeof input === "string") {
    if (/^\s*-/.test(input)) return invalid(field, input, "must not be negative")
    if (/^\s*infinity\s*$/i.test(input)) return Duration.infinity
  } else if (Array.isArray(input)) {
    if (input.some((n) => typeof n !== "number" || Number.isNaN(n) || n < 0)) {
      return invalid(field, input, "must be a non-negative [seconds, nanos] pair")
    }
  }
  const decoded = Duration.decodeUnknown(typeof input === "string" ? input.trim() : input)
  if (Option.isNone(decoded)) {
    return invalid(field, input, "is not a duration (try \"10 seconds\", \"500 millis\" or a number of milliseconds)")
  }
  return decoded.value
}

/**
 * A value only code can give (a `PoolGroup`), recognised by `is`; off unless given. Config never reads it.
 */
export const value = <T, E = unknown>(
  is: (u: unknown) => u is T,
  expected: string,
  relation?: ((value: T, earlier: E) => string | undefined) | undefined
): Setting<T, T | undefined, undefined, E> => ({
  default: undefined,
  optional: true,
  check: (field, value) => is(value) ? value : invalid(field, value, expected),
  defaultFrom: undefined,
  relation: relation === undefined ? undefined : (v, earlier) => v === undefined ? undefined : relation(v, earlier),
  read: undefined
})
