/**
 * The statistics' publication (`pool.changes`, and the gauges that follow
 * it): a snapshot every `statsInterval`, only when something changed, and an
 * end marker once the pool closed.
 *
 * Two things publish on the interval, whichever sees it due first: a timer
 * fiber, for a pool at rest, and the release path, which reads the clock
 * anyway and so pays one comparison per operation. Fibers that loop on `use`
 * without ever suspending keep timers from getting a turn (nothing was
 * published for 3.5 s at a 1 s interval, measured): there the release path
 * publishes, in the releasing fiber.
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { CloseReason, PoolStats } from "../PoolStats.js"
import type { PoolMetrics } from "./metrics.js"

/** The last value of the statistics' SubscriptionRef: the pool closed. */
const poolClosed = Symbol.for("@dbpool/core/PoolClosed")
type PoolClosed = typeof poolClosed

const sameStats = (a: PoolStats, b: PoolStats): boolean => {
  for (const key in a) {
    const k = key as keyof PoolStats
    if (k === "connectionsClosed") {
      for (const r in a.connectionsClosed) {
        const reason = r as CloseReason
        if (a.connectionsClosed[reason] !== b.connectionsClosed[reason]) return false
      }
    } else if (a[k] !== b[k]) return false
  }
  return true
}

export class StatsPublication {
  /** When the interval's next publication is due, in the pool's clock's milliseconds. */
  private dueAt: number
  /** What the ref holds: the last statistics published, or the end marker. */
  private published: PoolStats | PoolClosed
  /**
   * Held from the snapshot to the ref's update, so that publications never overtake one another (a fiber
   * may yield between the two): `changes` never goes back to an older state.
   */
  private readonly lock = Effect.unsafeMakeSemaphore(1)
  /** Publishes the statistics as they are now, if they changed, and updates the gauges. */
  readonly publish: Effect.Effect<void>
  /** The current statistics first, then each published change, until the pool closes. */
  readonly changes: Stream.Stream<PoolStats>
  /** The pool closed: every `changes` stream ends (publish the last statistics first). */
  readonly end: Effect.Effect<void>

  private constructor(
    ref: SubscriptionRef.SubscriptionRef<PoolStats | PoolClosed>,
    first: PoolStats,
    snapshot: () => PoolStats,
    metrics: PoolMetrics,
    private readonly intervalMillis: number,
    private readonly now: () => number
  ) {
    this.dueAt = now() + intervalMillis
    this.published = first
    this.publish = this.lock.withPermits(1)(Effect.suspend(() => {
      if (this.published === poolClosed) return Effect.void
      const s = snapshot()
      metrics.publish(s)
      if (sameStats(s, this.published)) return Effect.void
      this.published = s
      return SubscriptionRef.set(ref, s)
    }))
    this.end = this.lock.withPermits(1)(Effect.suspend(() => {
      this.published = poolClosed
      return SubscriptionRef.set(ref, poolClosed)
    }))
    // The current statistics first, then each published change, until the pool closes. Ends with
    // `poolClosed`, which ends every `changes` stream: cheaper per delivery than racing each pull against
    // the pool's closing (Stream.interruptWhen tripled it, measured).
    this.changes = Stream.unwrap(Effect.as(this.publish, ref.changes)).pipe(
      Stream.takeWhile((s): s is PoolStats => s !== poolClosed)
    )
  }

  static make(
    snapshot: () => PoolStats,
    metrics: PoolMetrics,
    intervalMillis: number,
    now: () => number
  ): Effect.Effect<StatsPublication> {
    return Effect.suspend(() => {
      const first = snapshot()
      return Effect.map(
        SubscriptionRef.make<PoolStats | PoolClosed>(first),
        (ref) => new StatsPublication(ref, first, snapshot, metrics, intervalMillis, now)
      )
    })
  }

  /** Whether the interval's publication is due at `t`: the one comparison the release path pays. */
  isDue(t: number): boolean {
    return t >= this.dueAt
  }

  /** The interval's publication, seen due at `t`: the next one is due `statsInterval` later. */
  publishDue(t: number): Effect.Effect<void> {
    this.dueAt = t + this.intervalMillis
    return this.publish
  }

  /** The timer: sleeps until the next publication is due, unless the release path published meanwhile. */
  get publisher(): Effect.Effect<never> {
    return Effect.suspend(() => {
      const t = this.now()
      return this.isDue(t) ? this.publishDue(t) : Effect.sleep(this.dueAt - t)
    }).pipe(Effect.forever)
  }
}
