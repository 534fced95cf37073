/**
 * The configuration of a pool: sizes, timeouts, lifetimes, health checks and
 * retries. Give a partial `Input`; `make` fills in the defaults and checks every
 * field before any connection is opened.
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Schedule from "effect/Schedule"
import * as internal from "./internal/config.js"
import type { PoolConfigError } from "./PoolError.js"

/**
 * The configuration a user writes: every field optional, durations as
 * `DurationInput` ("30 seconds", 5000, `Duration.minutes(5)`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Input {
  /** Name used in errors, stats, metrics and spans. Default `"default"`. */
  readonly name?: string | undefined
  /** Connections kept open at all times, refilled after any close. Default 5. */
  readonly minConnections?: number | undefined
  /** Never more connections open at once, creations in flight included. Default 50. */
  readonly maxConnections?: number | undefined
  /** An idle connection above the minimum is closed after this. Default 5 minutes. */
  readonly maxIdleTime?: Duration.DurationInput | undefined
  /** Any connection is retired after this (minus a random jitter). Default 30 minutes. */
  readonly maxLifetime?: Duration.DurationInput | undefined
  /** Up to this much is taken off each connection's lifetime at random. Default 2.5% of `maxLifetime`. */
  readonly lifetimeJitter?: Duration.DurationInput | undefined
  /** How often idle connections are validated. Default 30 seconds. */
  readonly healthCheckInterval?: Duration.DurationInput | undefined
  /** Overrides `healthCheckInterval`: a round of health checks runs at each recurrence. */
  readonly healthCheckSchedule?: Schedule.Schedule<unknown, unknown> | undefined
  /** Bound on one validation; a check that takes longer fails. Default 5 seconds. */
  readonly validationTimeout?: Duration.DurationInput | undefined
  /** A connection idle for longer than this is validated before it is lent. Default 500 millis. */
  readonly validateAfterIdle?: Duration.DurationInput | undefined
  /** Bound on one connection attempt. Default 10 seconds. */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /** Bound on a caller's wait for a connection. Default 30 seconds. */
  readonly acquireTimeout?: Duration.DurationInput | undefined
  /** Base delay between connection attempts (exponential, jittered). Default 5 seconds. */
  readonly retryInterval?: Duration.DurationInput | undefined
  /** Attempts after the first before a creation fails. Default 3. */
  readonly maxRetries?: number | undefined
  /** Overrides `retryInterval` and `maxRetries`: delays between connection attempts. */
  readonly retrySchedule?: Schedule.Schedule<unknown, unknown> | undefined
  /** Callers allowed to wait at once; beyond it, acquisition fails at once. Default unlimited. */
  readonly maxWaiting?: number | undefined
  /** Connections being opened at once, at most (no login storm). Default 4. */
  readonly maxConnecting?: number | undefined
  /** How often `changes` publishes a new snapshot (when something changed). Default 1 second. */
  readonly statsInterval?: Duration.DurationInput | undefined
  /** On close, how long leases in use are waited for before their connections are cut. Default 30 seconds. */
  readonly shutdownTimeout?: Duration.DurationInput | undefined
  /**
   * A lease held longer than this is reported once as a possible leak (a warning with where it was
   * acquired, the `dbpool.connection.leaks` metric, a `LeakDetected` event), and its return is logged.
   * Default: off. Capturing where each lease was acquired costs a stack trace per acquisition while on.
   */
  readonly leakDetectionThreshold?: Duration.DurationInput | undefined
  /**
   * After this many consecutive failed connection attempts (retries included; any successful connect
   * resets the count) the circuit breaker opens: an acquisition that would need a new connection fails at
   * once with the last `ConnectError` instead of waiting for `acquireTimeout`. Default 5; `Infinity`
   * turns the breaker off.
   */
  readonly circuitBreakerThreshold?: number | undefined
  /** While the circuit is open, one connection attempt (a probe, never retried) is made this often. Default 1 second. */
  readonly circuitBreakerProbeInterval?: Duration.DurationInput | undefined
  /**
   * Overrides `circuitBreakerProbeInterval`: a probe at each recurrence, from the moment the circuit opens.
   * If the schedule ends, the circuit closes without a probe and callers' connections are attempted again.
   */
  readonly circuitBreakerSchedule?: Schedule.Schedule<unknown, unknown> | undefined
}

/**
 * A checked configuration with every default filled in.
 *
 * @since 0.1.0
 * @category models
 */
