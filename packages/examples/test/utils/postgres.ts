import pg from "pg"

/**
 * The server the examples and the demo's PostgreSQL run use (as in src/examples/run.ts): in the tests, a
 * database of the test file's own (test/setup.ts sets DATABASE_URL).
 */
export const postgresUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"

const howToStart =
  "start it with `npm run test:env` (installs and starts PostgreSQL and MariaDB; `npm test` runs it first), or " +
  "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | head -n 1) main start` " +
  "and `psql -h 127.0.0.1 -U postgres -c 'create database test'`"

/** Whether PostgreSQL answers at `postgresUrl` (within 3 seconds). */
export const postgresIsUp = async (): Promise<boolean> => {
  const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 3000 })
  client.on("error", () => {})
  try {
    await client.connect()
    await client.query("SELECT 1")
    return true
  } catch {
    return false
  } finally {
    await client.end().catch(() => {})
  }
}

/**
 * In CI (env CI set) a missing server fails the test; elsewhere the test is skipped with a message saying how
 * to start the server.
 */
export const requirePostgres = (up: boolean, context: { readonly skip: (note?: string) => never }): void => {
  if (up) return
  const message = `PostgreSQL does not answer at ${postgresUrl.replace(/:[^:@/]*@/, ":***@")}`
  if (process.env.CI !== undefined && process.env.CI !== "" && process.env.CI !== "false") {
    throw new Error(`${message}; CI must run the database examples: ${howToStart}`)
  }
  console.warn(`${message}: skipping. To run this test, ${howToStart}`)
  context.skip(`${message}; ${howToStart}`)
}

/**
 * The server's own count of connections to `postgresUrl`'s database whose application_name matches `pattern`
 * (SQL LIKE), polled until it is 0 or 3 seconds have passed: a backend leaves pg_stat_activity a moment after
 * its client closes. Only this database: another run's examples (same names) have databases of their own.
 */
export const serverConnections = async (pattern: string): Promise<number> => {
  const client = new pg.Client({ connectionString: postgresUrl, application_name: "dbpool-examples-test" })
  await client.connect()
  try {
    let count = 0
    for (let i = 0; i < 60; i++) {
      const result = await client.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity " +
          "WHERE application_name LIKE $1 AND datname = current_database() AND pid <> pg_backend_pid()",
        [pattern]
      )
      count = result.rows[0].n
      if (count === 0) return 0
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    return count
  } finally {
    await client.end()
  }
}
