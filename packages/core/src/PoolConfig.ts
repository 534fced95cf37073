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
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as internal from "./internal/config.js"
import type { PoolConfigError } from "./PoolError.js"

/**
 * The configuration a user writes: every field optional, durations as
 * `DurationInput` ("30 seconds", 5000, `Duration.minutes(5)`). Each field's
 * documentation gives its default; docs/core.md lists the rules. Unknown fields
 * are rejected.
 *
 * The fields are derived from the one table of settings (internal/config.ts),
 * which also gives the defaults, the validation and the Effect Config keys.
 *
 * @example
 * ```ts
 * import type * as PoolConfig from "@dbpool/core/PoolConfig"
 *
 * const input: PoolConfig.Input = { maxConnections: 20, acquireTimeout: "5 seconds", maxLifetime: "1 hour" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Input extends internal.Input {}

/**
 * A checked configuration with every default filled in: durations decoded, and
 * `undefined` only for the settings that are off unless given (the three
 * schedules and `leakDetectionThreshold`).
 *
 * @example
 * ```ts
 * import { Duration, Effect } from "effect"
 * import * as PoolConfig from "@dbpool/core/PoolConfig"
 *
 * const program = Effect.map(PoolConfig.make({ maxConnections: 3 }), (config) => ({
 *   min: config.minConnections, // 3: the default 5, capped at maxConnections
 *   acquireMillis: Duration.toMillis(config.acquireTimeout) // 30000
 * }))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface PoolConfig extends internal.Resolved {}

/**
 * The service under which a layer provides a checked configuration.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as PoolConfig from "@dbpool/core/PoolConfig"
 *
 * const size = Effect.map(PoolConfig.PoolConfig, (config) => config.maxConnections).pipe(
 *   Effect.provide(PoolConfig.layer({ maxConnections: 8 }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export const PoolConfig: Context.Tag<PoolConfig, PoolConfig> = internal.tag

/**
 * The documented defaults of the settings that have a fixed one, as written
 * (durations as `DurationInput`). `minConnections` is further capped at
 * `maxConnections`, and `lifetimeJitter` defaults to 2.5% of `maxLifetime`;
 * the schedules and `leakDetectionThreshold` are off unless given. Frozen.
 *
 * @example
 * ```ts
 * import * as PoolConfig from "@dbpool/core/PoolConfig"
 *
 * PoolConfig.defaults.maxConnections // 50
 * PoolConfig.defaults.acquireTimeout // "30 seconds"
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults: internal.Defaults = internal.defaults

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
 * @example
 * ```ts
 * import * as PoolConfig from "@dbpool/core/PoolConfig"
 *
 * const ConfigLive = PoolConfig.layer({ maxConnections: 10, acquireTimeout: "2 seconds" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (input?: Input | undefined) => Layer.Layer<PoolConfig, PoolConfigError> = internal.layer
