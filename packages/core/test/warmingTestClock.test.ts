/**
 * Connection warming before a known peak, on effect's TestClock: a shorter scenario than warming.test.ts
 * (periods of 120 s instead of 300 s, peaks of 20 s instead of 60 s), with the load on a 50 ms tick
 * (utils/LoadSim.ts), because each timer the TestClock wakes costs 4 to 5 ms of real time. The warming
 * criteria are asserted on the TestClock, and the same runs on the SimClock must give exactly the same
 * results, which is what lets warming.test.ts run on the SimClock.
 */
import { PoolSizing } from "@dbpool/core"
import type { PoolConfig } from "@dbpool/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import * as LoadSim from "./utils/LoadSim.js"

const createMillis = 50
const holdMillis = 200
const tickMillis = 50

// Two periods of 120 s; each idle for 80 s, then 10 s of ramp to 60 requests/s and 10 s at 60/s.
const curve = LoadSim.peakEvery({
  periods: 2,
  periodSeconds: 120,
  startSeconds: 80,
  rampSeconds: 10,
  plateauSeconds: 10,
  peak: 60
})
const base: PoolConfig.Input = { minConnections: 0, maxConnections: 20, acquireTimeout: "10 seconds" }

const pools: ReadonlyArray<{ readonly name: string; readonly config: PoolConfig.Input }> = [
  { name: "adaptive, no warming", config: { ...base, sizing: PoolSizing.adaptive() } },
  {
    name: "adaptive + scheduled",
    config: {
      ...base,
      // 10 s before each peak (at 80 s and 200 s of the clock, which starts at 00:00:00 UTC).
      sizing: PoolSizing.adaptive({
        warming: [
          PoolSizing.scheduled({
            schedule: Schedule.cron("10 1,3 * * * *", "UTC"),
            connections: 20,
            duration: "40 seconds"
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
        warming: [PoolSizing.learned({ period: "120 seconds", bucket: "10 seconds", lead: "20 seconds" })]
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

const requests = LoadSim.requests(curve, 7, holdMillis)
// The second peak: its first request after 100 s idle, and the requests of its ramp and the 10 s after it.
const second = requests.flatMap((r, i) => r.at >= 120_000 ? [i] : [])
const ramp = second.filter((i) => requests[i]!.at < 220_000)

const runAll = (clock: "SimClock" | "TestClock") =>
  Effect.forEach(
    pools,
    (pool) =>
      Effect.map(LoadSim.run({ requests, config: pool.config, createMillis, tickMillis, clock }), (result): Row => ({
        pool: pool.name,
        first: result.waitOf[second[0]!]!,
        rampP99: LoadSim.percentile(ramp.map((i) => result.waitOf[i] ?? 10_000), 99),
        connectionSeconds: result.connectionSeconds,
        timeouts: result.timeouts
      }))
  )

describe("connection warming before a known peak, on the TestClock", () => {
  it.effect(
    "scheduled and learned warming serve the first request and the ramp without waiting; the SimClock agrees",
    () =>
      Effect.gen(function*() {
        const rows = yield* runAll("TestClock")
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
        expect(rows.map((r) => r.timeouts)).toEqual(pools.map(() => 0))
        // The SimClock gives exactly the same table.
        expect(yield* runAll("SimClock")).toEqual(rows)
      }),
    300_000
  )
})

const table = (rows: ReadonlyArray<Row>): string =>
  [
    "| pool | first request after idle: wait (ms) | p99 wait during the ramp (ms) | connection-seconds | timeouts |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...rows.map((r) => `| ${r.pool} | ${r.first} | ${r.rampP99} | ${Math.round(r.connectionSeconds)} | ${r.timeouts} |`)
  ].join("\n")
