import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Overhead from "../src/Overhead.js"
import * as Report from "../src/Report.js"

const round = (min: number, p50: number, max: number): Overhead.Round => ({
  ops: 1,
  elapsedMs: 1,
  opsPerSec: 1,
  cpuUsPerOp: 1,
  samples: 1,
  opsPerFiber: { min, p50, max },
  settledAfterMs: 0,
  p50: 1,
  p99: 1,
  p999: 1,
  max: 1
})

const contender = (id: Overhead.ContenderId, rounds: ReadonlyArray<Overhead.Round>): Overhead.ContenderResult => ({
  id,
  opsPerSec: 1,
  cpuUsPerOp: 1,
  p50: 1,
  p99: 1,
  p999: 1,
  max: 1,
  rounds
})

describe("Overhead", () => {
  it("says which contenders barge from their operations per fiber, and what it does to their figures", () => {
    const report: Overhead.Report = {
      quick: false,
      durationMs: 1000,
      rounds: 2,
      sampleEvery: 4,
      warmupMs: 0,
      globalWarmupMs: 0,
      startedAt: "2026-01-01T00:00:00.000Z",
      totalSeconds: 1,
      leaks: [],
      cases: [{
        size: 100,
        fibers: 1000,
        contenders: [
          contender("dbpool.use", [round(90, 91, 92), round(60, 61, 61)]),
          // Even in its first round, starved in its second: one such round is enough to call it barging.
          contender("effect.Pool", [round(10, 11, 12), round(0, 0, 26705)]),
          contender("tarn", [round(245, 245, 246), round(163, 163, 164)]),
          contender("effect.bare", [round(0, 1, 3000)])
        ]
      }]
    }
    const notes = Report.bargingNotes(report).split("\n")
    expect(notes.filter((l) => l.startsWith("- "))).toEqual([
      "- dbpool use: fair (fewest / median / most operations per fiber, most uneven round: 90 / 91 / 92): " +
      "a release hands the connection to the oldest waiter (FIFO).",
      "- effect Pool: **barges** (fewest / median / most operations per fiber, most uneven round: 0 / 0 / 26,705): " +
      "a release puts the item back in the pool's queue and wakes a waiter, but the releasing fiber, still running " +
      "(its body never suspends), asks again and takes the item before the woken waiter runs.",
      "- tarn: fair (fewest / median / most operations per fiber, most uneven round: 163 / 163 / 164): " +
      "a release hands the resource to the oldest pending acquire."
    ])
    expect(notes.at(-1)).toMatch(/^What barging does to the figures of effect Pool: /)
  })

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
            expect(r.cpuUsPerOp).toBeGreaterThan(0)
            expect(Number.isFinite(r.cpuUsPerOp)).toBe(true)
          }
          expect(x.opsPerSec).toBeGreaterThan(0)
          expect(x.cpuUsPerOp).toBeGreaterThan(0)
        }
      }
      expect(report.leaks).toEqual([])
      const table = Report.throughputTable(report)
      expect(table.split("\n")).toHaveLength(2 + cases.length)
      expect(table).toContain("fair Effect pool ops/s (CPU µs/op)")
      const ratios = Report.ratioTable(report)
      expect(ratios.split("\n")).toHaveLength(2 + cases.length)
      for (const subject of ["dbpool use", "dbpool use, observed", "dbpool scoped(get)"]) {
        for (const reference of ["tarn", "fair Effect pool", "effect Pool TTL"]) {
          expect(ratios).toContain(`| ${subject} / ${reference} |`)
        }
      }
      expect(Report.fairnessTable(report)).toContain("Acquire wait at 2/8")
    }))
})
