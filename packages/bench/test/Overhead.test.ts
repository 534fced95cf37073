import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Overhead from "../src/Overhead.js"
import * as Report from "../src/Report.js"

describe("Overhead", () => {
  it("quantile is the nearest-rank value of sorted samples", () => {
    const sorted = Float64Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
    expect(Overhead.quantile(sorted, 0.5)).toBe(5)
    expect(Overhead.quantile(sorted, 0.99)).toBe(10)
    expect(Overhead.quantile(sorted, 0.1)).toBe(1)
    expect(Overhead.quantile(sorted, 0)).toBe(1)
    expect(Overhead.quantile(new Float64Array(0), 0.5)).toBeNaN()
  })

  it("median takes the middle value, or the mean of the two middle ones", () => {
    expect(Overhead.median([3, 1, 2])).toBe(2)
    expect(Overhead.median([4, 1, 3, 2])).toBe(2.5)
    expect(Overhead.median([])).toBeNaN()
  })

  it("rejects a sampling period that is not a power of two", async () => {
    const exit = await Effect.runPromiseExit(Overhead.run({ sampleEvery: 3, cases: [{ size: 1, fibers: 1 }] }))
    expect(exit._tag).toBe("Failure")
  })

  // Real time is the point: the benchmark runs fibers under the live clock.
  it.live("the quick mode runs every contender on every case in order, leaks nothing, and reports every figure", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<Overhead.Case> = [{ size: 2, fibers: 1 }, { size: 2, fibers: 8 }]
      const seen: Array<string> = []
      const report = yield* Overhead.run({
        quick: true,
        durationMs: 20,
        warmupMs: 5,
        globalWarmupMs: 5,
        rounds: 2,
        cases,
        log: (c) => seen.push(`${c.size}/${c.fibers}`)
      })
      expect(seen).toEqual(["2/1", "2/8"])
      expect(report.rounds).toBe(2)
      expect(report.durationMs).toBe(20)
      expect(report.cases.map((c) => c.contenders.map((x) => x.id))).toEqual([
        Overhead.contenders,
        Overhead.contenders
      ])
      for (const c of report.cases) {
        for (const x of c.contenders) {
          expect(x.rounds).toHaveLength(2)
          for (const r of x.rounds) {
            expect(r.ops).toBeGreaterThan(0)
            expect(r.samples).toBeGreaterThan(0)
            expect(r.elapsedMs).toBeGreaterThanOrEqual(20)
            expect(r.settledAfterMs).toBeGreaterThanOrEqual(5)
            expect(r.opsPerFiber.min).toBeLessThanOrEqual(r.opsPerFiber.p50)
            expect(r.opsPerFiber.p50).toBeLessThanOrEqual(r.opsPerFiber.max)
            expect(r.p50).toBeLessThanOrEqual(r.p99)
            expect(r.p99).toBeLessThanOrEqual(r.p999)
            expect(r.p999).toBeLessThanOrEqual(r.max)
          }
          expect(x.opsPerSec).toBeGreaterThan(0)
        }
      }
      expect(report.leaks).toEqual([])
      const table = Report.throughputTable(report)
      expect(table.split("\n")).toHaveLength(2 + cases.length)
      expect(table).toContain("dbpool use / effect Pool TTL")
      expect(table).toContain("dbpool use, observed / effect Pool TTL")
      expect(Report.fairnessTable(report)).toContain("Acquire wait at 2/8")
    }))
})
