import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Ref } from "effect"
import * as Fake from "./utils/FakeResource.js"
import { setup } from "./utils/TestPool.js"

describe("invalidate and broken connections", () => {
  it.effect("an invalidated lease's connection is closed on release as broken and never lent again", () =>
    Effect.gen(function*() {
      const { closeAndCheck, fake, pool } = yield* setup({ name: "inv-1", minConnections: 1, maxConnections: 1 })
      const first = yield* pool.use((lease) => Effect.as(pool.invalidate(lease), lease.id))
      expect(first).toBe("inv-1-1")
      yield* Fake.settle
      expect(yield* Ref.get(fake.released)).toBe(1)
      const stats = yield* pool.stats
      expect(stats.connectionsClosed).toEqual({ idle: 0, lifetime: 0, unhealthy: 0, broken: 1, closed: 0 })
      // The minimum is refilled with a new connection.
      const second = yield* pool.use((lease) => Effect.succeed([lease.id, lease.usageCount] as const))
      expect(second).toEqual(["inv-1-2", 1])
      expect(yield* Ref.get(fake.acquired)).toBe(2)
      yield* closeAndCheck
    }))

  it.effect("invalidating a lease taken with get closes it when its scope ends", () =>
    Effect.gen(function*() {
      const { closeAndCheck, fake, pool } = yield* setup({ name: "inv-2", minConnections: 0, maxConnections: 2 })
      const id = yield* Effect.scoped(Effect.gen(function*() {
        const lease = yield* pool.get
        yield* pool.invalidate(lease)
        // Not closed while still leased.
        expect(yield* Ref.get(fake.released)).toBe(0)
        return lease.id
      }))
      yield* Fake.settle
      expect(id).toBe("inv-2-1")
      expect(yield* Ref.get(fake.released)).toBe(1)
      expect((yield* pool.stats).connectionsClosed.broken).toBe(1)
      expect(yield* pool.use((lease) => Effect.succeed(lease.id))).toBe("inv-2-2")
      yield* closeAndCheck
    }))

  it.effect("a use that dies closes its connection as broken", () =>
    Effect.gen(function*() {
      const { closeAndCheck, fake, pool } = yield* setup({ name: "inv-3", minConnections: 1, maxConnections: 1 })
      const exit = yield* pool.use(() => Effect.dieMessage("boom")).pipe(Effect.exit)
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      yield* Fake.settle
      expect(yield* Ref.get(fake.released)).toBe(1)
      const stats = yield* pool.stats
      expect(stats.connectionsClosed).toEqual({ idle: 0, lifetime: 0, unhealthy: 0, broken: 1, closed: 0 })
      expect(stats.successfulRequests).toBe(1)
      expect(yield* pool.use((lease) => Effect.succeed(lease.id))).toBe("inv-3-2")
      yield* closeAndCheck
    }))

  it.effect("a typed failure of the use does not close the connection: it is reused", () =>
    Effect.gen(function*() {
      const { closeAndCheck, fake, pool } = yield* setup({ name: "inv-4", minConnections: 1, maxConnections: 1 })
      const error = yield* pool.use(() => Effect.fail("query failed" as const)).pipe(Effect.flip)
      expect(error).toBe("query failed")
      yield* Fake.settle
      expect(yield* Ref.get(fake.released)).toBe(0)
      const stats = yield* pool.stats
      expect(stats.connectionsClosed).toEqual({ idle: 0, lifetime: 0, unhealthy: 0, broken: 0, closed: 0 })
      expect(stats.idleConnections).toBe(1)
      expect(yield* pool.use((lease) => Effect.succeed([lease.id, lease.usageCount] as const))).toEqual(["inv-4-1", 2])
      yield* closeAndCheck
    }))

  it.effect("invalidating one lease leaves the other connections in service", () =>
    Effect.gen(function*() {
      const { closeAndCheck, fake, pool } = yield* setup({ name: "inv-5", minConnections: 2, maxConnections: 2 })
      const ids = yield* Effect.scoped(Effect.gen(function*() {
        const a = yield* pool.get
        const b = yield* pool.get
        yield* pool.invalidate(b)
        return [a.id, b.id]
      }))
      expect(ids).toEqual(["inv-5-2", "inv-5-1"])
      yield* Fake.settle
      expect(yield* Ref.get(fake.released)).toBe(1)
      const stats = yield* pool.stats
      expect(stats.totalConnections).toBe(2)
      expect(stats.idleConnections).toBe(2)
      expect(stats.connectionsCreated).toBe(3)
      const metrics = yield* pool.metrics
      expect(metrics.map((m) => m.id).sort()).toEqual(["inv-5-2", "inv-5-3"])
      yield* closeAndCheck
    }))
})
