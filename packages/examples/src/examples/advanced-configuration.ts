/**
 * Advanced configuration: every pool setting spelled out, session set-up on
 * each new connection (`onConnect`), and the same settings read from the
 * environment (`POOL_MAX_CONNECTIONS=20`, `POOL_ACQUIRE_TIMEOUT="3 seconds"`, ...).
 *
 * Run: `npx tsx packages/examples/src/examples/advanced-configuration.ts` (PostgreSQL on
 * 127.0.0.1:5432, or the server in `DATABASE_URL`)
 *
 * @since 0.1.0
 */
import * as PoolConfig from "@dbpool/core/PoolConfig"
import * as PgPool from "@dbpool/pg/PgPool"
import * as Pool from "@dbpool/sql/Pool"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { databaseUrl, runIfMain } from "./run.js"

/**
 * Every setting of the pool, with what it does.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pool } from "@dbpool/sql"
 * import { PoolLive } from "@dbpool/examples/examples/advanced-configuration"
 *
 * const open = Effect.provide(Effect.map(Pool.stats, (s) => s.totalConnections), PoolLive)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const PoolLive = PgPool.layer({
  url: databaseUrl(),
  applicationName: "dbpool-example-advanced-configuration",
  // Run on each new connection before its first use.
  onConnect: (client) => Effect.tryPromise(() => client.query("SET statement_timeout = '5s'")),
  pool: {
    name: "orders", //                  in errors, stats, metrics and spans
    minConnections: 2, //               kept open (warm), refilled after any close
    maxConnections: 8, //               never more open at once, connects in flight included
    maxIdleTime: "1 minute", //         idle above the minimum for longer: closed
    maxLifetime: "10 minutes", //       any connection retired after this ...
    lifetimeJitter: "30 seconds", //    ... minus up to this much, so they do not all renew at once
    healthCheckInterval: "15 seconds", // idle connections validated this often
    validationTimeout: "1 second", //   a health check slower than this fails
    validateAfterIdle: "500 millis", // idle longer than this: validated before it is lent
    connectTimeout: "3 seconds", //     bound on one connection attempt
    acquireTimeout: "2 seconds", //     bound on a caller's wait
    retryInterval: "200 millis", //     first delay between attempts (then exponential, jittered)
    maxRetries: 2, //                   attempts after the first
    maxWaiting: 100, //                 callers allowed to wait; beyond it fail at once (PoolExhaustedError)
    maxConnecting: 2, //                connects in flight at once (no login storm)
    statsInterval: "250 millis", //     how often Pool.changes publishes
    shutdownTimeout: "5 seconds" //     on close, how long leases in use are waited for
  }
})

/**
 * The same pool with its settings read from the environment (prefix `POOL_`):
 * unset keys keep their defaults, invalid ones fail with `PoolConfigError`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { program, PoolFromEnv } from "@dbpool/examples/examples/advanced-configuration"
 *
 * // POOL_MAX_CONNECTIONS=3 POOL_NAME=orders npx tsx my-program.ts
 * const fromEnv = Effect.provide(program, PoolFromEnv)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const PoolFromEnv = PgPool.layerConfig({
  url: Config.redacted("DATABASE_URL").pipe(Config.withDefault(databaseUrl())),
  applicationName: Config.succeed("dbpool-example-advanced-configuration"),
  pool: PoolConfig.config("POOL")
})

/**
 * Shows the settings in force and that `onConnect` ran.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { program, PoolLive } from "@dbpool/examples/examples/advanced-configuration"
 *
 * const result = Effect.runPromise(Effect.provide(program, PoolLive))
 * ```
 *
 * @since 0.1.0
 * @category programs
 */
export const program = Effect.gen(function*() {
  const pool = yield* Pool.Pool
  const sql = yield* SqlClient.SqlClient
  const [{ statement_timeout }] = yield* sql<{ statement_timeout: string }>`SHOW statement_timeout`
  const { acquireTimeout, maxConnections, minConnections, name } = pool.config
  yield* Console.log(
    `pool "${name}": ${minConnections}..${maxConnections} connections, callers wait at most ` +
      `${Duration.format(acquireTimeout)}; statement_timeout = ${statement_timeout}`
  )
  return { name, minConnections, maxConnections, statementTimeout: statement_timeout }
})

/**
 * @example
 * ```ts
 * import { NodeRuntime } from "@effect/platform-node"
 * import { main } from "@dbpool/examples/examples/advanced-configuration"
 *
 * NodeRuntime.runMain(main)
 * ```
 *
 * @since 0.1.0
 * @category programs
 */
export const main = Effect.provide(program, PoolLive)

runIfMain(import.meta.url, main)
