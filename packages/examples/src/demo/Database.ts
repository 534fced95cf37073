/**
 * Where the demo runs: an embedded SQLite file by default (no server, no
 * setting), or the server named by `DATABASE_URL`.
 *
 * @since 0.1.0
 */
import type * as PoolConfig from "@dbpool/core/PoolConfig"
import type { ConnectError, PoolConfigError } from "@dbpool/core/PoolError"
import * as MysqlPool from "@dbpool/mysql/MysqlPool"
import * as PgPool from "@dbpool/pg/PgPool"
import type * as Pool from "@dbpool/sql/Pool"
import * as SqlitePool from "@dbpool/sqlite/SqlitePool"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/**
 * A database the demo can run on.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Database from "@dbpool/examples/demo/Database"
 *
 * const target = Database.fromUrl(undefined, { maxConnections: 4 }) // SQLite in the temporary directory
 * const where = Effect.map(target, (t) => `${t.system}: ${t.where}`)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Target {
  /** The system, for people: "SQLite", "PostgreSQL". */
  readonly system: string
  /** Where the data goes, for people (never a password). */
  readonly where: string
  readonly layer: Layer.Layer<Pool.Pool | SqlClient.SqlClient, PoolConfigError | ConnectError>
}

/**
 * `DATABASE_URL` names a database the demo cannot use (yet).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Database from "@dbpool/examples/demo/Database"
 *
 * const refused = Database.fromUrl("oracle://x", {}).pipe(
 *   Effect.catchTag("UnsupportedDatabase", (e) => Effect.logError(e.message))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class UnsupportedDatabase extends Data.TaggedError("UnsupportedDatabase")<{
  readonly url: string
  readonly reason: string
}> {
  override get message(): string {
    return `DATABASE_URL=${this.url}: ${this.reason}`
  }
}

/**
 * The default SQLite file: `<os.tmpdir()>/dbpool-demo/demo.db`.
 *
 * @example
 * ```ts
 * import * as Database from "@dbpool/examples/demo/Database"
 *
 * Database.defaultSqliteFile() // "/tmp/dbpool-demo/demo.db" on Linux
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultSqliteFile = (): string => path.join(os.tmpdir(), "dbpool-demo", "demo.db")

/**
 * A URL with its password replaced by `***`, fit to print.
 *
 * @example
 * ```ts
 * import { redactUrl } from "@dbpool/examples/demo/Database"
 *
 * redactUrl("postgres://app:secret@db:5432/prod") // "postgres://app:***@db:5432/prod"
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const redactUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") parsed.password = "***"
    return parsed.toString()
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@]*@/, "//$1:***@")
  }
}

const sqlite = (filename: string, where: string, pool: PoolConfig.Input): Effect.Effect<Target> =>
  Effect.sync(() => {
    fs.mkdirSync(path.dirname(filename), { recursive: true })
    return { system: "SQLite", where, layer: SqlitePool.layer({ filename, pool }) }
  })

/**
 * The target named by a `DATABASE_URL` (none: SQLite in the temporary
 * directory; `sqlite:<file>`: that SQLite file, a relative path taken from
 * `cwd`, the directory the user ran the command in).
 *
 * @example
 * ```ts
 * import * as Database from "@dbpool/examples/demo/Database"
 *
 * const pg = Database.fromUrl("postgres://postgres@127.0.0.1:5432/test", { maxConnections: 8 })
 * const file = Database.fromUrl("sqlite:./demo.db", { maxConnections: 8 }, "/home/me")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromUrl = (
  url: string | undefined,
  pool: PoolConfig.Input,
  cwd: string = process.cwd()
): Effect.Effect<Target, UnsupportedDatabase> => {
  if (url === undefined || url === "") {
    const file = defaultSqliteFile()
    return sqlite(file, `SQLite file ${file} (in os.tmpdir(), kept after the run)`, pool)
  }
  const scheme = url.slice(0, Math.max(0, url.indexOf(":"))).toLowerCase()
  switch (scheme) {
    case "sqlite":
    case "file": {
      const file = path.resolve(cwd, url.slice(scheme.length + 1).replace(/^\/\/(?=\/)/, ""))
      return sqlite(file, `SQLite file ${file}`, pool)
    }
    case "postgres":
    case "postgresql":
      return Effect.succeed({
        system: "PostgreSQL",
        where: `PostgreSQL at ${redactUrl(url)}`,
        layer: PgPool.layer({ url: Redacted.make(url), applicationName: "dbpool-demo", pool })
      })
    case "mysql":
    case "mariadb":
      return Effect.succeed({
        system: "MySQL/MariaDB",
        where: `MySQL/MariaDB at ${redactUrl(url)}`,
        layer: MysqlPool.layer({ url: Redacted.make(url.replace(/^mariadb:/i, "mysql:")), pool })
      })
    default:
      return Effect.fail(
        new UnsupportedDatabase({
          url: redactUrl(url),
          reason: `unknown scheme "${scheme}"; use postgres://, mysql:// or sqlite:<file> (or no DATABASE_URL)`
        })
      )
  }
}
