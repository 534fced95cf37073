import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Sizing from "../src/Sizing.js"

describe("Sizing", () => {
  // Real time is the point: queries go to the PostgreSQL server CI starts.
  it.live(
    "runs every contender over a short curve against PostgreSQL, and the first request after idle",
    () =>
      Effect.gen(function*() {
        const report = yield* Sizing.run({ seconds: 3, idleMs: 2500 })
        expect(report.curve.map((r) => r.id)).toEqual(Sizing.contenders)
        const of = (id: Sizing.ContenderId) => report.curve.find((r) => r.id === id)!
        // Every request of the adaptive pools and of fixed max is served; fixed min may time out, not they.
        for (const id of ["adaptive", "adaptive + spare(4)", "fixed max"] as const) expect(of(id).errors).toBe(0)
        expect(of("adaptive").requests).toBeGreaterThan(0)
        // Fixed max keeps 20 open throughout; the adaptive pool opens what the curve needs.
        expect(of("adaptive").connectionSeconds).toBeLessThan(of("fixed max").connectionSeconds)
        expect(report.first.map((f) => f.id)).toEqual(["adaptive", "adaptive + spare(4)"])
        expect(Sizing.markdown(report)).toContain("| adaptive |")
      }),
    120_000
  )
})
