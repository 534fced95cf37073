/**
 * What the PostgreSQL reliability scenarios (RELIABILITY.md) share: a pool of the test's own in a scope
 * it can close, its size sampled every 10 ms, the process' unhandled errors, typed failures, and the
 * end of every test (pool total 0 after close, server count 0).
 */
import type { PoolStats } from "@dbpool/core/PoolStats"
import { PgPool } from "@dbpool/pg"
import { Pool } from "@dbpool/sql"
import type { PgCluster } from "@dbpool/testing"
import { expect } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Option, Schedule, Scope } from "effect"
import * as Fs from "node:fs"
import type Pg from "pg"

/** ε of RELIABILITY.md: the tolerance on every time bound, in milliseconds. */
export const epsilon = 100

export const now = (): number => performance.now()

let names = 0

/** An application_name no other test (nor another run on this machine) uses, so the server counts only this pool. */
export const applicationName = (label: string): string => `dbpool-rel-${label}-${process.pid}-${++names}`

export interface TestPool {
  readonly pool: Pool.Pool<Pg.Client>
  /** Closes the pool (its scope) and returns its statistics afterwards. */
  readonly close: Effect.Effect<PoolStats>
}

/**
 * A pool in a scope of its own, closed by `close` or, at the latest, with the test's scope (so a failing
 * test leaves nothing open).
 */
export const makePool = (options: PgPool.PgPoolOptions) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    const connector = yield* PgPool.connector(options)
    const pool = yield* Scope.extend(Pool.make(connector, options.pool), scope)
    const result: TestPool = { pool, close: Effect.zipRight(Scope.close(scope, Exit.void), pool.stats) }
    return result
  })

/** Runs `effect` every 10 ms until its value satisfies `f` and returns it; dies after `timeout` ms with the last value. */
export const eventually = <A, E, R>(
  what: string,
  effect: Effect.Effect<A, E, R>,
  f: (a: A) => boolean,
  timeout = 3000
): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const deadline = now() + timeout
    let value = yield* effect
    while (!f(value)) {
      if (now() > deadline) {
        return yield* Effect.die(new Error(`timed out waiting for ${what} (last value: ${JSON.stringify(value)})`))
      }
      yield* Effect.sleep("10 millis")
      value = yield* effect
    }
    return value
  })

/** How long an effect took (ms), with its exit. */
export const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = now()
    const exit = yield* Effect.exit(effect)
    return { exit, elapsed: now() - start }
  })

/** The typed failure of an exit; a success, a defect or an interruption fails the test, showing the cause. */
export const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) return expect.fail(`expected a failure, got a success: ${JSON.stringify(exit.value)}`)
  expect(Cause.isDie(exit.cause), Cause.pretty(exit.cause)).toBe(false)
  expect(Cause.isInterruptedOnly(exit.cause), Cause.pretty(exit.cause)).toBe(false)
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) return expect.fail(Cause.pretty(exit.cause))
  return failure.value
}

export interface SizeSample extends PoolStats {
  readonly at: number
}

/**
 * The pool's statistics every 10 ms, from now until `stop` (or the scope's end). `violations` lists the
 * samples where the pool held or was opening more than `maxConnections`.
 */
export const sampleSize = (pool: Pool.Pool<Pg.Client>) =>
  Effect.gen(function*() {
    const samples: Array<SizeSample> = []
    const fiber = yield* pool.stats.pipe(
      Effect.tap((stats) => {
        samples.push({ ...stats, at: now() })
      }),
      Effect.repeat(Schedule.spaced("10 millis")),
      Effect.forkScoped
    )
    return {
      samples,
      stop: Fiber.interrupt(fiber),
      violations: () =>
        samples.filter((s) =>
          s.totalConnections > s.maxConnections || s.totalConnections + s.pendingConnections > s.maxConnections
        )
    }
  })

/**
 * Every `uncaughtException` and `unhandledRejection` of the process while the scope is open (an idle
 * client's error without a listener would crash the process: node-postgres #2386).
 */
export const watchUnhandled = Effect.acquireRelease(
  Effect.sync(() => {
    const errors: Array<unknown> = []
    const record = (error: unknown) => {
      errors.push(error)
    }
    process.on("uncaughtException", record)
    process.on("unhandledRejection", record)
    return {
      errors,
      remove: () => {
        process.off("uncaughtException", record)
        process.off("unhandledRejection", record)
      }
    }
  }),
  ({ remove }) => Effect.sync(remove)
)

/** Our connections on the cluster, as the server counts them. */
export const serverCount = (cluster: PgCluster.PgCluster, name: string) => Effect.orDie(cluster.countConnections(name))

/**
 * Every client backend of the cluster but the one asking, including those still logging in (which have no
 * application_name yet, so `countConnections` misses them).
 */
export const allBackends = (cluster: PgCluster.PgCluster) =>
  Effect.map(
    Effect.orDie(
      cluster.sql(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
      )
    ),
    (rows) => rows[0]!.n as number
  )

/** The end of every scenario: the pool closed has no connection, and the server none of ours. */
export const closeAndCheck = (
  testPool: TestPool,
  count: Effect.Effect<number>
) =>
  Effect.gen(function*() {
    const stats = yield* testPool.close
    expect(stats.totalConnections).toBe(0)
    expect(stats.pendingConnections).toBe(0)
    // A backend leaves pg_stat_activity a moment after its client's Terminate.
    yield* eventually("the server to count none of our connections", count, (n) => n === 0, 2000)
  })

/**
 * The cluster's backend processes serving a TCP client, whatever their stage: read from the postmaster's
 * children and their process titles (`postgres: <user> <db> 127.0.0.1(<port>) <state>`). On PostgreSQL 15,
 * `pg_stat_activity` shows no backend before its authentication is over, so a login cut short by a timeout
 * is visible only here.
 */
export const clientProcesses = (cluster: PgCluster.PgCluster) =>
  Effect.map(cluster.pid, (postmaster) => {
    if (postmaster === undefined) return 0
    let n = 0
    for (const entry of Fs.readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue
      try {
        // the parent pid is the 4th field, after the command name in parentheses (which may hold spaces)
        const stat = Fs.readFileSync(`/proc/${entry}/stat`, "utf8")
        const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
        if (ppid !== postmaster) continue
        if (/127\.0\.0\.1\(\d+\)/.test(Fs.readFileSync(`/proc/${entry}/cmdline`, "utf8"))) n++
      } catch {
        // the process ended meanwhile
      }
    }
    return n
  })
