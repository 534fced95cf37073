/**
 * Runs before each test file of this package: gives the file databases of its own on the PostgreSQL and
 * MariaDB test servers (when they answer), and points DATABASE_URL and MYSQL_URL at them, so the examples'
 * and the demo's tables, and the server's count of their connections, never meet those of another run on
 * the same machine (another clone's `npm test`, say). The databases are dropped when the file ends. Set
 * before the test file is imported, so the examples' layers, built at import, see them too.
 */
import { afterAll } from "@effect/vitest"
import * as Mysql from "mysql2/promise"
import pg from "pg"

const unique = `dbpool_examples_${process.pid}_${Math.random().toString(36).slice(2, 8)}`

/** Databases of runs that died before dropping theirs: named after a process that is gone. */
const orphans = (names: ReadonlyArray<string>): ReadonlyArray<string> =>
  names.filter((name) => {
    const pid = Number(/^dbpool_examples_(\d+)_[a-z0-9]+$/.exec(name)?.[1])
    if (!Number.isInteger(pid) || pid === process.pid) return false
    try {
      process.kill(pid, 0)
      return false
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === "ESRCH"
    }
  })

/** The URL with its path (the database) replaced. */
const withDatabase = (url: string, database: string): string => {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

const ownPostgres = async (base: string): Promise<string | undefined> => {
  const client = new pg.Client({ connectionString: base, connectionTimeoutMillis: 3000 })
  client.on("error", () => {})
  try {
    await client.connect()
    const existing = await client.query<{ name: string }>(
      "SELECT datname AS name FROM pg_database WHERE datname LIKE 'dbpool\\_examples\\_%'"
    )
    for (const name of orphans(existing.rows.map((row) => row.name))) {
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    }
    await client.query(`CREATE DATABASE ${unique}`)
  } catch {
    return undefined // no server: the tests that need it skip themselves (or fail, in CI)
  } finally {
    await client.end().catch(() => {})
  }
  afterAll(async () => {
    const admin = new pg.Client({ connectionString: base })
    await admin.connect()
    try {
      await admin.query(`DROP DATABASE IF EXISTS ${unique} WITH (FORCE)`)
    } finally {
      await admin.end()
    }
  })
  return withDatabase(base, unique)
}

const ownMysql = async (base: string): Promise<string | undefined> => {
  let connection: Mysql.Connection
  try {
    connection = await Mysql.createConnection({ uri: base, connectTimeout: 3000 })
  } catch {
    return undefined
  }
  try {
    const [rows] = await connection.query("SHOW DATABASES LIKE 'dbpool\\_examples\\_%'")
    for (const name of orphans((rows as Array<Record<string, string>>).map((row) => Object.values(row)[0]!))) {
      await connection.query(`DROP DATABASE IF EXISTS ${name}`)
    }
    await connection.query(`CREATE DATABASE ${unique}`)
  } finally {
    await connection.end().catch(() => {})
  }
  afterAll(async () => {
    const admin = await Mysql.createConnection({ uri: base })
    try {
      await admin.query(`DROP DATABASE IF EXISTS ${unique}`)
    } finally {
      await admin.end()
    }
  })
  return withDatabase(base, unique)
}

const postgresUrl = await ownPostgres(process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test")
if (postgresUrl !== undefined) process.env.DATABASE_URL = postgresUrl
const mysqlUrl = await ownMysql(process.env.MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test")
if (mysqlUrl !== undefined) process.env.MYSQL_URL = mysqlUrl
