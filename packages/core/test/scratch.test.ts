import { PoolSizing } from "@dbpool/core"
import { it } from "@effect/vitest"
import { Effect } from "effect"
import * as LoadSim from "./utils/LoadSim.js"

it.effect("variants", () =>
  Effect.gen(function*() {
    const variants = [
      ["s0.3 h0.2", PoolSizing.adaptive({ retireAfter: "10 seconds" })],
      ["s0.15 h0.3", PoolSizing.adaptive({ retireAfter: "10 seconds", smoothing: 0.15, hysteresis: 0.3 })],
      ["s0.1 h0.2", PoolSizing.adaptive({ retireAfter: "10 seconds", smoothing: 0.1 })],
      ["s0.2 h0.3", PoolSizing.adaptive({ retireAfter: "10 seconds", smoothing: 0.2, hysteresis: 0.3 })]
    ] as const
    for (const curve of LoadSim.curves.slice(0, 4)) {
      const requests = LoadSim.requests(curve, 14, 200)
      for (const [name, sizing] of variants) {
        const r = yield* LoadSim.run({ requests, createMillis: 50, config: { minConnections: 2, maxConnections: 20, acquireTimeout: "10 seconds", sizing } })
        console.log(curve.name, name, Math.round(r.connectionSeconds), LoadSim.percentile(r.waits, 99), LoadSim.percentile(r.waits, 99.9), r.timeouts, r.changes.length, r.changes.filter((c) => c.t >= 90000).length)
      }
    }
  }), 600_000)
