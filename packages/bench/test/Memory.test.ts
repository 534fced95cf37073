import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Pg from "pg"
import * as Memory from "../src/Memory.js"
import * as SelectOne from "../src/SelectOne.js"

const benchConnections = async (): Promise<number> => {
  const client = new Pg.Client({ host: "127.0.0.1", port: 5432, user: "postgres", database: "test" })
  await client.connect()
  try {
    const r = await client.query<{ n: string }>(
      "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1",
      [SelectOne.applicationName]
    )
    return Number(r.rows[0]!.n)
  } finally {
    await client.end()
  }
}

const scenario = (id: Memory.ScenarioId, count: number, heapBytes: number): Memory.ScenarioResult => ({
  id,
  count,
  samples: [{ heapBytes, externalBytes: 0, openMs: 1, phasesMs: [1, 1, 1, 1, 1] }],
  heapBytes,
  externalBytes: 0
})

describe("Memory", () => {
  // Real processes and real servers: each figure is a `node --expose-gc` child connecting to PostgreSQL and MariaDB.
  it.live(
    "measures every comparison in a child process, the pool above its baseline, and closes every connection",
    () =>
      Effect.gen(function*() {
        const lines: Array<string> = []
        const report = yield* Memory.run({ quick: true, count: 5, log: (line) => lines.push(line) })
        expect(report.skipped).toEqual([])
        expect(report.notes).toEqual([])
        expect(report.repetitions).toBe(1)
        expect(report.limitBytes).toBe(2048)
        expect(report.comparisons.map((c) => c.id)).toEqual(["pg", "mysql", "core"])
        for (const c of report.comparisons) {
          expect(c.failures).toEqual([])
          expect(c.count).toBe(5)
          expect(c.baseline.samples).toHaveLength(1)
          expect(c.pool.samples).toHaveLength(1)
          // A pool holds its connections and more: its fibers, queues and bookkeeping.
          expect(c.pool.heapBytes).toBeGreaterThan(c.baseline.heapBytes)
          expect(c.perConnectionBytes).toBe((c.pool.heapBytes - c.baseline.heapBytes) / 5)
          expect(c.verdict).toBe(c.perConnectionBytes <= 2048 ? "met" : "not met")
          expect(c.small).toBeUndefined()
          expect(c.marginalBytes).toBeNaN()
        }
        expect(lines).toHaveLength(3)
        expect(yield* Effect.promise(benchConnections)).toBe(0)
      }),
    90_000
  )

  it("splits the cost into per connection and per pool when measured at two counts, and shows notes", () => {
    const small: Memory.Pair = {
      count: 10,
      baseline: scenario("core.array", 10, 1_000),
      pool: scenario("core.pool", 10, 261_000),
      overheadBytes: 260_000
    }
    const report: Memory.Report = {
      quick: false,
      repetitions: 3,
      limitBytes: 2048,
      startedAt: "2026-01-01T00:00:00.000Z",
      totalSeconds: 1,
      comparisons: [{
        id: "core",
        count: 100,
        baseline: scenario("core.array", 100, 9_000),
        pool: scenario("core.pool", 100, 304_000),
        perConnectionBytes: 2_950,
        verdict: "not met",
        small,
        marginalBytes: (295_000 - 260_000) / 90,
        fixedBytes: 260_000 - 10 * ((295_000 - 260_000) / 90),
        failures: []
      }],
      skipped: [],
      notes: ["PostgreSQL: 90 connections, not 100"]
    }
    const table = Memory.table(report)
    expect(table.split("\n").slice(0, 3)).toEqual([
      "| what | N | without dbpool: heap per connection (B) | with dbpool: heap per connection (B) | " +
      "dbpool's own per connection (B) | bar ≤ 2,048 B | of which: each connection more (B) | " +
      "the pool itself (B) | external (Buffers) per connection, without / with (B) |",
      "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
      "| core: ResourcePool of N `{}`, min = max = N vs array of N `{}` | 100 | 90 | 3,040 | 2,950 | not met | " +
      "389 | 256,111 | 0 / 0 |"
    ])
    expect(table).toContain("- PostgreSQL: 90 connections, not 100")
    expect(Memory.markdown(report)).toContain("Measured at 10 connections too")
  })
})
