import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as PoolConfig from "../PoolConfig.js"
import type { PoolConfigError } from "../PoolError.js"
import * as group from "./poolGroup.js"
import * as Setting from "./setting.js"

/** Share of `maxLifetime` taken as the default jitter, as HikariCP does. */
const defaultJitterShare = 0.025

/**
 * Every setting of the pool, described once: its kind, bounds, default and doc line. The types `Input` and
 * `PoolConfig`, the `defaults`, the unknown-field check, the validation and the reading from Effect Config
 * (key: the field in CONSTANT_CASE) are all derived from this table, and the doc comments reach the users
 * through the derived types. To add a setting, add an entry here (and its row in docs/core.md, which a test
 * checks). Fields are checked in this order; `defaultFrom` and `relation` may read only earlier fields.
 */
export const fields = {
  /** Name used in errors, stats, metrics and spans. Default `"default"`. */
  name: Setting.text({ default: "default" }),
  /** Never more connections open at once, creations in flight included. Default 50. */
  maxConnections: Setting.count({ default: 50, min: 1 }),
  /** Connections kept open at all times, refilled after any close. Default 5, or `maxConnections` if smaller. */
  minConnections: Setting.count({
    default: 5,
    min: 0,
    defaultFrom: (earlier: { readonly maxConnections: number }, fixed) => Math.min(fixed, earlier.maxConnections),
    relation: (min, { maxConnections }) =>
      min > maxConnections ? `must not exceed maxConnections (${maxConnections})` : undefined
  }),
  /** An idle connection above the minimum is closed after this. Default 5 minutes. */
  maxIdleTime: Setting.duration({ default: "5 minutes", bound: "positive" }),
  /** Any connection is retired after this (minus a random jitter). Default 30 minutes. */
  maxLifetime: Setting.duration({ default: "30 minutes", bound: "positive" }),
  /** Up to this much is taken off each connection's lifetime at random. Default 2.5% of `maxLifetime`. */
  lifetimeJitter: Setting.duration({
    default: undefined,
    bound: "non-negative",
    finite: true,
    defaultFrom: ({ maxLifetime }: { readonly maxLifetime: Duration.Duration }) =>
      Duration.isFinite(maxLifetime) ? Duration.millis(Duration.toMillis(maxLifetime) * defaultJitterShare) : 0,
    relation: (jitter, { maxLifetime }) =>
      Duration.isFinite(maxLifetime) && Duration.greaterThanOrEqualTo(jitter, maxLifetime)
        ? `must be less than maxLifetime (${Duration.format(maxLifetime)})`
        : undefined
  }),
  /** How often idle connections are validated. Default 30 seconds. */
  healthCheckInterval: Setting.duration({ default: "30 seconds", bound: "positive" }),
  /** Overrides `healthCheckInterval`: a round of health checks runs at each recurrence. */
  healthCheckSchedule: Setting.schedule(),
  /** Bound on one validation; a check that takes longer fails. Default 5 seconds. */
  validationTimeout: Setting.duration({ default: "5 seconds", bound: "positive" }),
  /** A connection idle for longer than this is validated before it is lent. Default 500 millis. */
  validateAfterIdle: Setting.duration({ default: "500 millis", bound: "non-negative" }),
  /** Bound on one connection attempt. Default 10 seconds. */
  connectTimeout: Setting.duration({ default: "10 seconds", bound: "positive" }),
  /** Bound on a caller's wait for a connection. Default 30 seconds. */
  acquireTimeout: Setting.duration({ default: "30 seconds", bound: "positive" }),
  /** Base delay between connection attempts (exponential, jittered). Default 5 seconds. */
  retryInterval: Setting.duration({ default: "5 seconds", bound: "non-negative" }),
  /** Attempts after the first before a creation fails. Default 3. */
  maxRetries: Setting.count({ default: 3, min: 0 }),
  /** Overrides `retryInterval` and `maxRetries`: delays between connection attempts. */
  retrySchedule: Setting.schedule(),
  /** Callers allowed to wait at once; beyond it, acquisition fails at once. Default unlimited (`Infinity`). */
  maxWaiting: Setting.count({ default: Number.POSITIVE_INFINITY, min: 0, infinite: true }),
  /** Connections being opened at once, at most (no login storm). Default 4. */
  maxConnecting: Setting.count({ default: 4, min: 1 }),
  /** How often `changes` publishes a new snapshot (when something changed). Default 1 second. */
  statsInterval: Setting.duration({ default: "1 second", bound: "positive" }),
  /** On close, how long leases in use are waited for before their connections are cut. Default 30 seconds. */
  shutdownTimeout: Setting.duration({ default: "30 seconds", bound: "non-negative" }),
  /**
   * A lease held longer than this is reported once as a possible leak (a warning with where it was
   * acquired, the `dbpool.connection.leaks` metric, a `LeakDetected` event), and its return is logged.
   * Default: off. Capturing where each lease was acquired costs a stack trace per acquisition while on.
   */
  leakDetectionThreshold: Setting.optionalDuration({ bound: "positive" }),
  /**
   * After this many consecutive failed connection attempts (retries included; any successful connect
   * resets the count) the circuit breaker opens: an acquisition that would need a new connection fails at
   * once with the last `ConnectError` instead of waiting for `acquireTimeout`. Default 5; `Infinity`
   * turns the breaker off.
   */
  circuitBreakerThreshold: Setting.count({ default: 5, min: 1, infinite: true }),
  /** While the circuit is open, one connection attempt (a probe, never retried) is made this often. Default 1 second. */
  circuitBreakerProbeInterval: Setting.duration({ default: "1 second", bound: "positive" }),
  /**
   * Overrides `circuitBreakerProbeInterval`: a probe at each recurrence, from the moment the circuit opens.
   * If the schedule ends, the circuit closes without a probe and callers' connections are attempted again.
   */
  circuitBreakerSchedule: Setting.schedule(),
  /**
   * Joins a `PoolGroup` (or `PoolGroup.member(group, { floor, ceiling })`): one connection budget shared
   * with the group's other pools; the pool's floor defaults to `minConnections`, its ceiling to
   * `maxConnections`. Default: no group.
   */
  group: Setting.value(
    group.isGroupSetting,
    "must be a PoolGroup (PoolGroup.make) or a membership (PoolGroup.member)",
    (value, earlier: { readonly minConnections: number; readonly maxConnections: number }) =>
      group.checkSetting(value, earlier)
  ),
  /**
   * How many connections are kept open: `PoolSizing.fixed` (the default: `minConnections`, more on demand)
   * or `PoolSizing.adaptive(...)`, a controller that moves the number kept open between `minConnections`
   * and `maxConnections` from measured demand and warming policies.
   */
  sizing: Setting.sizing()
}

