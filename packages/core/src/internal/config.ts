import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as PoolConfig from "../PoolConfig.js"
import { PoolConfigError } from "../PoolError.js"

export const defaults = {
  name: "default",
  minConnections: 5,
  maxConnections: 50,
  maxIdleTime: "5 minutes",
  maxLifetime: "30 minutes",
  healthCheckInterval: "30 seconds",
  validationTimeout: "5 seconds",
  validateAfterIdle: "500 millis",
  connectTimeout: "10 seconds",
  acquireTimeout: "30 seconds",
  retryInterval: "5 seconds",
  maxRetries: 3,
  maxWaiting: Number.POSITIVE_INFINITY,
  maxConnecting: 4,
  statsInterval: "1 second",
  shutdownTimeout: "30 seconds",
  circuitBreakerThreshold: 5,
  circuitBreakerProbeInterval: "1 second"
} as const

/** Share of `maxLifetime` taken as the default jitter, as HikariCP does. */
const defaultJitterShare = 0.025

const knownFields: ReadonlySet<string> = new Set([
  "name",
  "minConnections",
  "maxConnections",
  "maxIdleTime",
  "maxLifetime",
  "lifetimeJitter",
  "healthCheckInterval",
  "healthCheckSchedule",
  "validationTimeout",
  "validateAfterIdle",
  "connectTimeout",
  "acquireTimeout",
  "retryInterval",
  "maxRetries",
  "retrySchedule",
  "maxWaiting",
  "maxConnecting",
  "statsInterval",
  "shutdownTimeout",
  "leakDetectionThreshold",
  "circuitBreakerThreshold",
  "circuitBreakerProbeInterval",
  "circuitBreakerSchedule"
])

class Invalid {
  constructor(readonly error: PoolConfigError) {}
}

const invalid = (field: string, value: unknown, reason: string): never => {
  throw new Invalid(new PoolConfigError({ field, value, reason }))
}

const integer = (
  field: string,
  value: unknown,
  fallback: number,
  min: number,
  allowInfinity = false
): number => {
  if (value === undefined) return fallback
  if (typeof value !== "number") return invalid(field, value, "must be a number")
  if (Number.isNaN(value)) return invalid(field, value, "must be a number, not NaN")
  if (value === Number.POSITIVE_INFINITY && allowInfinity) return value
  if (!Number.isInteger(value)) return invalid(field, value, "must be a whole number")
  if (value < min) return invalid(field, value, `must be at least ${min}`)
  return value
}

type Bound = "positive" | "non-negative"

const duration = (field: string, value: unknown, fallback: Duration.DurationInput | undefined, bound: Bound) => {
  const input = value === undefined ? fallback : value
  if (input === undefined) return undefined
  if (typeof input === "number") {
    if (Number.isNaN(input)) return invalid(field, input, "must be a duration, not NaN")
    if (input < 0) return invalid(field, input, "must not be negative")
  } else if (typeof input === "bigint") {
    if (input < 0n) return invalid(field, input, "must not be negative")
  } else if (typeof input === "string") {
    if (/^\s*-/.test(input)) return invalid(field, input, "must not be negative")
    if (/^\s*infinity\s*$/i.test(input)) return Duration.infinity
    const trimmed = input.trim()
    if (trimmed !== input) return duration(field, trimmed, fallback, bound)
  } else if (Array.isArray(input)) {
    if (input.some((n) => typeof n !== "number" || Number.isNaN(n) || n < 0)) {
      return invalid(field, input, "must be a non-negative [seconds, nanos] pair")
    }
  }
  const decoded = Duration.decodeUnknown(input)
  if (Option.isNone(decoded)) {
    return invalid(field, input, "is not a duration (try \"10 seconds\", \"500 millis\" or a number of milliseconds)")
  }
  if (bound === "positive" && Duration.lessThanOrEqualTo(decoded.value, Duration.zero)) {
    return invalid(field, input, "must be greater than zero")
  }
  return decoded.value
}

