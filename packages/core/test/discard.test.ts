import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as Fake from "./utils/FakeResource.js"
import { setup } from "./utils/TestPool.js"

describe("discard", () => {
  it.effect("an idle resource known to be gone is closed as broken at once, and the minimum refilled", () =>
    Effect.gen(function*() {
      const { closeAndCheck, pool } = yield* setup({ name: "discard-1", minConnections: 2, maxConnections: 3 })
      yield* Fake.settle
      const { id, resource } = yield* pool.use((lease) => Effect.succeed({ id: lease.id, resource: lease.resource }))
      yield* pool.discard(resource)
      yield* Fake.settle
      const stats = yield* pool.stats
      expect([stats.connectionsClosed.broken, stats.connectionsCreated, stats.totalConnections, stats.idleConnections])
        .toEqual([1, 3, 2, 2])
      expect((yield* pool.metrics).map((c) => c.id)).not.toContain(id)
      // Never lent again: both connections now are others than the discarded one.
      const leases = yield* Effect.all([pool.get, pool.get]).pipe(
        Effect.scoped,
        Effect.map((ls) => ls.map((l) => l.resource))
      )
      expect(leases).not.toContain(resource)
      yield* closeAndCheck
    }))

  it.effect("a resource lent out is left to its lease; discarding what the pool does not hold does nothing", () =>
    Effect.gen(function*() {
      const { closeAndCheck, pool } = yield* setup({ name: "discard-2", minConnections: 1, maxConnections: 1 })
      yield* Fake.settle
      const holder = yield* Effect.fork(pool.use((lease) => Effect.as(pool.discard(lease.resource), lease.id)))
      expect(yield* Fiber.join(holder)).toBe("discard-2-1")
      yield* pool.discard({ id: 99 } as any)
      yield* Fake.settle
      const stats = yield* pool.stats
      expect([stats.connectionsClosed.broken, stats.connectionsCreated, stats.idleConnections]).toEqual([0, 1, 1])
      yield* closeAndCheck
    }))
})
