/**
 * The SimClock (utils/SimClock.ts) against effect's TestClock with the load as the full-size curves of
 * loadCurves.test.ts and warming.test.ts play it (a timer per arrival and per hold, no tick): on a short
 * spike, the same pools give exactly the same runs on both clocks. loadCurvesTestClock.test.ts and
 * warmingTestClock.test.ts check the same on the ticked load.
 */
import { PoolSizing } from "@dbpool/core"
import type { PoolConfig } from "@dbpool/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as LoadSim from "./utils/LoadSim.js"

// 4 requests/s for 20 s, with 60/s from 5 s to 8 s: ties, creations, retirements and target changes.
const spike: LoadSim.Curve = { name: "spike", seconds: 20, peak: 60, rate: (s) => s >= 5 && s < 8 ? 60 : 4 }
const requests = LoadSim.requests(spike, 14, 200)

const pools: ReadonlyArray<PoolConfig.Input> = [
  { minConnections: 2, maxConnections: 20, sizing: PoolSizing.adaptive() },
  // Timeouts: 2 connections for 30 busy on average, 1 s acquire timeout.
  { minConnections: 2, maxConnections: 2, acquireTimeout: "1 second" }
]

describe("SimClock", () => {
  it.effect("plays a load with a timer per request exactly as the TestClock does", () =>
    Effect.gen(function*() {
      for (const config of pools) {
        const { wakes, ...onSimClock } = yield* LoadSim.run({ requests, config, createMillis: 50 })
        const { wakes: _, ...onTestClock } = yield* LoadSim.run({
          requests,
          config,
          createMillis: 50,
          clock: "TestClock"
        })
        expect(onSimClock).toEqual(onTestClock)
        // Not an empty run: requests were served, and the clock woke more timers than there are requests.
        expect(onSimClock.waits.length).toBeGreaterThan(requests.length / 2)
        expect(wakes).toBeGreaterThan(requests.length)
        // The adaptive pool moved its target; the small pool timed callers out.
        expect(config.sizing ? onSimClock.changes.length : onSimClock.timeouts).toBeGreaterThan(0)
      }
    }), 120_000)
})
