/**
 * Monitoring: the live statistics (`Pool.changes`, one snapshot per
 * `statsInterval` when something changed) and every event of the pool
 * (`Pool.events`), followed while the program works.
 *
 * Run: `npx tsx packages/examples/src/examples/monitoring.ts` (PostgreSQL on
 * 127.0.0.1:5432, or the server in `DATABASE_URL`)
 *
 * @since 0.1.0
 */
import type { PoolStats } from "@dbpool/core/PoolStats"
import * as PgPool from "@dbpool/pg/PgPool"
import * as Pool from "@dbpool/sql/Pool"
import * as Chunk from "effect/Chunk"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { databaseUrl, runIfMain } from "./run.js"

/**
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pool } from "@dbpool/sql"
 * import { PoolLive } from "@dbpool/examples/examples/monitoring"
 *
 * const open = Effect.provide(Effect.map(Pool.stats, (s) => s.totalConnections), PoolLive)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const PoolLive = PgPool.layer({
  url: databaseUrl(),
  applicationName: "dbpool-example-monitoring",
  pool: { name: "monitored", minConnections: 1, maxConnections: 4, statsInterval: "50 millis" }
})

const tasks = 20

const line = (s: PoolStats) =>
  `stats: ${s.activeConnections} active, ${s.idleConnections} idle, ${s.totalConnections}/${s.maxConnections} open, ` +
  `${s.waitingRequests} waiting, ${s.successfulRequests} served`

/**
 * Follows stats and events while 20 tasks run, 4 at a time.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { program, PoolLive } from "@dbpool/examples/examples/monitoring"
 *
 * const result = Effect.runPromise(Effect.provide(program, PoolLive))
 * ```
 *
 * @since 0.1.0
 * @category programs
 */
export const program = Effect.gen(function*() {
  // Print each snapshot until the work is over (everything served, nothing in use).
  const statsWatcher = yield* Pool.changes.pipe(
    Stream.tap((s) => Console.log(line(s))),
    Stream.takeUntil((s) => s.successfulRequests >= tasks && s.activeConnections === 0),
    Stream.runCollect,
    Effect.fork
  )
  // Print the acquisitions and releases: two events per task.
  const eventWatcher = yield* Pool.events.pipe(
    Stream.filter((e) => e._tag === "ConnectionAcquired" || e._tag === "ConnectionReleased"),
    Stream.tap((e) =>
      Console.log(
        e._tag === "ConnectionAcquired"
          ? `event: ${e.connectionId} acquired after waiting ${e.waitTime.toFixed(1)} ms`
          : e._tag === "ConnectionReleased"
          ? `event: ${e.connectionId} released after ${e.useTime.toFixed(1)} ms of use`
          : ""
      )
    ),
    Stream.take(tasks * 2),
    Stream.runCollect,
    Effect.fork
  )
  yield* Effect.sleep("20 millis") // both subscriptions are in place before the work starts

  yield* Effect.forEach(
    Array.from({ length: tasks }, (_, i) => i),
    (i) => Pool.withConnection((conn) => Effect.zipRight(conn.sql`SELECT ${i}::int AS i`, Effect.sleep("5 millis"))),
    { concurrency: 4, discard: true }
  )

  const snapshots = Chunk.toReadonlyArray(yield* Fiber.join(statsWatcher))
  const events = Chunk.toReadonlyArray(yield* Fiber.join(eventWatcher))
  const last = snapshots[snapshots.length - 1]
  return {
    acquired: events.filter((e) => e._tag === "ConnectionAcquired").length,
    released: events.filter((e) => e._tag === "ConnectionReleased").length,
    snapshots: snapshots.length,
    served: last.successfulRequests,
    openAtEnd: last.totalConnections
  }
})

/**
 * @example
 * ```ts
 * import { NodeRuntime } from "@effect/platform-node"
 * import { main } from "@dbpool/examples/examples/monitoring"
 *
 * NodeRuntime.runMain(main)
 * ```
 *
 * @since 0.1.0
 * @category programs
 */
export const main = Effect.provide(program, PoolLive)

runIfMain(import.meta.url, main)
