import { Effect } from "effect"

/** Polls `f` every 5 ms until it is true, or fails the test after `timeout` ms. */
export const until = (what: string, f: () => boolean, timeout = 2000): Effect.Effect<void> =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeout
    while (!f()) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* Effect.sleep("5 millis")
    }
  })

/** Runs `effect` every 10 ms until its value satisfies `f`, and returns that value; dies after `timeout` ms. */
export const eventually = <A, E, R>(
  what: string,
  effect: Effect.Effect<A, E, R>,
  f: (a: A) => boolean,
  timeout = 3000
): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeout
    let value = yield* effect
    while (!f(value)) {
      if (Date.now() > deadline) {
        return yield* Effect.die(new Error(`timed out waiting for ${what} (last value: ${JSON.stringify(value)})`))
      }
      yield* Effect.sleep("10 millis")
      value = yield* effect
    }
    return value
  })
