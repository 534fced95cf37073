/**
 * Shared helpers of the PostgreSQL reliability scenarios 7, 8, 11, 13, 14, 15 and the PgBouncer suite
 * (RELIABILITY.md): a pool in a scope of the test's own, the size sampler (every 10 ms), the server's
 * count of our connections, a guard against unhandled errors, and a seeded random generator.
 */
import type { PoolStats } from "@dbpool/core/PoolStats"
import { PgPool } from "@dbpool/pg"
import { Pool } from "@dbpool/sql"
import { ServerCount } from "@dbpool/testing"
import { expect } from "@effect/vitest"
import { Effect, Exit, Schedule, Scope } from "effect"
import Pg from "pg"

/** ε of RELIABILITY.md: the tolerance on every time bound. */
export const epsilon = 100

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
export const unhandledErrors = Effect.acquireRelease(
  Effect.sync(() => {
    const seen: Array<unknown> = []
    const listener = (error: unknown) => {
      seen.push(error)
    }
    process.on("uncaughtException", listener)
    process.on("unhandledRejection", listener)
    return { seen, listener }
  }),
  ({ listener }) =>
    Effect.sync(() => {
      process.off("uncaughtException", listener)
      process.off("unhandledRejection", listener)
    })
).pipe(Effect.map(({ seen }) => ({ seen, assertNone: Effect.sync(() => expect(seen).toEqual([])) })))

/** What the 10 ms sampler saw. */
export interface SizeSamples {
  samples: number
  /** The largest `active + idle + pending` and `total + pending` seen. */
  maxInUse: number
  maxCounted: number
  /** Samples that broke `total + pending ≤ max` (total counts validating and closing connections too). */
  readonly violations: Array<PoolStats>
}

/**
 * Samples the pool's size every 10 ms for the rest of the scope, as RELIABILITY.md asks: `active + idle +
 * pending ≤ max` and, stronger, `total + pending ≤ max` (closing connections count until closed).
 */
export const sampleSize = (pool: Pool.Pool<any>): Effect.Effect<SizeSamples, never, Scope.Scope> =>
  Effect.gen(function*() {
    const record: SizeSamples = { samples: 0, maxInUse: 0, maxCounted: 0, violations: [] }
    const sample = Effect.map(pool.stats, (s) => {
      record.samples++
      const inUse = s.activeConnections + s.idleConnections + s.pendingConnections
      const counted = s.totalConnections + s.pendingConnections
      record.maxInUse = Math.max(record.maxInUse, inUse)
      record.maxCounted = Math.max(record.maxCounted, counted)
      if (counted > s.maxConnections || inUse > s.maxConnections) record.violations.push(s)
    })
    yield* Effect.forkScoped(Effect.repeat(sample, Schedule.spaced("10 millis")))
    return record
  })

/** Asserts the sampler saw samples and no sample above `max`. */
export const expectWithinMax = (samples: SizeSamples, max: number) => {
  expect(samples.samples).toBeGreaterThan(0)
  expect(samples.violations).toEqual([])
  expect(samples.maxCounted).toBeLessThanOrEqual(max)
}

/** Polls `effect` every 10 ms until `f` holds, and returns that value; dies after `timeout` ms. */
export const eventually = <A, E, R>(
  what: string,
  effect: Effect.Effect<A, E, R>,
  f: (a: A) => boolean,
  timeout = 3000
): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const deadline = performance.now() + timeout
    let value = yield* effect
    while (!f(value)) {
      if (performance.now() > deadline) {
        return yield* Effect.die(new Error(`timed out waiting for ${what} (last value: ${JSON.stringify(value)})`))
      }
      yield* Effect.sleep("10 millis")
      value = yield* effect
    }
    return value
  })

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
    const scope = yield* Effect.acquireRelease(Scope.make(), (scope) => Scope.close(scope, Exit.void))
    const connector = yield* PgPool.connector({
      ...(options.host === undefined && options.url === undefined ? mainServer : {}),
      ...connection,
      applicationName: name
    })
    const pool = yield* Pool.make(connector, { name: label, ...config }).pipe(Scope.extend(scope))
    const close = Effect.gen(function*() {
      yield* Scope.close(scope, Exit.void)
      expect((yield* pool.stats).totalConnections).toBe(0)
      yield* eventually(`no backend of ${name} left`, count(name), (n) => n === 0, 2000)
    })
    return { pool, name, close }
  })

/** mulberry32: a small seeded generator, so a randomized run can be repeated with DBPOOL_SEED. */
export const random = (seed: number) => {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    next,
    /** A whole number in [min, max]. */
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    pick: <A>(items: ReadonlyArray<A>): A => items[Math.floor(next() * items.length)]!
  }
}

/** The seeds of a randomized test: DBPOOL_SEED (one or several, comma-separated) or `count` fresh ones. */
export const seeds = (count: number): ReadonlyArray<number> => {
  const given = process.env.DBPOOL_SEED
  if (given !== undefined && given.trim() !== "") return given.split(",").map((s) => Number(s.trim()))
  return Array.from({ length: count }, () => Math.floor(Math.random() * 2 ** 31))
}
