import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import type * as Scheduler from "effect/Scheduler"
import { roundRobin } from "../src/internal/scale.js"
import * as Scale from "../src/Scale.js"

const round: Scale.Round = {
  ops: 1,
  elapsedMs: 1,
  opsPerSec: 1,
  cpuUsPerOp: 1,
  opsPerFiber: { min: 1, p50: 1, max: 1 }
}

const waiters = (cpuRatios: ReadonlyArray<number>): ReadonlyArray<Scale.WaitersRow> =>
  cpuRatios.map((cpuRatio, i) => ({
    size: 10,
    fibers: [10, 100, 1_000, 10_000][i]!,
    opsPerSec: 100_000 / cpuRatio,
    cpuUsPerOp: 5 * cpuRatio,
    opsRatio: 1 / cpuRatio,
    cpuRatio,
    opsPerFiber: { min: 1, p50: 1, max: 1 },
    waiting: 0,
    rounds: [round]
  }))

const report = (rows: ReadonlyArray<Scale.WaitersRow>, changesRatio: number): Scale.Report => ({
  quick: false,
  durationMs: 1000,
  subscriberDurationMs: 3000,
  rounds: 5,
  startedAt: "2026-01-01T00:00:00.000Z",
  totalSeconds: 1,
  waiters: rows,
  health: undefined,
  subscribers: (["none", "changes"] as const).map((variant) => ({
    variant,
    size: 10,
    fibers: 100,
    subscribers: variant === "none" ? 0 : 100,
    opsPerSec: variant === "none" ? 100_000 : 100_000 * changesRatio,
    cpuUsPerOp: variant === "none" ? 10 : 10 / changesRatio,
    opsRatio: variant === "none" ? 1 : changesRatio,
    cpuRatio: variant === "none" ? 1 : 1 / changesRatio,
    deliveriesPerSec: variant === "none" ? 0 : 300,
    rounds: [round]
  }))
})

/**
 * 10 fibers each yielding 3 × 2,048 times in a row without waiting on anything (as at 10 fibers on a pool of 10):
 * the longest stretch of consecutive yields one fiber made while the others made none, and the largest
 * difference between two fibers' counts at any point.
 */
const turns = (scheduler: Scheduler.Scheduler | undefined) =>
  Effect.gen(function*() {
    const order: Array<number> = []
    const fiber = (k: number) =>
      Effect.forEach(Array.from({ length: 3 * 2048 }), () =>
        Effect.zipRight(Effect.yieldNow(), Effect.sync(() => order.push(k))), {
        discard: true
      })
    const forked: Array<Fiber.RuntimeFiber<void>> = []
    for (let k = 0; k < 10; k++) {
      forked.push(yield* Effect.fork(scheduler === undefined ? fiber(k) : Effect.withScheduler(fiber(k), scheduler)))
    }
    yield* Fiber.joinAll(forked)
    const counts = new Array<number>(10).fill(0)
    let longestRun = 1
    let run = 1
    let spread = 0
    order.forEach((k, i) => {
      counts[k]!++
      run = i > 0 && order[i - 1] === k ? run + 1 : 1
      longestRun = Math.max(longestRun, run)
      spread = Math.max(spread, Math.max(...counts) - Math.min(...counts))
    })
    return { ops: order.length, longestRun, spread }
  })

