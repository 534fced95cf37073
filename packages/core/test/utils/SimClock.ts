/**
 * A discrete-event clock for the load simulations, that behaves as effect's TestClock driven by `adjust`:
 * every `Effect.sleep` under it is a timer in a heap (a sleep of 0 or less returns at once, as on the
 * TestClock), and `wakeNext` moves time to the next timer and wakes it alone; timers due at the same
 * instant wake one at a time, the last set first (the TestClock keeps its sleeps newest first and sorts
 * them stably by instant).
 *
 * Why not always the TestClock: before each wake its `adjust` waits until every fiber is suspended,
 * checking with three real `setTimeout(0)` turns (about 1.1 ms each in Node), so each timer it wakes
 * costs 4 to 5 ms of real time; a five-minute load curve has tens of thousands of wakes (two per request).
 * This clock lets the woken fibers run by yielding to the scheduler (`settle`) instead, which costs
 * microseconds. loadCurvesTestClock.test.ts, warmingTestClock.test.ts and simClock.test.ts check on shorter
 * curves that both clocks give exactly the same runs.
 */
import { Clock, Duration, Effect } from "effect"

interface Timer {
  readonly at: number
  readonly seq: number
  readonly wake: () => void
  cancelled: boolean
}

// Earlier first; at the same instant, the last set first (as the TestClock orders them).
const before = (a: Timer, b: Timer) => a.at < b.at || (a.at === b.at && a.seq > b.seq)

export class SimClock implements Clock.Clock {
  readonly [Clock.ClockTypeId]: Clock.ClockTypeId = Clock.ClockTypeId
  now = 0
  private seq = 0
  private readonly heap: Array<Timer> = []

  unsafeCurrentTimeMillis(): number {
    return this.now
  }
  unsafeCurrentTimeNanos(): bigint {
    return BigInt(Math.round(this.now * 1_000_000))
  }
  readonly currentTimeMillis = Effect.sync(() => this.now)
  readonly currentTimeNanos = Effect.sync(() => this.unsafeCurrentTimeNanos())

  sleep(duration: Duration.Duration): Effect.Effect<void> {
    if (!Duration.isFinite(duration)) return Effect.never
    if (Duration.toMillis(duration) <= 0) return Effect.void
    return Effect.async<void>((resume) => {
      const timer: Timer = {
        at: this.now + Duration.toMillis(duration),
        seq: this.seq++,
        wake: () => resume(Effect.void),
        cancelled: false
      }
      this.push(timer)
      return Effect.sync(() => {
        timer.cancelled = true
      })
    })
  }

  /** When the next timer is due, or undefined if none is set. */
  get next(): number | undefined {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.pop()
    return this.heap[0]?.at
  }

  /** Moves time to the next timer and wakes it (only it: the next one due at the same instant waits for the next call). */
  wakeNext(): boolean {
    const at = this.next
    if (at === undefined) return false
    this.now = Math.max(this.now, at)
    this.pop().wake()
    return true
  }

  private push(timer: Timer): void {
    const h = this.heap
    h.push(timer)
    let i = h.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(h[i]!, h[parent]!)) break
      ;[h[i], h[parent]] = [h[parent]!, h[i]!]
      i = parent
    }
  }

  private pop(): Timer {
    const h = this.heap
    const top = h[0]!
    const last = h.pop()!
    if (h.length > 0) {
      h[0] = last
      let i = 0
      while (true) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && before(h[l]!, h[m]!)) m = l
        if (r < h.length && before(h[r]!, h[m]!)) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m]!, h[i]!]
        i = m
      }
    }
    return top
  }
}

/** Lets woken fibers run until they wait again (on a timer, a connection or a lease). */
export const settle = Effect.repeatN(Effect.yieldNow(), 20)
