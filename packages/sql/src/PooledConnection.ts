/**
 * One connection lent by the pool: its id, an @effect/sql `SqlClient` bound to
 * it alone, and the driver's own client for what @effect/sql does not cover.
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"

/**
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pool } from "@dbpool/sql"
 *
 * const names = Pool.withConnection((conn) =>
 *   Effect.gen(function*() {
 *     yield* Effect.log(`running on ${conn.id}`)
 *     return yield* conn.sql<{ name: string }>`SELECT name FROM users`
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface PooledConnection<Native = unknown> {
  /** The connection's id in the pool (`<pool name>-<n>`), stable for its whole life. */
  readonly id: string
  /** A client whose every statement runs on this connection. */
  readonly sql: SqlClient.SqlClient
  /** The driver's own connection (`pg.Client`, mysql2 `Connection`, better-sqlite3 `Database`). */
  readonly native: Native
}
