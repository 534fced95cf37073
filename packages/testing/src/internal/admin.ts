/**
 * Short admin connections to a server (one per call, closed after it): the queries that count or end our
 * connections, and `sql` of the disposable servers.
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import Mysql from "mysql2"
import Pg from "pg"

/** The application_name of the admin connections, so that they never count as the pool's. */
export const adminApplicationName = "dbpool-testing-admin"

export class AdminError extends Data.TaggedError("AdminError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

export interface PgTarget {
  readonly host: string
  readonly port: number
  readonly user: string
  readonly database: string
}

export interface MysqlTarget {
  readonly host: string
  readonly port: number
  readonly user: string
  readonly database?: string | undefined
}

export type Row = Record<string, unknown>

const describe = (cause: unknown) =>
  cause instanceof Error ? (cause.message || (cause as { code?: string }).code || cause.name) : String(cause)

/** Runs `queries` on one fresh PostgreSQL connection, closed afterwards (destroyed if interrupted or timed out). */
export const withPg = <A>(
  target: PgTarget,
  timeout: Duration.DurationInput,
  queries: (query: (text: string, params?: ReadonlyArray<unknown>) => Promise<Array<Row>>) => Promise<A>
): Effect.Effect<A, AdminError> =>
  Effect.async<A, AdminError>((resume) => {
    const millis = Duration.toMillis(timeout)
    const client = new Pg.Client({
      host: target.host,
      port: target.port,
      user: target.user,
      database: target.database,
      application_name: adminApplicationName,
      connectionTimeoutMillis: millis
    })
    // An error after the result (the server going away) must not crash the test process.
    client.on("error", () => {})
    let settled = false
    const destroy = () => {
      const stream = (client as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream
      stream?.destroy?.()
    }
    client.connect()
      .then(() =>
        queries((text, params) => client.query(text, params as Array<unknown>).then((r) => r.rows as Array<Row>))
      )
      .then(
        (a) => {
          settled = true
          client.end().catch(destroy)
          resume(Effect.succeed(a))
        },
        (cause) => {
          settled = true
          client.end().catch(destroy)
          resume(Effect.fail(new AdminError({ message: describe(cause), cause })))
        }
      )
    return Effect.sync(() => {
      if (!settled) destroy()
    })
  }).pipe(
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () =>
        new AdminError({ message: `no answer from ${target.host}:${target.port} within ${Duration.format(timeout)}` })
    })
  )

/** Runs `queries` on one fresh MySQL/MariaDB connection (empty password), closed afterwards. */
export const withMysql = <A>(
  target: MysqlTarget,
  timeout: Duration.DurationInput,
  queries: (query: (text: string, params?: ReadonlyArray<unknown>) => Promise<Array<Row>>) => Promise<A>
): Effect.Effect<A, AdminError> =>
  Effect.async<A, AdminError>((resume) => {
    const conn = Mysql.createConnection({
      host: target.host,
      port: target.port,
      user: target.user,
      password: "",
      ...(target.database !== undefined ? { database: target.database } : {}),
      connectTimeout: Duration.toMillis(timeout),
      multipleStatements: false
    })
    conn.on("error", () => {})
    let settled = false
    const query = (text: string, params?: ReadonlyArray<unknown>) =>
      new Promise<Array<Row>>((resolve, reject) =>
        conn.query(text, (params ?? []) as Array<{} | null>, (error, rows) => {
          if (error) reject(error)
          else resolve(Array.isArray(rows) ? rows as Array<Row> : [rows as unknown as Row])
        })
      )
    queries(query).then(
      (a) => {
        settled = true
        conn.end(() => conn.destroy())
        resume(Effect.succeed(a))
      },
      (cause) => {
        settled = true
        conn.destroy()
        resume(Effect.fail(new AdminError({ message: describe(cause), cause })))
      }
    )
    return Effect.sync(() => {
      if (!settled) conn.destroy()
    })
  }).pipe(
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () =>
        new AdminError({ message: `no answer from ${target.host}:${target.port} within ${Duration.format(timeout)}` })
    })
  )

// -- the counts and kills, shared by ServerCount and the disposable servers -------------------------------------

export const pgCount = (target: PgTarget, applicationName: string, timeout: Duration.DurationInput) =>
  withPg(target, timeout, async (query) => {
    const rows = await query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()",
      [applicationName]
    )
    return rows[0]!.n as number
  })

export const pgTerminate = (target: PgTarget, applicationName: string, timeout: Duration.DurationInput) =>
  withPg(target, timeout, async (query) => {
    const rows = await query(
      // OFFSET 0 keeps the filter in the subquery, so that only the matching backends are terminated
      "SELECT (count(*) FILTER (WHERE pg_terminate_backend(pid)))::int AS n FROM (SELECT pid FROM pg_stat_activity " +
        "WHERE application_name = $1 AND pid <> pg_backend_pid() OFFSET 0) AS ours",
      [applicationName]
    )
    return rows[0]!.n as number
  })

export const mysqlCount = (target: MysqlTarget, user: string, timeout: Duration.DurationInput) =>
  withMysql(target, timeout, async (query) => {
    const rows = await query(
      "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ? AND ID <> CONNECTION_ID()",
      [user]
    )
    return Number(rows[0]!.n)
  })

export const mysqlKill = (target: MysqlTarget, user: string, timeout: Duration.DurationInput) =>
  withMysql(target, timeout, async (query) => {
    const rows = await query(
      "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ? AND ID <> CONNECTION_ID()",
      [user]
    )
    let killed = 0
    for (const row of rows) {
      try {
        await query(`KILL CONNECTION ${Number(row.id)}`)
        killed++
      } catch (cause) {
        // 1094 "Unknown thread id": it ended on its own meanwhile
        if ((cause as { errno?: number }).errno !== 1094) throw cause
      }
    }
    return killed
  })
