/**
 * What the MariaDB fault tests share (../shared/RELIABILITY.md): a pool of its own per test in a scope
 * the test closes itself, the size sampled every 10 ms, the process' unhandled errors recorded, the
 * server's own count of our connections, and the end of every test: pool total 0 after close and server
 * count 0.
 */
import type * as PoolConfig from "@dbpool/core/PoolConfig"
import type { PoolStats } from "@dbpool/core/PoolStats"
import { MysqlPool } from "@dbpool/mysql"
import { Pool } from "@dbpool/sql"
import type { MariaServer } from "@dbpool/testing"
import { describe, expect } from "@effect/vitest"
import { Cause, Effect, Exit, Scope } from "effect"
import type Mysql from "mysql2"
import MysqlPromise from "mysql2/promise"

/** ε of RELIABILITY.md. */
export const epsilon = 100

export const root = { host: "127.0.0.1", port: 3306, user: "root", database: "test" } as const

// Outside CI a missing server skips these tests, saying so; in CI they must run.
const available = await MysqlPromise.createConnection(root).then((c) => c.end()).then(() => true, () => false)
if (!available && !process.env.CI) {
  console.warn("MariaDB is not running on 127.0.0.1:3306: skipping the @dbpool/mysql reliability tests")
}
export const describeDb: typeof describe.skip = available || process.env.CI ? describe : describe.skip

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

/** What the 10 ms sampler saw. */
export interface Samples {
  count: number
  maxSize: number
  /** Samples where total + pending > max, or active + idle > total. */
  readonly violations: Array<PoolStats>
}

export interface TestPool {
  readonly pool: Pool.Pool<Mysql.Connection>
  readonly scope: Scope.CloseableScope
  readonly samples: Samples
}

/** Every sample: never more connections than max, counting the ones being opened and closed. */
const within = (s: PoolStats) =>
  s.totalConnections + s.pendingConnections <= s.maxConnections &&
  s.activeConnections + s.idleConnections <= s.totalConnections

/**
 * A pool in a scope of its own (closed by `finish`, or with the test's scope if the test fails first),
 * its statistics sampled every 10 ms while it lives.
 */
export const makePool = (
  options: MysqlPool.MysqlPoolOptions,
  config: PoolConfig.Input
): Effect.Effect<TestPool, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    const connector = yield* MysqlPool.connector(options)
    const pool = yield* Scope.extend(Pool.make(connector, { ...fast, ...config }), scope)
    const samples: Samples = { count: 0, maxSize: 0, violations: [] }
    yield* Effect.gen(function*() {
      while (true) {
        const s = yield* pool.stats
        samples.count++
        samples.maxSize = Math.max(samples.maxSize, s.totalConnections + s.pendingConnections)
        if (!within(s)) samples.violations.push(s)
        yield* Effect.sleep("10 millis")
      }
    }).pipe(Effect.forkIn(scope))
    return { pool, scope, samples }
  })

/** Polls `effect` every `interval` ms until `condition` holds or `timeout` ms pass; returns the last value. */
export const until = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  condition: (a: A) => boolean,
  timeout = 3000,
  interval = 10
): Effect.Effect<{ readonly value: A; readonly elapsed: number }, E, R> =>
  Effect.gen(function*() {
    const started = Date.now()
    let value = yield* effect
    while (!condition(value) && Date.now() - started < timeout) {
      yield* Effect.sleep(interval)
      value = yield* effect
    }
    return { value, elapsed: Date.now() - started }
  })

/**
 * The end of every test: closing the pool leaves total 0 at once, and the server's count of our
 * connections reaches 0 (within 3 s: the server notices a closed socket a little later). Closing twice
 * is harmless. The sampler saw the size within max all along.
 */
export const finish = (test: TestPool, serverCount: Effect.Effect<number, unknown>) =>
  Effect.gen(function*() {
    yield* Scope.close(test.scope, Exit.void)
    yield* Scope.close(test.scope, Exit.void)
    expect((yield* test.pool.stats).totalConnections).toBe(0)
    const { value } = yield* until(serverCount, (n) => n === 0)
    expect(value).toBe(0)
    expect(test.samples.violations).toEqual([])
    expect(test.samples.count).toBeGreaterThan(0)
  })

/** The process' uncaught exceptions and unhandled rejections while the scope is open. */
export const trackUnhandled: Effect.Effect<ReadonlyArray<unknown>, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => {
    const errors: Array<unknown> = []
    const record = (error: unknown) => void errors.push(error)
    process.on("uncaughtException", record)
    process.on("unhandledRejection", record)
    return { errors, record }
  }),
  ({ record }) =>
    Effect.sync(() => {
      process.off("uncaughtException", record)
      process.off("unhandledRejection", record)
    })
).pipe(Effect.map(({ errors }) => errors))

/** A failure that is typed (a tagged error), never a defect nor an interruption. */
export const expectTyped = (exit: Exit.Exit<unknown, unknown>): { readonly _tag: string; readonly cause?: unknown } => {
  expect(Exit.isFailure(exit)).toBe(true)
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  expect(Cause.isDie(exit.cause)).toBe(false)
  expect(Cause.isInterrupted(exit.cause)).toBe(false)
  const error = Cause.squash(exit.cause) as { readonly _tag?: unknown; readonly cause?: unknown }
  expect(typeof error._tag).toBe("string")
  return error as { readonly _tag: string; readonly cause?: unknown }
}

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

/** A small seeded generator (mulberry32), so that a randomized test can be rerun with its seed. */
export const random = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