const required = (field: string, value: unknown, fallback: Duration.DurationInput, bound: Bound): Duration.Duration =>
  duration(field, value, fallback, bound)!

const schedule = (field: string, value: unknown): Schedule.Schedule<unknown, unknown> | undefined => {
  if (value === undefined) return undefined
  if (!Schedule.isSchedule(value)) return invalid(field, value, "must be a Schedule")
  return value as Schedule.Schedule<unknown, unknown>
}

/** Checks every field, in the order of the documentation, and fills in the defaults. */
export const validate = (input: PoolConfig.Input = {}): PoolConfig.PoolConfig => {
  if (typeof input !== "object" || input === null) invalid("config", input, "must be an object")
  for (const key of Object.keys(input)) {
    if (!knownFields.has(key)) invalid(key, (input as Record<string, unknown>)[key], "is not a known setting")
  }
  const name = input.name ?? defaults.name
  if (typeof name !== "string" || name.length === 0) invalid("name", name, "must be a non-empty string")
  const maxConnections = integer("maxConnections", input.maxConnections, defaults.maxConnections, 1)
  const minConnections = integer(
    "minConnections",
    input.minConnections,
    Math.min(defaults.minConnections, maxConnections),
    0
  )
  if (minConnections > maxConnections) {
    invalid("minConnections", minConnections, `must not exceed maxConnections (${maxConnections})`)
  }
  const maxIdleTime = required("maxIdleTime", input.maxIdleTime, defaults.maxIdleTime, "positive")
  const maxLifetime = required("maxLifetime", input.maxLifetime, defaults.maxLifetime, "positive")
  const defaultJitter = Duration.isFinite(maxLifetime)
    ? Duration.millis(Duration.toMillis(maxLifetime) * defaultJitterShare)
    : Duration.zero
  const lifetimeJitter = required("lifetimeJitter", input.lifetimeJitter, defaultJitter, "non-negative")
  if (!Duration.isFinite(lifetimeJitter)) invalid("lifetimeJitter", input.lifetimeJitter, "must be finite")
  if (Duration.isFinite(maxLifetime) && Duration.greaterThanOrEqualTo(lifetimeJitter, maxLifetime)) {
    invalid("lifetimeJitter", input.lifetimeJitter, `must be less than maxLifetime (${Duration.format(maxLifetime)})`)
  }
  return {
    name,
    minConnections,
    maxConnections,
    maxIdleTime,
    maxLifetime,
    lifetimeJitter,
    healthCheckInterval: required(
      "healthCheckInterval",
      input.healthCheckInterval,
      defaults.healthCheckInterval,
      "positive"
    ),
    healthCheckSchedule: schedule("healthCheckSchedule", input.healthCheckSchedule),
    validationTimeout: required("validationTimeout", input.validationTimeout, defaults.validationTimeout, "positive"),
    validateAfterIdle: required(
      "validateAfterIdle",
      input.validateAfterIdle,
      defaults.validateAfterIdle,
      "non-negative"
    ),
    connectTimeout: required("connectTimeout", input.connectTimeout, defaults.connectTimeout, "positive"),
    acquireTimeout: required("acquireTimeout", input.acquireTimeout, defaults.acquireTimeout, "positive"),
    retryInterval: required("retryInterval", input.retryInterval, defaults.retryInterval, "non-negative"),
    maxRetries: integer("maxRetries", input.maxRetries, defaults.maxRetries, 0),
    retrySchedule: schedule("retrySchedule", input.retrySchedule),
    maxWaiting: integer("maxWaiting", input.maxWaiting, defaults.maxWaiting, 0, true),
    maxConnecting: integer("maxConnecting", input.maxConnecting, defaults.maxConnecting, 1),
    statsInterval: required("statsInterval", input.statsInterval, defaults.statsInterval, "positive"),
    shutdownTimeout: required("shutdownTimeout", input.shutdownTimeout, defaults.shutdownTimeout, "non-negative"),
    leakDetectionThreshold: duration("leakDetectionThreshold", input.leakDetectionThreshold, undefined, "positive"),
    circuitBreakerThreshold: integer(
      "circuitBreakerThreshold",
      input.circuitBreakerThreshold,
      defaults.circuitBreakerThreshold,
      1,
      true
    ),
    circuitBreakerProbeInterval: required(
      "circuitBreakerProbeInterval",
      input.circuitBreakerProbeInterval,
      defaults.circuitBreakerProbeInterval,
      "positive"
    ),
    circuitBreakerSchedule: schedule("circuitBreakerSchedule", input.circuitBreakerSchedule)
  }
}

