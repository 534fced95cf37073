import { Effect } from "effect"
import type { Scope } from "effect"
import Mysql from "mysql2"
import Pg from "pg"

export interface PgOptions {
  readonly port: number
  readonly database?: string
  readonly applicationName?: string
  readonly connectTimeout?: number
  /** Client-side bound of each query (PgBouncer queues a query for 120 s when its server is down). */
  readonly queryTimeout?: number
}

/** An open node-postgres client, ended with the scope; fails with the connect error. */
export const pgClient = (options: PgOptions): Effect.Effect<Pg.Client, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const client = new Pg.Client({
          host: "127.0.0.1",
          port: options.port,
          user: "postgres",
          database: options.database ?? "test",
          application_name: options.applicationName ?? "dbpool-testing-test",
          connectionTimeoutMillis: options.connectTimeout ?? 2000,
          query_timeout: options.queryTimeout ?? 5000
        })
        client.on("error", () => {})
        try {
          await client.connect()
        } catch (e) {
          await client.end().catch(() => {})
          throw e
        }
        return client
      },
      catch: (e) => e as Error
    }),
    (client) => Effect.promise(() => client.end().catch(() => {}))
  )

/** One query on a fresh connection. */
export const pgQuery = (options: PgOptions, text: string) =>
  Effect.scoped(Effect.flatMap(pgClient(options), (client) =>
    Effect.tryPromise({
      try: () => client.query(text).then((r) => r.rows as Array<Record<string, unknown>>),
      catch: (e) => e as Error
    })))

export interface MysqlOptions {
  readonly port: number
  readonly user?: string
  readonly database?: string
}

/** An open mysql2 connection, destroyed with the scope; fails with the connect error. */
export const mysqlClient = (options: MysqlOptions): Effect.Effect<Mysql.Connection, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<Mysql.Connection, Error>((resume) => {
      const conn = Mysql.createConnection({
        host: "127.0.0.1",
        port: options.port,
        user: options.user ?? "root",
        password: "",
        database: options.database ?? "test",
        connectTimeout: 2000
      })
      conn.on("error", () => {})
      conn.connect((error) => {
        if (error) {
          conn.destroy()
          resume(Effect.fail(error))
        } else resume(Effect.succeed(conn))
      })
    }),
    (conn) => Effect.sync(() => conn.destroy())
  )

export const mysqlRun = (conn: Mysql.Connection, text: string) =>
  Effect.async<Array<Record<string, unknown>>, Error>((resume) => {
    conn.query(text, (error, rows) => {
      if (error) resume(Effect.fail(error))
      else resume(Effect.succeed(rows as Array<Record<string, unknown>>))
    })
  })

/** One query on a fresh connection. */
export const mysqlQuery = (options: MysqlOptions, text: string) =>
  Effect.scoped(Effect.flatMap(mysqlClient(options), (conn) => mysqlRun(conn, text)))

/** Whether a process with this pid exists. */
export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