type Fields = typeof fields

/** What a user writes: every field optional. */
export type Input = { readonly [K in keyof Fields]?: Setting.InputOf<Fields[K]> | undefined }

/** The checked configuration: every field resolved. */
export type Resolved = { readonly [K in keyof Fields]: Setting.OutputOf<Fields[K]> }

/** The documented defaults: the fields with a fixed default. */
export type Defaults = {
  readonly [K in keyof Fields as Setting.DefaultOf<Fields[K]> extends undefined ? never : K]: Setting.InputOf<
    Fields[K]
  >
}

/** Every setting, as the checked configuration can serve what its `defaultFrom` and `relation` read. */
type Table = { readonly [K in keyof Fields]: Setting.Setting<any, any, any, Resolved> }

// `satisfies` makes tsc reject a `defaultFrom` or `relation` that reads a field the table lacks.
const entries = Object.entries(fields satisfies Table) as ReadonlyArray<readonly [keyof Fields, Setting.Any]>

export const defaults: Defaults = Object.freeze(
  Object.fromEntries(entries.filter(([, setting]) => setting.default !== undefined).map(([f, s]) => [f, s.default]))
) as Defaults

/** Checks one field, given or default, against its kind and the earlier fields. */
const resolve = (field: string, setting: Setting.Any, given: unknown, earlier: Record<string, unknown>): unknown => {
  const value = given !== undefined
    ? given
    : setting.defaultFrom !== undefined
    ? setting.defaultFrom(earlier, setting.default)
    : setting.default
  if (value === undefined) return undefined
  const checked = setting.check(field, value)
  const broken = setting.relation?.(checked, earlier)
  if (broken !== undefined) Setting.invalid(field, given ?? checked, broken)
  return checked
}

/** Rejects unknown fields, then checks every field in the order of the table and fills in the defaults. */
export const validate = (input: PoolConfig.Input = {}): PoolConfig.PoolConfig => {
  if (typeof input !== "object" || input === null) Setting.invalid("config", input, "must be an object")
  const given = input as Record<string, unknown>
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(fields, key)) Setting.invalid(key, given[key], "is not a known setting")
  }
  const checked: Record<string, unknown> = {}
  for (const [field, setting] of entries) checked[field] = resolve(field, setting, given[field], checked)
  return checked as unknown as PoolConfig.PoolConfig
}

export const make = (input?: PoolConfig.Input): Effect.Effect<PoolConfig.PoolConfig, PoolConfigError> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(validate(input))
    } catch (e) {
      if (e instanceof Setting.Invalid) return Effect.fail(e.error)
      throw e
    }
  })

/** The Effect Config key of a field: `maxIdleTime` is read as `MAX_IDLE_TIME`. */
export const configKey = (field: string): string => field.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()

export const config = (prefix?: string): Config.Config<PoolConfig.Input> => {
  const readers: Record<string, Config.Config<unknown>> = {}
  for (const [field, setting] of entries) {
    if (setting.read !== undefined) readers[field] = setting.read(configKey(field))
  }
  const all = Config.all(readers)
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
