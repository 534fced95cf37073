/**
 * The servers' own count of our connections, the ground truth of the fault tests, and the matching kills:
 * on PostgreSQL the backends in `pg_stat_activity` with a given `application_name`, on MariaDB the threads
 * in `information_schema.PROCESSLIST` of a given user (MariaDB's connection attributes need the
 * performance schema, which is off on these servers, so a test that counts gives its pool a user of its
 * own: `mariadbUser`). Each call opens one short admin connection, never counted itself.
 *
 * The targets default to the machine's main servers: PostgreSQL on 127.0.0.1:5432 (user `postgres`,
 * database `test`) and MariaDB on 127.0.0.1:3306 (root, empty password). For the disposable servers,
 * `PgCluster` and `MariaServer` have the same operations.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Admin from "./internal/admin.js"

/**
 * A count or kill failed (the server did not answer in time, refused the admin connection...).
 *
 * @since 0.1.0
 * @category errors
 */
export class ServerCountError extends Data.TaggedError("ServerCountError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * Where to count on PostgreSQL. Defaults: 127.0.0.1, 5432, user `postgres`, database `test`, 10 seconds.
 *
 * @since 0.1.0
 * @category models
 */
export interface PostgresTarget {
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly user?: string | undefined
  readonly database?: string | undefined
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * Where to count on MariaDB, and as which admin user. Defaults: 127.0.0.1, 3306, root (empty password),
 * 10 seconds.
 *
 * @since 0.1.0
 * @category models
 */
export interface MariadbTarget {
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly adminUser?: string | undefined
  readonly timeout?: Duration.DurationInput | undefined
}

const pgTarget = (target: PostgresTarget = {}): Admin.PgTarget => ({
  host: target.host ?? "127.0.0.1",
  port: target.port ?? 5432,
  user: target.user ?? "postgres",
  database: target.database ?? "test"
})

const mysqlTarget = (target: MariadbTarget = {}): Admin.MysqlTarget => ({
  host: target.host ?? "127.0.0.1",
  port: target.port ?? 3306,
  user: target.adminUser ?? "root"
})

const where = (target: { readonly host: string; readonly port: number }) => `${target.host}:${target.port}`

const fail = (what: string) => (cause: Admin.AdminError) =>
  new ServerCountError({ message: `${what}: ${cause.message}`, cause })

/**
 * How many backends with this `application_name` the PostgreSQL server has now (backends still in their
 * start-up, before the name is known, are not counted).
 *
 * @example
 * ```ts
 * import { ServerCount } from "@dbpool/testing"
 *
 * const ours = ServerCount.postgres("dbpool-fault-restart")
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const postgres = (applicationName: string, target?: PostgresTarget): Effect.Effect<number, ServerCountError> => {
  const t = pgTarget(target)
  return Admin.pgCount(t, applicationName, target?.timeout ?? "10 seconds").pipe(
    Effect.mapError(fail(`cannot count connections on PostgreSQL ${where(t)}`))
  )
}

/**
 * Terminates (`pg_terminate_backend`) the backends with this `application_name`; returns how many were
 * signalled. A backend exits shortly after, so its connection's socket closes a little later.
 *
 * @example
 * ```ts
 * import { ServerCount } from "@dbpool/testing"
 *
 * const killIdle = ServerCount.terminatePostgres("dbpool-fault-kill")
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const terminatePostgres = (
  applicationName: string,
  target?: PostgresTarget
): Effect.Effect<number, ServerCountError> => {
  const t = pgTarget(target)
  return Admin.pgTerminate(t, applicationName, target?.timeout ?? "10 seconds").pipe(
    Effect.mapError(fail(`cannot terminate backends on PostgreSQL ${where(t)}`))
  )
}

/**
 * How many connections of this user the MariaDB server has now (the admin connection excluded, also when
 * it is the same user).
 *
 * @example
 * ```ts
 * import { ServerCount } from "@dbpool/testing"
 *
 * const ours = ServerCount.mariadb("dbpool_restart")
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const mariadb = (user: string, target?: MariadbTarget): Effect.Effect<number, ServerCountError> => {
  const t = mysqlTarget(target)
  return Admin.mysqlCount(t, user, target?.timeout ?? "10 seconds").pipe(
    Effect.mapError(fail(`cannot count connections on MariaDB ${where(t)}`))
  )
}

/**
 * Kills (`KILL CONNECTION`) every connection of this user but the admin one; returns how many.
 *
 * @example
 * ```ts
 * import { ServerCount } from "@dbpool/testing"
 *
 * const killAll = ServerCount.killMariadb("dbpool_kill")
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const killMariadb = (user: string, target?: MariadbTarget): Effect.Effect<number, ServerCountError> => {
  const t = mysqlTarget(target)
  return Admin.mysqlKill(t, user, target?.timeout ?? "10 seconds").pipe(
    Effect.mapError(fail(`cannot kill connections on MariaDB ${where(t)}`))
  )
}

let users = 0

/**
 * A MariaDB user of the test's own, so that `mariadb(user)` counts only its pool: created from 127.0.0.1
 * with an empty password and all privileges on `database` (default `test`); its connections are killed
 * and it is dropped when the scope closes. The name defaults to `dbpool_<pid>_<n>`.
 *
 * @example
 * ```ts
 * import { ServerCount } from "@dbpool/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const user = yield* ServerCount.mariadbUser()
 *   // a pool as `user` ... then
 *   const count = yield* ServerCount.mariadb(user)
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const mariadbUser = (
  options: MariadbTarget & { readonly name?: string | undefined; readonly database?: string | undefined } = {}
): Effect.Effect<string, ServerCountError, Scope.Scope> => {
  const t = mysqlTarget(options)
  const timeout = options.timeout ?? "10 seconds"
  const name = options.name ?? `dbpool_${process.pid}_${++users}`
  const database = (options.database ?? "test").replace(/`/g, "``")
  return Effect.acquireRelease(
    Admin.withMysql(t, timeout, async (query) => {
      await query("CREATE USER IF NOT EXISTS ?@'127.0.0.1' IDENTIFIED BY ''", [name])
      await query(`GRANT ALL PRIVILEGES ON \`${database}\`.* TO ?@'127.0.0.1'`, [name])
      return name
    }).pipe(Effect.mapError(fail(`cannot create the MariaDB user ${name} on ${where(t)}`))),
    () =>
      Admin.mysqlKill(t, name, timeout).pipe(
        Effect.zipRight(Admin.withMysql(t, timeout, (query) => query("DROP USER IF EXISTS ?@'127.0.0.1'", [name]))),
        Effect.ignoreLogged
      )
  )
}
