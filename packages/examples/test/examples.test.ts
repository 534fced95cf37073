import { closeReasons } from "@dbpool/core/PoolStats"
import type * as ResourcePool from "@dbpool/core/ResourcePool"
import { afterAll, beforeAll, describe, expect, it, vi } from "@effect/vitest"
import { Effect, Exit, Layer, Scope } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { postgresIsUp, requirePostgres, serverConnections } from "./utils/postgres.js"
import { run } from "./utils/process.js"

// The examples put their SQLite files here (read when each module is imported).
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dbpool-examples-test-"))
process.env.DBPOOL_EXAMPLES_DIR = dir
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const packageDir = path.resolve(import.meta.dirname, "..")

// The examples run on PostgreSQL (127.0.0.1:5432, or DATABASE_URL). In CI a missing server fails them.
const postgres = await postgresIsUp()

/** The example database files this process still has open (from /proc/self/fd): none once a run is over. */
const openDatabaseFiles = (): ReadonlyArray<string> =>
  fs.readdirSync("/proc/self/fd").flatMap((fd) => {
    try {
      const target = fs.readlinkSync(path.join("/proc/self/fd", fd))
      return target.startsWith(dir) ? [target] : []
    } catch {
      return []
    }
  })

type Pools = ReadonlyArray<ResourcePool.ResourcePool<unknown, unknown>>

/**
 * Builds the example's layer, runs its program (capturing what it prints), closes the layer, and checks
 * afterwards that each pool the layer built (the default one and every tagged one) has closed every
 * connection it opened, and that no database file is left open.
 */
const runExample = <A, E, R, LE>(program: Effect.Effect<A, E, R>, layer: Layer.Layer<R, LE>) =>
  Effect.gen(function*() {
    const printed: Array<string> = []
    const spy = vi.spyOn(console, "log").mockImplementation((...args) => void printed.push(args.join(" ")))
    yield* Effect.addFinalizer(() => Effect.sync(() => spy.mockRestore()))
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(layer, scope)
    const pools: Pools = Array.from(context.unsafeMap.entries())
      .filter(([key]) => key.startsWith("@dbpool/sql/Pool"))
      .map(([, pool]) => pool)
    const result = yield* Effect.provide(program, context).pipe(Effect.onExit(() => Scope.close(scope, Exit.void)))
    for (const pool of pools) {
      const stats = yield* pool.stats
      const closed = closeReasons.reduce((n, reason) => n + stats.connectionsClosed[reason], 0)
      expect({ pool: stats.name, open: stats.totalConnections, closed }).toEqual({
        pool: stats.name,
        open: 0,
        closed: stats.connectionsCreated
      })
    }
    expect(openDatabaseFiles()).toEqual([])
    // The server's own count: no connection of any example is left open.
    expect(yield* Effect.promise(() => serverConnections("dbpool-example-%"))).toBe(0)
    return { result, pools: pools.length, printed }
  }).pipe(Effect.scoped)

