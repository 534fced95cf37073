/**
 * What the MariaDB fault tests share (docs/fault-scenarios.md) beyond @dbpool/testing's Reliability
 * helpers: a pool of its own per test in a scope the test closes itself, its size sampled every 10 ms, the
 * server's own count of our connections, and the end of every test: pool total 0 after close and server
 * count 0.
 */
import type * as PoolConfig from "@dbpool/core/PoolConfig"
import type { PoolStats } from "@dbpool/core/PoolStats"
import { MysqlPool } from "@dbpool/mysql"
import { Pool } from "@dbpool/sql"
import { MariaServer, Reliability, ServerCount } from "@dbpool/testing"
import { afterAll, beforeAll, beforeEach, describe, expect } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import type Mysql from "mysql2"
import MysqlPromise from "mysql2/promise"

export const root = { host: "127.0.0.1", port: 3306, user: "root", database: "test" } as const

// Outside CI a missing server skips these tests, saying so; in CI they must run.
const run = await Effect.runPromise(Reliability.mainServer("mariadb", "the @dbpool/mysql reliability tests"))
export const describeDb: typeof describe.skip = run ? describe : describe.skip

/**
 * How late this process got to run during the current test (reset before each): upper time bounds are
 * `bound + lag.slack()` or `lag.widen(bound)`, so that other test suites on the same cores, which make every
 * timer late, are not taken for a late pool.
 */
export const lag = Reliability.unsafeLagMeter()
beforeEach(lag.reset)
afterAll(lag.stop)

/** The pool's connection options for a server on 127.0.0.1 (the main one: 3306), database `test`. */
export const target = (port: number, username: string) => ({ host: "127.0.0.1", port, database: "test", username })

/** A user of the test's own on the main server (dropped with the scope), and the server's count of its connections. */
export const mainUser = Effect.map(ServerCount.mariadbUser(), (user) => ({ user, count: ServerCount.mariadb(user) }))

/** Short settings so that each fault shows within a second or two. */
export const fast: PoolConfig.Input = {
  acquireTimeout: "1 second",
  connectTimeout: "1 second",
  retryInterval: "50 millis",
  circuitBreakerProbeInterval: "100 millis",
  healthCheckInterval: "200 millis",
  shutdownTimeout: "1 second",
  statsInterval: "100 millis"
}

export interface TestPool {
  readonly pool: Pool.Pool<Mysql.Connection>
  readonly scope: Scope.CloseableScope
  /** Every sample: never more connections than max, counting the ones being opened and closed, and active + idle ≤ total. */
  readonly samples: Reliability.SizeSampler<PoolStats>
}

/**
 * A pool in a scope of its own (closed by `finish`, or with the test's scope if the test fails first),
 * its statistics sampled every 10 ms while it lives.
 */
export const makePool = (
  options: MysqlPool.MysqlPoolOptions,
  config: PoolConfig.Input
): Effect.Effect<TestPool, unknown, Scope.Scope> =>
  Effect.map(
    Reliability.ownScope(Effect.gen(function*() {
      const connector = yield* MysqlPool.connector(options)
      const pool = yield* Pool.make(connector, { ...fast, ...config })
      const samples = yield* Reliability.sampleSize(pool.stats, Reliability.consistent)
      return { pool, samples }
    })),
    ({ scope, value }) => ({ ...value, scope })
  )

/**
 * The end of every test: closing the pool leaves total 0 at once, and the server's count of our
 * connections reaches 0 (within 3 s: the server notices a closed socket a little later). Closing twice
 * is harmless. The sampler saw the size within max all along.
 */
export const finish = (test: TestPool, serverCount: Effect.Effect<number, unknown>) =>
  Effect.gen(function*() {
    const close = Scope.close(test.scope, Exit.void)
    yield* Reliability.closeAndCount(Effect.zipRight(Effect.zipRight(close, close), test.pool.stats), serverCount)
    expect(test.samples.violations).toEqual([])
    expect(test.samples.samples.length).toBeGreaterThan(0)
  })

/** A short name for an error's cause, for the tests' summaries: its tag, else its code. */
export const kind = (cause: unknown): string => {
  const { _tag, code } = (cause ?? {}) as { readonly _tag?: unknown; readonly code?: unknown }
  return String(_tag ?? code ?? "none")
}

/** A user of the test's own on a disposable server (root from 127.0.0.1, no password), for its count. */
export const serverUser = (server: MariaServer.MariaServer, name = "dbpool_app") =>
  Effect.gen(function*() {
    yield* server.sql(`CREATE USER IF NOT EXISTS '${name}'@'127.0.0.1'`)
    yield* server.sql(`GRANT ALL PRIVILEGES ON test.* TO '${name}'@'127.0.0.1'`)
    return name
  })

/** A short root connection to the main server, for what ServerCount does not do (KILL one thread). */
export const adminQuery = <A = Record<string, unknown>>(sql: string, params: Array<unknown> = []) =>
  Effect.acquireUseRelease(
    Effect.promise(() => MysqlPromise.createConnection(root)),
    (conn) => Effect.promise(() => conn.query(sql, params).then(([rows]) => rows as Array<A>)),
    (conn) => Effect.promise(() => conn.end())
  )

/**
 * Builds the MariaServer template of this test process (once per process) before the file's tests, under the
 * hook's timeout: on a busy machine that first build took most of a test's own timeout once.
 */
export const prepareMariaServers = (): void =>
  beforeAll(() => run ? Effect.runPromise(Effect.scoped(MariaServer.make({ start: false }))) : undefined, 120_000)