export const make = (input?: PoolConfig.Input): Effect.Effect<PoolConfig.PoolConfig, PoolConfigError> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(validate(input))
    } catch (e) {
      if (e instanceof Invalid) return Effect.fail(e.error)
      throw e
    }
  })

const optionalDuration = (key: string) =>
  Config.string(key).pipe(
    Config.map((s): Duration.DurationInput =>
      /^\s*\d+(\.\d+)?\s*$/.test(s) ? Number(s) : (s as Duration.DurationInput)
    ),
    Config.option,
    Config.map(Option.getOrUndefined)
  )

const optionalNumber = (key: string) => Config.number(key).pipe(Config.option, Config.map(Option.getOrUndefined))

export const config = (prefix?: string): Config.Config<PoolConfig.Input> => {
  const all = Config.all({
    name: Config.string("NAME").pipe(Config.option, Config.map(Option.getOrUndefined)),
    minConnections: optionalNumber("MIN_CONNECTIONS"),
    maxConnections: optionalNumber("MAX_CONNECTIONS"),
    maxIdleTime: optionalDuration("MAX_IDLE_TIME"),
    maxLifetime: optionalDuration("MAX_LIFETIME"),
    lifetimeJitter: optionalDuration("LIFETIME_JITTER"),
    healthCheckInterval: optionalDuration("HEALTH_CHECK_INTERVAL"),
    validationTimeout: optionalDuration("VALIDATION_TIMEOUT"),
    validateAfterIdle: optionalDuration("VALIDATE_AFTER_IDLE"),
    connectTimeout: optionalDuration("CONNECT_TIMEOUT"),
    acquireTimeout: optionalDuration("ACQUIRE_TIMEOUT"),
    retryInterval: optionalDuration("RETRY_INTERVAL"),
    maxRetries: optionalNumber("MAX_RETRIES"),
    maxWaiting: optionalNumber("MAX_WAITING"),
    maxConnecting: optionalNumber("MAX_CONNECTING"),
    statsInterval: optionalDuration("STATS_INTERVAL"),
    shutdownTimeout: optionalDuration("SHUTDOWN_TIMEOUT"),
    leakDetectionThreshold: optionalDuration("LEAK_DETECTION_THRESHOLD"),
    circuitBreakerThreshold: optionalNumber("CIRCUIT_BREAKER_THRESHOLD"),
    circuitBreakerProbeInterval: optionalDuration("CIRCUIT_BREAKER_PROBE_INTERVAL")
  })
  const read = prefix === undefined ? all : Config.nested(all, prefix)
  // Absent keys stay absent, so that the defaults apply and unknown-key checks stay quiet.
  return Config.map(read, (values) => {
    const input: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(values)) if (value !== undefined) input[key] = value
    return input as PoolConfig.Input
  })
}

export const tag = Context.GenericTag<PoolConfig.PoolConfig>("@dbpool/core/PoolConfig")

export const layer = (input?: PoolConfig.Input) => Layer.effect(tag, make(input))

export const layerConfig = (prefix?: string) => Layer.effect(tag, Effect.flatMap(config(prefix), make))
