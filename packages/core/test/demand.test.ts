import { describe, expect, it } from "@effect/vitest"
import { decide, DemandEstimator, PeakHistory } from "../src/internal/demand.js"

const options = { min: 1, max: 20, hysteresis: 0.3, decay: 0.1 }

describe("the adaptive controller's arithmetic", () => {
  it("decide: up at once; down only past the band, by a decay share of the gap (at least one); within bounds", () => {
    expect(decide(4, 9, options)).toBe(9)
    expect(decide(4, 40, options)).toBe(20)
    // Band at 10: ceil(10 × 0.3) = 3; 8 and 9 are inside it.
    expect([decide(10, 9, options), decide(10, 8, options)]).toEqual([undefined, undefined])
    expect(decide(10, 7, options)).toBe(9)
    // A gap of 30 falls by ceil(3) = 3.
    expect(decide(40, 10, { ...options, max: 40 })).toBe(37)
    expect(decide(2, 0, options)).toBe(1)
    expect(decide(1, 0, options)).toBeUndefined()
  })

  it("DemandEstimator: Little's law over each interval, with headroom, the queue in full, moving means after the first", () => {
    const estimator = new DemandEstimator({ headroom: 0.25, smoothing: 0.2 })
    const at = (t: number, arrivals: number, ended: number, holdTotal: number, waiting = 0) =>
      estimator.update({ t, arrivals, ended, holdTotal, waiting })
    expect(at(0, 0, 0, 0)).toBe(0)
    // 20 arrivals in 1 s, 20 leases back holding 400 ms each: 8 busy, 10 with headroom.
    expect(at(1000, 20, 20, 8000)).toBe(10)
    expect(estimator.load).toBeCloseTo(8)
    // Callers waiting count in full.
    expect(at(2000, 40, 40, 16_000, 3)).toBe(13)
    // Nothing for a second: the rate falls by a fifth, the hold time stays as last measured.
    expect(at(3000, 40, 40, 16_000)).toBe(8)
    expect(estimator.load).toBeCloseTo(6.4)
  })

  it("PeakHistory: a bucket's peak is read one period later, ahead by the lead, and never from two periods back", () => {
    const history = new PeakHistory(10 * 60_000, 60_000)
    history.record(5 * 60_000 + 1000, 3)
    history.record(5 * 60_000 + 30_000, 8)
    history.record(6 * 60_000, 2)
    expect(history.ahead(13 * 60_000 + 59_000, 60_000)).toBe(0)
    expect(history.ahead(14 * 60_000, 60_000)).toBe(8)
    // Recording the current period's bucket 15 leaves bucket 5 readable through bucket 15.
    history.record(15 * 60_000, 1)
    expect(history.ahead(15 * 60_000 + 30_000, 0)).toBe(8)
    expect(history.ahead(16 * 60_000, 0)).toBe(2)
    expect(history.ahead(25 * 60_000, 0)).toBe(1)
    expect(history.ahead(35 * 60_000, 0)).toBe(0)
  })
})
