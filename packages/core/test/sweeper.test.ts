import { ResourcePool } from "@dbpool/core"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, TestClock } from "effect"

describe("ResourcePool retirement sweep", () => {
  it.effect("does not wake every millisecond once the pool is at its minimum with connections idle past maxIdleTime", () =>
    Effect.gen(function*() {
      const clock = yield* Effect.clock
      let sleeps = 0
      const counting: Clock.Clock = {
        [Clock.ClockTypeId]: Clock.ClockTypeId,
        unsafeCurrentTimeMillis: () => clock.unsafeCurrentTimeMillis(),
        unsafeCurrentTimeNanos: () => clock.unsafeCurrentTimeNanos(),
        currentTimeMillis: clock.currentTimeMillis,
        currentTimeNanos: clock.currentTimeNanos,
        sleep: (duration) => {
          sleeps++
          return clock.sleep(duration)
        }
      }
      yield* Effect.gen(function*() {
        yield* ResourcePool.make({
          acquire: Effect.succeed("conn"),
          config: { minConnections: 1, maxIdleTime: "1 second", statsInterval: "1 day" }
        }).pipe(Effect.withClock(counting))
        yield* TestClock.adjust("1 second") // the one connection is now idle for maxIdleTime, kept as the minimum
        sleeps = 0
        yield* TestClock.adjust("100 millis")
        expect(sleeps).toBeLessThanOrEqual(1)
      }).pipe(Effect.scoped)
    }))
})
