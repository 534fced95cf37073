/**
 * A health observer: `PoolEvent.observe` turns an object of callbacks into a
 * subscriber of the pool's events — connections opened and closed (with the
 * reason), health checks, acquire timeouts, failed connects.
 *
 * Run: `npx tsx packages/examples/src/examples/health-observer.ts` (PostgreSQL on
 * 127.0.0.1:5432, or the server in `DATABASE_URL`)
 *
 * @since 0.1.0
 */
import * as PoolEvent from "@dbpool/core/PoolEvent"
import * as PgPool from "@dbpool/pg/PgPool"
import * as Pool from "@dbpool/sql/Pool"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { databaseUrl, runIfMain } from "./run.js"

/**
 * Health checks every 100 ms, so the example sees a few.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pool } from "@dbpool/sql"
 * import { PoolLive } from "@dbpool/examples/examples/health-observer"
 *
 * const open = Effect.provide(Effect.map(Pool.stats, (s) => s.totalConnections), PoolLive)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const PoolLive = PgPool.layer({
  url: databaseUrl(),
  applicationName: "dbpool-example-health-observer",
  pool: { name: "watched", minConnections: 2, maxConnections: 4, healthCheckInterval: "100 millis" }
})

/**
 * Watches the pool while one connection is invalidated by its user and the
 * health checks run.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { program, PoolLive } from "@dbpool/examples/examples/health-observer"
 *
 * const result = Effect.runPromise(Effect.provide(program, PoolLive))
 * ```
 *
 * @since 0.1.0
 * @category programs
 */
export const program = Effect.gen(function*() {
  const seen = { created: 0, closedBroken: 0, checks: 0, unhealthy: 0, timeouts: 0, connectFailures: 0 }
  yield* PoolEvent.observe(Pool.events, {
    onConnectionCreated: (e) =>
      Effect.zipRight(Effect.sync(() => seen.created++), Console.log(`opened ${e.connectionId}`)),
    onConnectionClosed: (e) =>
      Effect.zipRight(
        Effect.sync(() => e.reason === "broken" && seen.closedBroken++),
        Console.log(`closed ${e.connectionId}: ${e.reason}`)
      ),
    onHealthCheckCompleted: (e) =>
      Effect.zipRight(
        Effect.sync(() => {
          seen.checks++
          if (!e.healthy) seen.unhealthy++
        }),
        Console.log(`health check of ${e.connectionId}: ${e.healthy ? "healthy" : "UNHEALTHY"}`)
      ),
    onAcquireTimedOut: (e) =>
      Effect.zipRight(Effect.sync(() => seen.timeouts++), Console.log(`a caller gave up after ${e.waitTime} ms`)),
    onConnectFailed: (e) =>
      Effect.zipRight(Effect.sync(() => seen.connectFailures++), Console.log(`connect attempt ${e.attempt} failed`))
  }).pipe(Effect.forkScoped)
  yield* Effect.sleep("20 millis") // the observer is subscribed

  // A connection its user knows to be bad: closed as "broken", never lent again, replaced.
  const pool = yield* Pool.Pool
  yield* pool.use((lease) => pool.invalidate(lease))
  yield* Effect.sleep("350 millis") // a few rounds of health checks

  yield* Console.log(`${seen.checks} health checks, ${seen.unhealthy} unhealthy`)
  return {
    replacements: seen.created,
    closedBroken: seen.closedBroken,
    healthChecksRan: seen.checks > 0,
    unhealthy: seen.unhealthy,
    timeouts: seen.timeouts,
    connectFailures: seen.connectFailures
  }
}).pipe(Effect.scoped)

/**
 * @example
 * ```ts
 * import { NodeRuntime } from "@effect/platform-node"
 * import { main } from "@dbpool/examples/examples/health-observer"
 *
 * NodeRuntime.runMain(main)
 * ```
 *
 * @since 0.1.0
 * @category programs
 */
export const main = Effect.provide(program, PoolLive)

runIfMain(import.meta.url, main)
