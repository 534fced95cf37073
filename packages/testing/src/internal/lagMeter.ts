import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Reliability from "../Reliability.js"

const tick = 10

/** @internal */
export const makeLagMeter = (epsilon: number): Effect.Effect<Reliability.LagMeter, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => {
        // A chain of plain timers, not the Effect clock: what is measured is how late this process gets to run
        // when the machine is busy, which is what makes a real timer (the pool's or the test's) late too.
        const state = { max: 0, samples: 0, timer: undefined as ReturnType<typeof setTimeout> | undefined }
        const schedule = () => {
          const due = performance.now() + tick
          state.timer = setTimeout(() => {
            state.max = Math.max(state.max, performance.now() - due)
            state.samples++
            schedule()
          }, tick)
          state.timer.unref()
        }
        schedule()
        return state
      }),
      (state) => Effect.sync(() => clearTimeout(state.timer))
    ),
    (state): Reliability.LagMeter => {
      const max = () => Math.round(state.max)
      return {
        max: Effect.sync(max),
        samples: Effect.sync(() => state.samples),
        slack: Effect.sync(() => epsilon + 2 * max()),
        widen: (bound) => Effect.sync(() => bound + 2 * max())
      }
    }
  )
