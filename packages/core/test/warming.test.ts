/**
 * Connection warming on a known peak (utils/LoadSim.ts): the first request after an idle period and the
 * p99 wait during the ramp, with and without warming; the numbers behind the warming table in docs/core.md,
 * printed by this test. It runs on the SimClock; warmingTestClock.test.ts asserts the same on the TestClock on
 * a shorter day, and checks that the SimClock gives the same results there.
 */
import { PoolSizing } from "@dbpool/core"
import type { PoolConfig } from "@dbpool/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import * as LoadSim from "./utils/LoadSim.js"

const createMillis = 50
const holdMillis = 200

// Two periods of 300 s; each idle for 200 s, then 10 s of ramp to 60 requests/s and 50 s at 60/s.
const curve = LoadSim.peakEvery({
  periods: 2,
  periodSeconds: 300,
  startSeconds: 200,
  rampSeconds: 10,
  plateauSeconds: 50,
  peak: 60
})
const base: PoolConfig.Input = { minConnections: 0, maxConnections: 20, acquireTimeout: "10 seconds" }

const pools: ReadonlyArray<{ readonly name: string; readonly config: PoolConfig.Input }> = [
  { name: "adaptive, no warming", config: { ...base, sizing: PoolSizing.adaptive() } },
  {
    name: "adaptive + scheduled",
    config: {
      ...base,
      // 10 s before each peak (at 200 s and 500 s of the SimClock, which starts at 00:00:00 UTC).
      sizing: PoolSizing.adaptive({
        warming: [
          PoolSizing.scheduled({
            schedule: Schedule.cron("10 3,8 * * * *", "UTC"),
            connections: 20,
            duration: "80 seconds"
          })
        ]
      })
    }
  },
  {
    name: "adaptive + learned",
    config: {
      ...base,
      sizing: PoolSizing.adaptive({
        warming: [PoolSizing.learned({ period: "300 seconds", bucket: "10 seconds", lead: "20 seconds" })]
      })
    }
  },
  { name: "on demand", config: base },
  { name: "fixed max", config: { ...base, minConnections: 20 } }
]

interface Row {
  readonly pool: string
  readonly first: number
  readonly rampP99: number
  readonly connectionSeconds: number
  readonly timeouts: number
}

describe("connection warming before a known peak", () => {
  it.effect(
    "scheduled and learned warming serve the first request and the ramp without waiting for connections",
    () =>
      Effect.gen(function*() {
        const requests = LoadSim.requests(curve, 7, holdMillis)
        // The second peak: the first request after 200 s idle, and those of the ramp and the 10 s after it.
        const second = requests.flatMap((r, i) => r.at >= 300_000 ? [i] : [])
        const ramp = second.filter((i) => requests[i]!.at < 520_000)
        const rows: Array<Row> = []
        for (const pool of pools) {
          const result = yield* LoadSim.run({ requests, config: pool.config, createMillis })
          rows.push({
            pool: pool.name,
            first: result.waitOf[second[0]!]!,
            rampP99: LoadSim.percentile(ramp.map((i) => result.waitOf[i] ?? 10_000), 99),
            connectionSeconds: result.connectionSeconds,
            timeouts: result.timeouts
          })
        }
        console.log(table(rows))
        const of = (name: string) => rows.find((r) => r.pool === name)!
        // Without warming the first request waits for a connection to open; warmed, it waits for nothing.
        expect(of("adaptive, no warming").first).toBe(createMillis)
        expect([of("adaptive + scheduled").first, of("adaptive + learned").first]).toEqual([0, 0])
        // During the ramp, warmed pools wait no longer than fixed-max's p99 plus a tenth of a creation.
        for (const name of ["adaptive + scheduled", "adaptive + learned"]) {
          expect({ name, p99: of(name).rampP99 }).toEqual({
            name,
            p99: expect.toSatisfy((p99: number) => p99 <= of("fixed max").rampP99 + createMillis / 10)
          })
          expect(of(name).connectionSeconds).toBeLessThan(of("fixed max").connectionSeconds / 2)
        }
        expect(of("adaptive, no warming").rampP99).toBeGreaterThan(of("adaptive + learned").rampP99)
      }),
    600_000
  )
})

const table = (rows: ReadonlyArray<Row>): string =>
  [
    "| pool | first request after idle: wait (ms) | p99 wait during the ramp (ms) | connection-seconds | timeouts |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...rows.map((r) => `| ${r.pool} | ${r.first} | ${r.rampP99} | ${Math.round(r.connectionSeconds)} | ${r.timeouts} |`)
  ].join("\n")
