/**
 * The drop-in checks every driver passes: what a program written for @effect/sql (and its drivers'
 * clients) does through the `SqlClient` of a dbpool layer. `SqlSchema`, `Model.makeRepository`,
 * `SqlResolver`, `sql.reactive` after `Reactivity.mutation`, nested savepoints, streams in and out of a
 * transaction, and a migrator with `schemaDirectory`. Each check is an effect that fails (or dies)
 * with what it saw; the driver's test file runs each one on a layer of its own and checks that
 * nothing leaked. Nothing here depends on a test runner.
 *
 * @since 0.1.0
 */
import type * as Reactivity from "@effect/experimental/Reactivity"
import type { CommandExecutor } from "@effect/platform/CommandExecutor"
import type { FileSystem } from "@effect/platform/FileSystem"
import type { Path } from "@effect/platform/Path"
import type * as Migrator from "@effect/sql/Migrator"
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/dropIn.js"

/**
 * The database system a check runs on: the DDL of an auto-increment key differs.
 *
 * @since 0.1.0
 * @category models
 */
export type System = "postgresql" | "mysql" | "sqlite"

/**
 * One drop-in check: its name (the test's) and the effect that runs it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Check {
  readonly name: string
  readonly run: Effect.Effect<void, unknown, SqlClient.SqlClient | Reactivity.Reactivity | Scope.Scope>
}

/**
 * The checks that hold for every driver, their tables named after `prefix`
 * (give each test file its own, so suites can run side by side).
 *
 * @example
 * ```ts
 * import { DropIn } from "@dbpool/testing"
 *
 * for (const check of DropIn.checks("postgresql", `dropin_pg_${process.pid}`)) {
 *   // it.scoped(check.name, () => check.run.pipe(Effect.provide(layer)))
 * }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const checks: (system: System, prefix: string) => ReadonlyArray<Check> = internal.checks

/**
 * Runs a driver's migrator (`PgMigrator.run`, `MysqlMigrator.run`,
 * `SqliteMigrator.run`) with one migration creating `table`, its schema
 * dumped into a fresh temporary directory, and succeeds with the dump's text
 * (it fails if no dump was written). The table and the migrations table are
 * dropped afterwards.
 *
 * @example
 * ```ts
 * import { PgMigrator } from "@effect/sql-pg"
 * import { DropIn } from "@dbpool/testing"
 *
 * const dump = DropIn.migrateWithDump(PgMigrator.run, "dropin_migrated")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const migrateWithDump: <E, R>(
  run: (options: Migrator.MigratorOptions) => Effect.Effect<ReadonlyArray<readonly [number, string]>, E, R>,
  table: string
) => Effect.Effect<string, unknown, Exclude<R, CommandExecutor | FileSystem | Path> | SqlClient.SqlClient> =
  internal.migrateWithDump

/**
 * What `identityAfterTimeouts` saw: how often the connection's identity changed (a connection closed and
 * another opened) and the statements after a timeout that failed.
 *
 * @since 0.1.0
 * @category models
 */
export interface IdentityChanges<E> {
  readonly changes: number
  readonly errors: ReadonlyArray<E>
}

/**
 * Runs `timedOut` (a statement its caller cut short with `Effect.timeout`) `rounds` times, each followed by
 * three reads of `identity` (the server's id of the connection, e.g. `pg_backend_pid()`), the first read
 * before the first round. On a pool of one connection, a connection kept after a timeout keeps its identity;
 * a late cancel or kill meeting the next statement shows as an error.
 *
 * @example
 * ```ts
 * import { DropIn } from "@dbpool/testing"
 * import { SqlClient } from "@effect/sql"
 * import { Effect } from "effect"
 *
 * const seen = Effect.flatMap(SqlClient.SqlClient, (sql) =>
 *   DropIn.identityAfterTimeouts({
 *     rounds: 20,
 *     timedOut: Effect.option(Effect.timeout(sql`SELECT pg_sleep(5)`, "20 millis")),
 *     identity: Effect.map(sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`, (rows) => rows[0]!.pid)
 *   }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const identityAfterTimeouts: <X, E, R>(options: {
  readonly rounds: number
  readonly timedOut: Effect.Effect<X, never, R>
  readonly identity: Effect.Effect<number, E, R>
}) => Effect.Effect<IdentityChanges<E>, E, R> = internal.identityAfterTimeouts
