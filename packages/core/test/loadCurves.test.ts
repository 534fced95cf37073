/**
 * Adaptive sizing against fixed sizes on synthetic load curves (utils/LoadSim.ts): the numbers behind the
 * table in docs/core.md ("Adaptive sizing and warming"), printed by this test. It runs on the SimClock: the
 * curves wake about 130,000 timers, ten minutes on the TestClock; loadCurvesTestClock.test.ts asserts the same
 * on the TestClock with shorter curves, and checks that the SimClock gives the same results there.
 */
import { PoolSizing } from "@dbpool/core"
import type { PoolConfig } from "@dbpool/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as LoadSim from "./utils/LoadSim.js"

const createMillis = 50
const holdMillis = 200
const seed = 14

const pools: ReadonlyArray<{ readonly name: string; readonly config: PoolConfig.Input }> = [
  { name: "adaptive", config: { minConnections: 2, maxConnections: 20, sizing: PoolSizing.adaptive() } },
  { name: "fixed max", config: { minConnections: 20, maxConnections: 20 } },
  { name: "fixed min", config: { minConnections: 2, maxConnections: 2 } },
  { name: "on demand", config: { minConnections: 2, maxConnections: 20 } }
]

interface Row {
  readonly curve: string
  readonly pool: string
  readonly result: LoadSim.Result
  readonly p99: number
}

describe("adaptive sizing on load curves", () => {
  it.effect(
    "matches fixed-max's p99 wait with markedly fewer connection-seconds, and does not oscillate",
    () =>
      Effect.gen(function*() {
        const rows: Array<Row> = []
        for (const curve of LoadSim.curves) {
          const requests = LoadSim.requests(curve, seed, holdMillis)
          for (const pool of pools) {
            const config: PoolConfig.Input = { ...pool.config, acquireTimeout: "10 seconds" }
            const result = yield* LoadSim.run({ requests, config, createMillis })
            rows.push({ curve: curve.name, pool: pool.name, result, p99: LoadSim.percentile(result.waits, 99) })
          }
        }
        console.log(table(rows))
        // What these runs would cost on the TestClock (4 to 5 ms of real time per timer it wakes).
        console.log(`timers woken: ${rows.reduce((n, r) => n + (r.result.wakes ?? 0), 0)}`)
        for (const curve of LoadSim.curves) {
          const of = (pool: string) => rows.find((r) => r.curve === curve.name && r.pool === pool)!
          const adaptive = of("adaptive")
          const fixedMax = of("fixed max")
          // Within 10 % of fixed-max's p99 wait, or within one creation delay of it (fixed-max's is 0).
          expect({ curve: curve.name, p99: adaptive.p99 }).toEqual({
            curve: curve.name,
            p99: expect.toSatisfy((p99: number) => p99 <= Math.max(fixedMax.p99 * 1.1, fixedMax.p99 + createMillis))
          })
          expect(adaptive.result.timeouts).toBe(0)
          // Markedly fewer: at most 65 % of fixed-max's connection-seconds.
          expect({ curve: curve.name, share: adaptive.result.connectionSeconds / fixedMax.result.connectionSeconds })
            .toEqual({ curve: curve.name, share: expect.toSatisfy((share: number) => share <= 0.65) })
        }
        // Under steady load (the step's last two minutes at 40 requests/s) the target moves at most twice a minute (3 in 90 s).
        const step = rows.find((r) => r.curve === "step" && r.pool === "adaptive")!
        const steady = step.result.changes.filter((c) => c.t >= 90_000)
        expect(steady.length).toBeLessThanOrEqual(3)
      }),
    600_000
  )
})

const table = (rows: ReadonlyArray<Row>): string => {
  const lines = [
    "| curve | pool | connection-seconds | p99 wait (ms) | timeouts | target changes |",
    "| --- | --- | ---: | ---: | ---: | ---: |"
  ]
  for (const r of rows) {
    const changes = r.pool === "adaptive" ? String(r.result.changes.length) : "-"
    lines.push(
      `| ${r.curve} | ${r.pool} | ${
        Math.round(r.result.connectionSeconds)
      } | ${r.p99} | ${r.result.timeouts} | ${changes} |`
    )
  }
  return lines.join("\n")
}
