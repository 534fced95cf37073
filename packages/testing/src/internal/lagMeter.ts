import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Reliability from "../Reliability.js"

const tick = 10

/** @internal */
export const unsafeMake = (epsilon: number): Reliability.UnsafeLagMeter => {
  // A chain of plain timers, not the Effect clock: what is measured is how late this process gets to run when
  // the machine is busy, which is what makes a real timer (the pool's or the test's) late too.
  let max = 0
  let samples = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  const schedule = () => {
    const due = performance.now() + tick
    timer = setTimeout(() => {
      max = Math.max(max, performance.now() - due)
      samples++
      schedule()
    }, tick)
    timer.unref()
  }
  schedule()
  const rounded = () => Math.round(max)
  // ε is one more bound to widen: slack is widen(ε).
  const widen = (bound: number) => bound + 2 * rounded()
  return {
    max: rounded,
    samples: () => samples,
    slack: () => widen(epsilon),
    widen,
    reset: () => {
      max = 0
      samples = 0
    },
    stop: () => clearTimeout(timer)
  }
}

/** @internal */
export const makeLagMeter = (epsilon: number): Effect.Effect<Reliability.LagMeter, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(Effect.sync(() => unsafeMake(epsilon)), (meter) => Effect.sync(meter.stop)),
    (meter): Reliability.LagMeter => ({
      max: Effect.sync(meter.max),
      samples: Effect.sync(meter.samples),
      slack: Effect.sync(meter.slack),
      widen: (bound) => Effect.sync(() => meter.widen(bound))
    })
  )
