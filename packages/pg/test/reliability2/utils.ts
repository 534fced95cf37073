/**
 * Shared helpers of the PostgreSQL reliability scenarios 7, 8, 11, 13, 14, 15 and the PgBouncer suite
 * (docs/fault-scenarios.md), over @dbpool/testing's Reliability helpers: a pool in a scope of the test's own, the
 * size sampler (every 10 ms), the server's count of our connections, a guard against unhandled errors,
 * and a seeded random generator.
 */
import type { PoolStats } from "@dbpool/core/PoolStats"
import { PgPool } from "@dbpool/pg"
import { Pool } from "@dbpool/sql"
import { Reliability, ServerCount } from "@dbpool/testing"
import { afterAll, beforeEach, expect } from "@effect/vitest"
import { Effect, type Scope } from "effect"
import Pg from "pg"

/** ε of docs/fault-scenarios.md: the tolerance on every time bound. */
export const epsilon = Reliability.epsilon

/**
 * How late this process got to run during the current test (reset before each): upper time bounds are
 * `bound + lag.slack()` or `lag.widen(bound)`, so that other test suites on the same cores, which make every
 * timer late, are not taken for a late pool.
 */
export const lag = Reliability.unsafeLagMeter()
beforeEach(lag.reset)
afterAll(lag.stop)

/** The machine's main server: used only where nothing is stopped, restarted or exhausted. */
export const mainServer = { host: "127.0.0.1", port: 5432, database: "test", username: "postgres" } as const

let names = 0
/** An application_name of the test's own, so that the server's count is of this pool only. */
export const appName = (label: string): string => `dbpool-r2-${label}-${process.pid}-${++names}`

/** Milliseconds since `start` (performance.now based). */
export const since = (start: number): number => Math.round(performance.now() - start)

/**
 * Collects `uncaughtException` and `unhandledRejection` for the rest of the scope; the test asserts the
 * list is empty at its end (`assertNone`).
 */
export const unhandledErrors = Effect.map(
  Reliability.watchUnhandled,
  (seen) => ({ seen, assertNone: Effect.sync(() => expect(seen).toEqual([])) })
)

/** What the 10 ms sampler saw. */
export interface SizeSamples {
  readonly samples: number
  /** The largest `active + idle + pending` and `total + pending` seen. */
  readonly maxInUse: number
  readonly maxCounted: number
  /** Samples that broke `total + pending ≤ max` (total counts validating and closing connections too). */
  readonly violations: ReadonlyArray<PoolStats>
}

const inUse = (s: PoolStats) => s.activeConnections + s.idleConnections + s.pendingConnections

/**
 * Samples the pool's size every 10 ms for the rest of the scope, as docs/fault-scenarios.md asks: `active + idle +
 * pending ≤ max` and, stronger, `total + pending ≤ max` (closing connections count until closed).
 */
export const sampleSize = (pool: Pool.Pool<any>): Effect.Effect<SizeSamples, never, Scope.Scope> =>
  Effect.map(
    Reliability.sampleSize(pool.stats, (s) => Reliability.withinMax(s) && inUse(s) <= s.maxConnections),
    (sampler): SizeSamples => ({
      get samples() {
        return sampler.samples.length
      },
      get maxInUse() {
        return Math.max(0, ...sampler.samples.map(inUse))
      },
      get maxCounted() {
        return sampler.maxSize
      },
      violations: sampler.violations
    })
  )

/** Asserts the sampler saw samples and no sample above `max`. */
export const expectWithinMax = (samples: SizeSamples, max: number) => {
  expect(samples.samples).toBeGreaterThan(0)
  expect(samples.violations).toEqual([])
  expect(samples.maxCounted).toBeLessThanOrEqual(max)
}

/** Polls `effect` every 10 ms until `f` holds, and returns that value; dies after `timeout` ms. */
export const eventually = Reliability.eventually

/** The main server's count of backends with this application_name. */
export const mainCount = (name: string) => Effect.orDie(ServerCount.postgres(name))

/**
 * One admin connection kept open for the scope, for counting our backends many times a second (the
 * toolkit's counts open a connection per call). Its own application_name is never counted.
 */
export const serverCounter = (target: { readonly host: string; readonly port: number } = mainServer) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new Pg.Client({
        host: target.host,
        port: target.port,
        user: "postgres",
        database: "test",
        application_name: `dbpool-r2-admin-${process.pid}`
      })
      client.on("error", () => {})
      await client.connect()
      return client
    }),
    (client) => Effect.promise(() => client.end().catch(() => {}))
  ).pipe(Effect.map((client) => ({
    count: (name: string) =>
      Effect.promise(() =>
        client.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1", [name])
      ).pipe(Effect.map((r) => r.rows[0].n as number)),
    query: (text: string, params: Array<unknown> = []) =>
      Effect.promise(() => client.query(text, params)).pipe(Effect.map((r) => r.rows as Array<Record<string, any>>))
  })))

/** A pool whose scope the test closes itself (and that is closed anyway when the test's scope ends). */
export interface TestPool {
  readonly pool: Pool.Pool<Pg.Client>
  readonly name: string
  /** Closes the pool; asserts total 0 at once and the server's count 0 (within 2 s: a backend exits after its socket closes). */
  readonly close: Effect.Effect<void>
}

/** Opens a pool on `options` (default: the main server) in a scope of its own. */
export const makePool = (
  label: string,
  options: Omit<PgPool.PgPoolOptions, "applicationName"> & { readonly applicationName?: string },
  count: (name: string) => Effect.Effect<number> = mainCount
): Effect.Effect<TestPool, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const { pool: config, ...connection } = options
    const name = options.applicationName ?? appName(label)
    const connector = yield* PgPool.connector({
      ...(options.host === undefined && options.url === undefined ? mainServer : {}),
      ...connection,
      applicationName: name
    })
    const own = yield* Reliability.ownScope(Pool.make(connector, { name: label, ...config }))
    const pool = own.value
    const close = Effect.asVoid(Reliability.closeAndCount(Effect.zipRight(own.close, pool.stats), count(name), 2000))
    return { pool, name, close }
  })

/** mulberry32: a small seeded generator, so a randomized run can be repeated with DBPOOL_SEED. */
export const random = Reliability.random

/** The seeds of a randomized test: DBPOOL_SEED (one or several, comma-separated) or `count` fresh ones. */
export const seeds = (count: number): ReadonlyArray<number> =>
  Reliability.seeds(Array.from({ length: count }, () => Math.floor(Math.random() * 2 ** 31)))
