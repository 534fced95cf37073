/**
 * What the PostgreSQL reliability scenarios (docs/fault-scenarios.md) share beyond @dbpool/testing's Reliability
 * helpers: a pool of the test's own in a scope it can close, its cluster's count of it, and the end of
 * every test (pool total 0 after close, server count 0).
 */
import type * as PoolConfig from "@dbpool/core/PoolConfig"
import type { PoolStats } from "@dbpool/core/PoolStats"
import { PgPool } from "@dbpool/pg"
import { Pool } from "@dbpool/sql"
import { PgCluster, Reliability } from "@dbpool/testing"
import { afterAll, beforeAll, beforeEach, expect } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as Fs from "node:fs"
import type Pg from "pg"

/**
 * How late this process got to run during the current test (reset before each): upper time bounds are
 * `bound + lag.slack()` or `lag.widen(bound)`, so that other test suites on the same cores, which make every
 * timer late, are not taken for a late pool.
 */
export const lag = Reliability.unsafeLagMeter()
beforeEach(lag.reset)
afterAll(lag.stop)

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
  Effect.map(
    Reliability.ownScope(Effect.flatMap(PgPool.connector(options), (connector) => Pool.make(connector, options.pool))),
    ({ close, value: pool }): TestPool => ({ pool, close: Effect.zipRight(close, pool.stats) })
  )

export interface ClusterPool extends TestPool {
  readonly name: string
  /** The cluster's count of this pool's connections. */
  readonly count: Effect.Effect<number>
}

/** A pool on the cluster's URL under an application_name of its own (from `label`), with the cluster's count of it. */
export const clusterPool = (
  cluster: PgCluster.PgCluster,
  label: string,
  pool: PoolConfig.Input,
  options: Omit<PgPool.PgPoolOptions, "pool" | "applicationName"> = { url: Redacted.make(cluster.url) }
) =>
  Effect.gen(function*() {
    const name = applicationName(label)
    const testPool = yield* makePool({ ...options, applicationName: name, pool })
    return { ...testPool, name, count: serverCount(cluster, name) } satisfies ClusterPool
  })

/**
 * Waits until the server counts as many of our connections as the pool holds, and `settled` holds for
 * the pool's statistics; returns both.
 */
export const serverMatchesPool = (
  testPool: TestPool,
  count: Effect.Effect<number>,
  settled: (stats: PoolStats) => boolean = () => true
) =>
  Reliability.eventually(
    "the server to count as many connections as the pool holds",
    Effect.zip(testPool.pool.stats, count),
    ([stats, n]) => stats.totalConnections === n && settled(stats)
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

/** The end of every scenario: the pool closed has no connection, and the server none of ours (within 2 s). */
export const closeAndCheck = (testPool: TestPool, count: Effect.Effect<number>) =>
  Effect.gen(function*() {
    // A backend leaves pg_stat_activity a moment after its client's Terminate.
    const stats = yield* Reliability.closeAndCount(testPool.close, count, 2000)
    expect(stats.pendingConnections).toBe(0)
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

/**
 * Builds the PgCluster template of this test process (once per process) before the file's tests, under the
 * hook's timeout: on a busy machine that first build took most of a test's own timeout once.
 */
export const preparePgClusters = (): void =>
  beforeAll(() => Effect.runPromise(Effect.scoped(PgCluster.make({ start: false }))), 120_000)
