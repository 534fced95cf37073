import * as Mysql from "mysql2/promise"

/** The MySQL/MariaDB server the demo's MySQL run uses. */
export const mysqlUrl = process.env.MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test"

const howToStart =
  "start it with `npm run test:env` (installs and starts PostgreSQL and MariaDB; `npm test` runs it first), or " +
  "`start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql` " +
  "and `mysql -h 127.0.0.1 -uroot -e 'CREATE DATABASE IF NOT EXISTS test'`"

/** Whether MySQL/MariaDB answers at `mysqlUrl` (within 3 seconds). */
export const mysqlIsUp = async (): Promise<boolean> => {
  try {
    const connection = await Mysql.createConnection({ uri: mysqlUrl, connectTimeout: 3000 })
    try {
      await connection.query("SELECT 1")
      return true
    } finally {
      await connection.end().catch(() => {})
    }
  } catch {
    return false
  }
}

/**
 * In CI (env CI set) a missing server fails the test; elsewhere the test is skipped with a message saying how
 * to start the server.
 */
export const requireMysql = (up: boolean, context: { readonly skip: (note?: string) => never }): void => {
  if (up) return
  const message = `MySQL/MariaDB does not answer at ${mysqlUrl.replace(/:[^:@/]*@/, ":***@")}`
  if (process.env.CI !== undefined && process.env.CI !== "" && process.env.CI !== "false") {
    throw new Error(`${message}; CI must run the database tests: ${howToStart}`)
  }
  console.warn(`${message}: skipping. To run this test, ${howToStart}`)
  context.skip(`${message}; ${howToStart}`)
}
