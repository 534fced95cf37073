/**
 * Adaptive sizing on load curves, on effect's TestClock: shorter curves than loadCurves.test.ts (30 to 60 s
 * instead of 3 to 4 minutes, at the same rates), with the load on a 50 ms tick (utils/LoadSim.ts), because
 * each timer the TestClock wakes costs 4 to 5 ms of real time. The criteria are asserted on the
 * TestClock, and the same runs on the SimClock must give exactly the same results (every wait, timeout,
 * connection-second and target change), which is what lets the full-size curves run on the SimClock.
 */
import { PoolSizing } from "@dbpool/core"
import type { PoolConfig } from "@dbpool/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as LoadSim from "./utils/LoadSim.js"

const createMillis = 50
const holdMillis = 200
const tickMillis = 50
const seed = 14

// The curves of loadCurves.test.ts at the same rates, shortened.
const shortCurves: ReadonlyArray<LoadSim.Curve> = [
  { name: "step", seconds: 60, peak: 40, rate: (s) => s < 30 ? 2 : 40 },
  { name: "ramp", seconds: 30, peak: 45, rate: (s) => (s / 30) * 45 },
  { name: "spike", seconds: 30, peak: 60, rate: (s) => s >= 10 && s < 15 ? 60 : 4 },
  // One 30 s period, from trough to trough.
  { name: "diurnal sine", seconds: 30, peak: 40, rate: (s) => 21 - 19 * Math.cos((2 * Math.PI * s) / 30) },
  { name: "idle", seconds: 30, peak: 0.5, rate: () => 0.5 }
]

// Steady load, for the target's stability (the adaptive pool only).
const steady: LoadSim.Curve = { name: "steady", seconds: 60, peak: 40, rate: () => 40 }

const pools: ReadonlyArray<{ readonly name: string; readonly config: PoolConfig.Input }> = [
  { name: "adaptive", config: { minConnections: 2, maxConnections: 20, sizing: PoolSizing.adaptive() } },
  { name: "fixed max", config: { minConnections: 20, maxConnections: 20 } }
]

interface Row {
  readonly curve: string
  readonly pool: string
  readonly result: Omit<LoadSim.Result, "wakes">
}

const runAll = (clock: "SimClock" | "TestClock") =>
  Effect.gen(function*() {
    const rows: Array<Row> = []
    for (const curve of shortCurves) {
      const requests = LoadSim.requests(curve, seed, holdMillis)
      for (const pool of pools) {
        const config: PoolConfig.Input = { ...pool.config, acquireTimeout: "10 seconds" }
        const { wakes: _, ...result } = yield* LoadSim.run({ requests, config, createMillis, tickMillis, clock })
        rows.push({ curve: curve.name, pool: pool.name, result })
      }
    }
    const requests = LoadSim.requests(steady, seed, holdMillis)
    const config: PoolConfig.Input = { ...pools[0]!.config, acquireTimeout: "10 seconds" }
    const { wakes: _, ...result } = yield* LoadSim.run({ requests, config, createMillis, tickMillis, clock })
    rows.push({ curve: steady.name, pool: pools[0]!.name, result })
    return rows
  })

describe("adaptive sizing on load curves, on the TestClock", () => {
  it.effect(
    "matches fixed-max's p99 wait with markedly fewer connection-seconds, does not oscillate; the SimClock agrees",
    () =>
      Effect.gen(function*() {
        const rows = yield* runAll("TestClock")
        console.log(table(rows))
        for (const curve of shortCurves) {
          const of = (pool: string) => rows.find((r) => r.curve === curve.name && r.pool === pool)!.result
          const adaptive = of("adaptive")
          const fixedMax = of("fixed max")
          const p99 = (r: Row["result"]) => LoadSim.percentile(r.waits, 99)
          // Within 10 % of fixed-max's p99 wait, or within one creation delay of it (docs/core.md).
          expect({ curve: curve.name, p99: p99(adaptive) }).toEqual({
            curve: curve.name,
            p99: expect.toSatisfy((x: number) => x <= Math.max(p99(fixedMax) * 1.1, p99(fixedMax) + createMillis))
          })
          expect([adaptive.timeouts, fixedMax.timeouts]).toEqual([0, 0])
          // Markedly fewer: at most 65 % of fixed-max's connection-seconds.
          expect({ curve: curve.name, share: adaptive.connectionSeconds / fixedMax.connectionSeconds })
            .toEqual({ curve: curve.name, share: expect.toSatisfy((share: number) => share <= 0.65) })
        }
        // Under steady load (40 requests/s), once the moving means have caught up (10 s), the target moves at
        // most twice in 50 s (2 a minute; the printed table counts the changes of the rise too).
        const stable = rows.find((r) => r.curve === "steady")!.result
        expect(stable.timeouts).toBe(0)
        expect(stable.changes.filter((c) => c.t >= 10_000).length).toBeLessThanOrEqual(2)
        // The SimClock gives exactly the same runs: every wait, timeout, connection-second and target change.
        const onSimClock = yield* runAll("SimClock")
        expect(onSimClock).toEqual(rows)
      }),
    300_000
  )
})

const table = (rows: ReadonlyArray<Row>): string => {
  const lines = [
    "| curve | pool | connection-seconds | p99 wait (ms) | timeouts | target changes |",
    "| --- | --- | ---: | ---: | ---: | ---: |"
  ]
  for (const { curve, pool, result } of rows) {
    const changes = pool === "adaptive" ? String(result.changes.length) : "-"
    const p99 = LoadSim.percentile(result.waits, 99)
    lines.push(
      `| ${curve} | ${pool} | ${Math.round(result.connectionSeconds)} | ${p99} | ${result.timeouts} | ${changes} |`
    )
  }
  return lines.join("\n")
}
