/**
 * The benchmark's servers, in a module of their own so that a child process
 * (the memory benchmark) can read them without loading every driver.
 */

export const servers = {
  pg: { host: "127.0.0.1", port: 5432, user: "postgres", database: "test" },
  mysql: { host: "127.0.0.1", port: 3306, user: "root", database: "test" }
} as const

/**
 * Every PostgreSQL connection of the benchmark says so in `pg_stat_activity`, with the process id of the
 * run: two runs on one server (two clones testing at once) must not count each other's connections. Set
 * in the environment so that the memory benchmark's child processes use the same name.
 */
export const applicationName: string = process.env.DBPOOL_BENCH_APPLICATION_NAME ??= `dbpool-bench-${process.pid}`