describe("Scale", () => {
  // Why the rounds' fibers share one run queue: without it the 10-fiber row's per-fiber counts measured
  // Effect's scheduler, which runs a fiber that never waits alone for 2,049 yields at a time.
  it.live("the rounds' fibers take turns one yield at a time, where Effect's default scheduler runs each alone for 2,049", () =>
    Effect.gen(function*() {
      expect(yield* turns(roundRobin())).toEqual({ ops: 10 * 3 * 2048, longestRun: 1, spread: 1 })
      const unfair = yield* turns(undefined)
      expect(unfair.longestRun).toBe(2049)
      expect(unfair.spread).toBe(2049)
    }))

  // Real time is the point: fibers loop under the live clock, and the health checks sleep for real.
  it.live(
    "runs the three parts: a fair FIFO queue at every fiber count, linear rounds, subscribers served",
    () =>
      Effect.gen(function*() {
        const lines: Array<string> = []
        const r = yield* Scale.run({
          durationMs: 60,
          rounds: 1,
          waiterFibers: [10, 100],
          healthSizes: [5, 20],
          log: (line) => lines.push(line)
        })
        expect(r.waiters.map((w) => w.fibers)).toEqual([10, 100])
        const [w10, w100] = r.waiters
        expect(w100!.opsRatio).toBe(1)
        expect(w100!.cpuRatio).toBe(1)
        expect(w10!.waiting).toBe(0)
        // 100 fibers on 10 connections: all but those holding one (or between two operations) wait in the pool.
        expect(w100!.waiting).toBeGreaterThanOrEqual(80)
        expect(w100!.waiting).toBeLessThanOrEqual(90)
        for (const w of r.waiters) {
          expect(w.opsPerSec).toBeGreaterThan(0)
          expect(w.cpuUsPerOp).toBeGreaterThan(0)
          // First in, first out: every fiber goes round the queue at the same pace, one more at the window's edges.
          expect(w.opsPerFiber.min).toBeGreaterThanOrEqual(1)
          expect(w.opsPerFiber.max - w.opsPerFiber.min, `${w.fibers} fibers`).toBeLessThanOrEqual(2)
        }
        const health = r.health!
        expect(health.rounds.map((x) => x.size)).toEqual([5, 20])
        // Checks run one after the other, each sleeping 1 ms.
        for (const x of health.rounds) expect(x.roundMs).toBeGreaterThanOrEqual(x.size * health.validateMs)
        expect(health.rounds[0]!.perConnectionRatio).toBe(1)
        expect(health.latency.map((x) => x.size)).toEqual([5, 20])
        for (const x of health.latency) expect(x.idle.checksPerSec).toBe(0)
        // 20 connections, 10 fibers: the rounds find idle connections to check.
        expect(health.latency[1]!.checking.checksPerSec).toBeGreaterThan(0)
        expect(r.subscribers.map((s) => s.variant)).toEqual(["none", "changes", "changes.fast", "events"])
        expect(r.subscribers[0]!.opsRatio).toBe(1)
        expect(r.subscribers[0]!.deliveriesPerSec).toBe(0)
        // Every operation publishes its events to each of the 100 subscribers.
        expect(r.subscribers[3]!.deliveriesPerSec).toBeGreaterThan(0)
        expect(lines).toHaveLength(2 + 4 + 4)
        expect(Scale.tables(r)).toContain("| 10 | 100 |")
      }),
    30_000
  )

  it("judges the bar: acquire cost within ±50 % of the 100-fiber row, changes subscribers within 5 %", () => {
    expect(Scale.verdicts(report(waiters([0.9, 1, 1.1, 1.19]), 0.96))).toEqual([
      "Acquire cost from 10 to 10,000 fibers: CPU per operation within 19 % of the 100-fiber row, throughput " +
      "within 16 %: bar (±50 %) met by CPU time, met by throughput.",
      "100 subscribers to `changes`: throughput −4.0 %, CPU per operation +4.2 %: bar (≤ 5 %) met by throughput, " +
      "met by CPU time."
    ])
    expect(Scale.verdicts(report(waiters([0.9, 1, 2.1, 4.6]), 0.5))).toEqual([
      "Acquire cost from 10 to 10,000 fibers: CPU per operation within 360 % of the 100-fiber row, throughput " +
      "within 78 %: bar (±50 %) not met by CPU time, not met by throughput.",
      "100 subscribers to `changes`: throughput −50.0 %, CPU per operation +100.0 %: bar (≤ 5 %) not met by " +
      "throughput, not met by CPU time."
    ])
  })
})