export interface PoolConfig {
  readonly name: string
  readonly minConnections: number
  readonly maxConnections: number
  readonly maxIdleTime: Duration.Duration
  readonly maxLifetime: Duration.Duration
  readonly lifetimeJitter: Duration.Duration
  readonly healthCheckInterval: Duration.Duration
  readonly healthCheckSchedule: Schedule.Schedule<unknown, unknown> | undefined
  readonly validationTimeout: Duration.Duration
  readonly validateAfterIdle: Duration.Duration
  readonly connectTimeout: Duration.Duration
  readonly acquireTimeout: Duration.Duration
  readonly retryInterval: Duration.Duration
  readonly maxRetries: number
  readonly retrySchedule: Schedule.Schedule<unknown, unknown> | undefined
  readonly maxWaiting: number
  readonly maxConnecting: number
  readonly statsInterval: Duration.Duration
  readonly shutdownTimeout: Duration.Duration
  readonly leakDetectionThreshold: Duration.Duration | undefined
  readonly circuitBreakerThreshold: number
  readonly circuitBreakerProbeInterval: Duration.Duration
  readonly circuitBreakerSchedule: Schedule.Schedule<unknown, unknown> | undefined
}

/**
 * The service under which a layer provides a checked configuration.
 *
 * @since 0.1.0
 * @category tags
 */
export const PoolConfig: Context.Tag<PoolConfig, PoolConfig> = internal.tag

/**
 * The defaults, as a table (see docs/core.md).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults: {
  readonly name: string
  readonly minConnections: number
  readonly maxConnections: number
  readonly maxIdleTime: Duration.DurationInput
  readonly maxLifetime: Duration.DurationInput
  readonly healthCheckInterval: Duration.DurationInput
  readonly validationTimeout: Duration.DurationInput
  readonly validateAfterIdle: Duration.DurationInput
  readonly connectTimeout: Duration.DurationInput
  readonly acquireTimeout: Duration.DurationInput
  readonly retryInterval: Duration.DurationInput
  readonly maxRetries: number
  readonly maxWaiting: number
  readonly maxConnecting: number
  readonly statsInterval: Duration.DurationInput
  readonly shutdownTimeout: Duration.DurationInput
  readonly circuitBreakerThreshold: number
  readonly circuitBreakerProbeInterval: Duration.DurationInput
} = internal.defaults

/**
 * Checks an input and fills in the defaults. Fails with `PoolConfigError`
 * naming the first invalid field.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as PoolConfig from "@dbpool/core/PoolConfig"
 *
 * const config = PoolConfig.make({ minConnections: 2, maxConnections: 20, acquireTimeout: "5 seconds" })
 * // fails with PoolConfigError { field: "minConnections", ... }
 * const bad = PoolConfig.make({ minConnections: 30, maxConnections: 20 })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (input?: Input | undefined) => Effect.Effect<PoolConfig, PoolConfigError> = internal.make

/**
 * Reads an `Input` from Effect `Config`. Keys are the field names in
 * CONSTANT_CASE (`MIN_CONNECTIONS`, `ACQUIRE_TIMEOUT`, ...), durations are
 * strings such as `"10 seconds"`, and every key is optional. With a prefix, the
 * keys are nested under it (`POOL_MAX_CONNECTIONS` for prefix `"POOL"` with the
 * environment provider).
 *
 * @example
 * ```ts
 * import * as PoolConfig from "@dbpool/core/PoolConfig"
 *
 * // DB_POOL_MAX_CONNECTIONS=20 DB_POOL_ACQUIRE_TIMEOUT="5 seconds"
 * const input = PoolConfig.config("DB_POOL")
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const config: (prefix?: string | undefined) => Config.Config<Input> = internal.config

/**
 * A layer providing a checked `PoolConfig` read from Effect `Config`.
 *
 * @example
 * ```ts
 * import * as PoolConfig from "@dbpool/core/PoolConfig"
 *
 * const ConfigLive = PoolConfig.layerConfig("DB_POOL")
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: (
  prefix?: string | undefined
) => Layer.Layer<PoolConfig, PoolConfigError | ConfigError.ConfigError> = internal.layerConfig

/**
 * A layer providing a checked `PoolConfig` from a literal input.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (input?: Input | undefined) => Layer.Layer<PoolConfig, PoolConfigError> = internal.layer