describe("the usage examples, run in process", () => {
  it.live("basic-setup: reads the two users back through a borrowed connection and through SqlClient", (ctx) =>
    Effect.gen(function*() {
      requirePostgres(postgres, ctx)
      const example = yield* Effect.promise(() => import("@dbpool/examples/examples/basic-setup"))
      const { pools, printed, result } = yield* runExample(example.program, example.PoolLive)
      expect(result).toEqual({ users: ["Ada", "Grace"], count: 2 })
      expect(printed).toEqual(["2 users: Ada, Grace", "pool: 2 open, 0 in use"])
      expect(pools).toBe(1)
    }))

  it.live("advanced-configuration: the pool has the settings spelled out and onConnect ran on its connections", (ctx) =>
    Effect.gen(function*() {
      requirePostgres(postgres, ctx)
      const example = yield* Effect.promise(() => import("@dbpool/examples/examples/advanced-configuration"))
      const { printed, result } = yield* runExample(example.program, example.PoolLive)
      expect(result).toEqual({ name: "orders", minConnections: 2, maxConnections: 8, statementTimeout: "5s" })
      expect(printed).toEqual(["pool \"orders\": 2..8 connections, callers wait at most 2s; statement_timeout = 5s"])
    }))

  it.live("advanced-configuration: the same pool reads its settings from the environment", (ctx) =>
    Effect.gen(function*() {
      requirePostgres(postgres, ctx)
      const example = yield* Effect.promise(() => import("@dbpool/examples/examples/advanced-configuration"))
      process.env.POOL_NAME = "from-env"
      process.env.POOL_MAX_CONNECTIONS = "3"
      process.env.POOL_MIN_CONNECTIONS = "1"
      const { result } = yield* runExample(example.program, example.PoolFromEnv).pipe(
        Effect.ensuring(Effect.sync(() => {
          delete process.env.POOL_NAME
          delete process.env.POOL_MAX_CONNECTIONS
          delete process.env.POOL_MIN_CONNECTIONS
        }))
      )
      // No onConnect in this layer: the server's default (no statement timeout).
      expect(result).toEqual({ name: "from-env", minConnections: 1, maxConnections: 3, statementTimeout: "0" })
    }))

  it.live("concurrent-work: 100 tasks finish on at most 5 connections", (ctx) =>
    Effect.gen(function*() {
      requirePostgres(postgres, ctx)
      const example = yield* Effect.promise(() => import("@dbpool/examples/examples/concurrent-work"))
      const { result } = yield* runExample(example.program, example.PoolLive)
      expect(result).toEqual({ tasks: 100, sum: 328_350, peakConnections: 5 })
    }))

  it.live("monitoring: sees an acquired and a released event per task and stats up to the last task", (ctx) =>
    Effect.gen(function*() {
      requirePostgres(postgres, ctx)
      const example = yield* Effect.promise(() => import("@dbpool/examples/examples/monitoring"))
      const { result } = yield* runExample(example.program, example.PoolLive)
      expect({ acquired: result.acquired, released: result.released, served: result.served }).toEqual({
        acquired: 20,
        released: 20,
        served: 20
      })
      expect(result.snapshots).toBeGreaterThanOrEqual(1)
      expect(result.openAtEnd).toBeGreaterThanOrEqual(1)
      expect(result.openAtEnd).toBeLessThanOrEqual(4)
    }))

  it.live("transactions: commits a transfer, rolls back a refused one and a failed savepoint", (ctx) =>
    Effect.gen(function*() {
      requirePostgres(postgres, ctx)
      const example = yield* Effect.promise(() => import("@dbpool/examples/examples/transactions"))
      const { printed, result } = yield* runExample(example.program, example.PoolLive)
      expect(result).toEqual({ refused: "InsufficientFunds", balances: [["alice", 70], ["bob", 80], ["carol", 10]] })
      expect(printed).toEqual(["refused: bob has 80, cannot send 500", "alice: 70, bob: 80, carol: 10"])
    }))

  it.live("health-observer: its callbacks see the broken connection closed and replaced, and healthy checks", (ctx) =>
    Effect.gen(function*() {
      requirePostgres(postgres, ctx)
      const example = yield* Effect.promise(() => import("@dbpool/examples/examples/health-observer"))
      const { result } = yield* runExample(example.program, example.PoolLive)
      expect(result).toEqual({
        replacements: 1,
        closedBroken: 1,
        healthChecksRan: true,
        unhealthy: 0,
        timeouts: 0,
        connectFailures: 0
      })
    }))

  it.live("retry: reaches a database on the third attempt, and gives up on one that stays down after 5", (ctx) =>
    Effect.gen(function*() {
      requirePostgres(postgres, ctx)
      const example = yield* Effect.promise(() => import("@dbpool/examples/examples/retry"))
      // The example builds (and closes) its two pools itself.
      const { result } = yield* runExample(example.program, Layer.empty)
      expect(result).toEqual({
        attemptsToReach: 3,
        connectFailures: 2,
        ok: 1,
        attemptsWhenDown: 5,
        errorWhenDown: "ConnectError"
      })
    }))

  it.live("several-databases: three pools under their own tags, each with its own data", (ctx) =>
    Effect.gen(function*() {
      requirePostgres(postgres, ctx)
      const example = yield* Effect.promise(() => import("@dbpool/examples/examples/several-databases"))
      const { pools, printed, result } = yield* runExample(example.program, example.PoolsLive)
      expect(printed).toEqual([
        "the replica refuses writes: Failed to execute statement: cannot execute INSERT in a read-only transaction",
        "pools primary, Replica, Analytics: 100 in orders, stored for 2026-11-26"
      ])
      expect(result).toEqual({
        pools: ["primary", "Replica", "Analytics"],
        replicaTotal: 100,
        replicaRefusedWrite: "SqlError",
        stored: ["2026-11-26", 100]
      })
      expect(pools).toBe(3)
    }))
})

const examples = [
  "basic-setup",
  "advanced-configuration",
  "concurrent-work",
  "monitoring",
  "transactions",
  "health-observer",
  "retry",
  "several-databases"
]

describe("the usage examples, run as files (npx tsx src/examples/<name>.ts)", () => {
  beforeAll(() => {
    expect(fs.readdirSync(path.join(packageDir, "src/examples")).filter((f) => f !== "run.ts").sort()).toEqual(
      examples.map((name) => `${name}.ts`).sort()
    )
  })

  for (const name of examples) {
    it(`${name} runs to the end by itself and exits 0`, async (ctx) => {
      requirePostgres(postgres, ctx)
      const exampleDir = fs.mkdtempSync(path.join(dir, `${name}-`))
      const { code, stderr, stdout } = await run(process.execPath, ["--import", "tsx", `src/examples/${name}.ts`], {
        cwd: packageDir,
        env: { ...process.env, DBPOOL_EXAMPLES_DIR: exampleDir }
      })
      expect({ code, stderr }).toEqual({ code: 0, stderr: "" })
      expect(stdout.length).toBeGreaterThan(0)
      // The database files it made are all there is: no stray journal left open by a crash.
      expect(fs.readdirSync(exampleDir).every((f) => /\.db(-wal|-shm)?$/.test(f))).toBe(true)
      expect(await serverConnections("dbpool-example-%")).toBe(0)
    }, 60_000)
  }
})
