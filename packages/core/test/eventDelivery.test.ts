/**
 * Events are delivered in batches: a subscriber reads everything recorded
 * since its last turn at once. Whatever the batches, each subscriber gets
 * every event once, in order, and its stream ends after the last.
 */
import { PoolEvent, ResourcePool } from "@dbpool/core"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Fiber, Scope, Stream } from "effect"

const Ev = PoolEvent.PoolEvent

/** A pool of `size` dummy connections, all open, in a scope of the test's own. */
const openPool = (size: number) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    let opened = 0
    const pool = yield* ResourcePool.make({
      acquire: Effect.sync(() => ({ id: ++opened })),
      config: { name: "ev", minConnections: size, maxConnections: size }
    }).pipe(Scope.extend(scope))
    return { pool, scope }
  })

describe("event delivery", () => {
  it.effect("every subscriber gets every event once, in order, and its stream ends after the last", () =>
    Effect.gen(function*() {
      const { pool, scope } = yield* openPool(1)
      const subscribers = yield* Effect.all(
        [1, 2].map(() => Effect.fork(Stream.runCollect(pool.events))),
        { concurrency: "unbounded" }
      )
      yield* Effect.repeatN(Effect.yieldNow(), 3)
      // 5,000 uses in a loop that never suspends: 10,000 events, read only when the loop yields its turn.
      yield* Effect.repeatN(pool.use(() => Effect.void), 4999)
      yield* Scope.close(scope, Exit.void)
      const expected = [
        ...Array.from({ length: 5000 }, () => [
          Ev.ConnectionAcquired({ connectionId: "ev-1", waitTime: 0 }),
          Ev.ConnectionReleased({ connectionId: "ev-1", useTime: 0 })
        ]).flat(),
        Ev.ConnectionClosed({ connectionId: "ev-1", reason: "closed" })
      ]
      for (const subscriber of subscribers) {
        expect(Chunk.toReadonlyArray(yield* Fiber.join(subscriber))).toEqual(expected)
      }
    }))

  it.effect("a subscriber that starts late gets the events from then on; one that stops takes nothing more", () =>
    Effect.gen(function*() {
      const { pool, scope } = yield* openPool(1)
      const early = yield* Effect.fork(pool.events.pipe(Stream.take(2), Stream.runCollect))
      yield* Effect.repeatN(Effect.yieldNow(), 3)
      yield* pool.use(() => Effect.void)
      yield* pool.use(() => Effect.void)
      expect(Chunk.size(yield* Fiber.join(early))).toBe(2)
      const late = yield* Effect.fork(Stream.runCollect(pool.events))
      yield* Effect.repeatN(Effect.yieldNow(), 3)
      yield* pool.use(() => Effect.void)
      yield* Scope.close(scope, Exit.void)
      expect(Chunk.toReadonlyArray(yield* Fiber.join(late)).map((e) => e._tag)).toEqual([
        "ConnectionAcquired",
        "ConnectionReleased",
        "ConnectionClosed"
      ])
      // After the pool closed, a new subscription ends at once.
      expect(Chunk.size(yield* Stream.runCollect(pool.events))).toBe(0)
    }))
})
