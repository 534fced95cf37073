/**
 * The adaptive controller's arithmetic, pure and synchronous: the demand
 * estimate (Little's law over the state's counters), the decision that moves
 * the target (raise at once, fall slowly past a band), and the history the
 * `learned` warming policy reads.
 */

/** What the controller reads from the state at each tick. */
export interface Sample {
  readonly t: number
  /** Acquisitions asked for since the pool started (`totalRequests`). */
  readonly arrivals: number
  /** Leases given back since the pool started, and the sum of their durations (ms). */
  readonly ended: number
  readonly holdTotal: number
  /** Callers waiting for a connection, now. */
  readonly waiting: number
}

export interface EstimatorOptions {
  readonly headroom: number
  /** Weight of the newest interval's rate and hold time in their moving means. */
  readonly smoothing: number
}

/**
 * Connections needed = ceil(λ × W × (1 + headroom)) + waiting, where λ (arrivals per ms) and W (mean
 * hold, ms) are exponentially weighted means of what each interval measured: one noisy interval moves
 * them little, so a steady load keeps a steady estimate. A sudden rise shows first as callers waiting,
 * which count in full at once.
 */
export class DemandEstimator {
  private last: Sample | undefined = undefined
  rate = 0
  hold = 0
  private measured = false
  private holdMeasured = false
  constructor(readonly options: EstimatorOptions) {}

  /** Little's law: the mean number of connections busy, as last estimated. */
  get load(): number {
    return this.rate * this.hold
  }

  update(s: Sample): number {
    const last = this.last
    this.last = s
    if (last !== undefined && s.t > last.t) {
      this.rate = this.follow(this.rate, (s.arrivals - last.arrivals) / (s.t - last.t), !this.measured)
      const ended = s.ended - last.ended
      if (ended > 0) this.hold = this.follow(this.hold, (s.holdTotal - last.holdTotal) / ended, !this.holdMeasured)
      this.measured = true
      if (ended > 0) this.holdMeasured = true
    }
    // Up to a tenth of a connection's worth rounds down: a moving mean decays towards zero but never reaches it.
    return Math.ceil(this.load * (1 + this.options.headroom) - 0.1) + s.waiting
  }

  /** The moving mean; the first measurement is taken whole (nothing to weigh it against). */
  private follow(smoothed: number, measured: number, first: boolean): number {
    return first ? measured : smoothed + this.options.smoothing * (measured - smoothed)
  }
}

export interface DecideOptions {
  readonly min: number
  readonly max: number
  readonly hysteresis: number
  readonly decay: number
}

/**
 * The next target, or undefined to keep it: up to `wanted` at once; down only once `wanted` is at
 * least a band (hysteresis share of the target, at least one) below it, by a decay share of the gap
 * (at least one) per tick, so that noise in a steady load moves nothing.
 */
export const decide = (current: number, wanted: number, options: DecideOptions): number | undefined => {
  const goal = Math.min(Math.max(wanted, options.min), options.max)
  if (goal > current) return goal
  const band = Math.max(1, Math.ceil(current * options.hysteresis))
  if (current - goal < band) return undefined
  const step = Math.max(1, Math.ceil((current - goal) * options.decay))
  return Math.max(goal, current - step)
}

/**
 * The peak demand of each bucket of time over the last period and the current one: a ring of twice
 * `period / bucket` slots, each tagged with the bucket it holds, so that recording the current bucket
 * never overwrites the one a period before it (still read ahead of and during it), and a slot from
 * longer ago reads as nothing.
 */
export class PeakHistory {
  private readonly slots: Array<{ bucket: number; peak: number }>
  /** Buckets in one period. */
  private readonly n: number
  constructor(readonly periodMillis: number, readonly bucketMillis: number) {
    this.n = Math.max(1, Math.round(periodMillis / bucketMillis))
    this.slots = Array.from({ length: 2 * this.n }, () => ({ bucket: -1, peak: 0 }))
  }

  record(t: number, demand: number): void {
    const bucket = Math.floor(t / this.bucketMillis)
    const slot = this.slots[bucket % this.slots.length]!
    if (slot.bucket !== bucket) {
      slot.bucket = bucket
      slot.peak = 0
    }
    slot.peak = Math.max(slot.peak, demand)
  }

  /** The largest peak that the buckets from `t` to `t + lead` had one period before. */
  ahead(t: number, leadMillis: number): number {
    const n = this.n
    const first = Math.floor(t / this.bucketMillis)
    const last = Math.min(Math.floor((t + leadMillis) / this.bucketMillis), first + n - 1)
    let peak = 0
    for (let b = Math.max(first, n); b <= last; b++) {
      const slot = this.slots[(b - n) % this.slots.length]!
      if (slot.bucket === b - n) peak = Math.max(peak, slot.peak)
    }
    return peak
  }
}
