import { expect } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import * as Fs from "node:fs"
import { alive } from "./Clients.js"

/** Polls `f` every 5 ms until it is true, or fails the test after `timeout` ms. */
export const until = (what: string, f: () => boolean, timeout = 2000): Effect.Effect<void> =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeout
    while (!f()) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* Effect.sleep("5 millis")
    }
  })

/** Runs `effect` and prints how long it took (the README's timings are read from these lines). */
export const logTime = <A, E, R>(label: string, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = performance.now()
    const a = yield* effect
    console.log(`${label}: ${Math.round(performance.now() - start)} ms`)
    return a
  })

/** Closes the scope a server was made in: its process `pid` is gone, and so is its directory `dir`. */
export const expectClosedAndDeleted = (label: string, scope: Scope.CloseableScope, pid: number, dir: string) =>
  Effect.gen(function*() {
    yield* logTime(`${label} scope close`, Scope.close(scope, Exit.void))
    expect(alive(pid)).toBe(false)
    expect(Fs.existsSync(dir)).toBe(false)
  })
