import { PoolError, PoolEvent, PoolSizing, ResourcePool } from "@dbpool/core"
import type { PoolConfig } from "@dbpool/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Metric, Ref, Schedule, Stream, TestClock } from "effect"
import * as FakeResource from "./utils/FakeResource.js"

type TargetChanged = Extract<PoolEvent.PoolEvent, { _tag: "TargetChanged" }>

/** A pool of fake connections and the TargetChanged events it emits, as they come. */
const makePool = (fake: FakeResource.FakeResource, config: PoolConfig.Input) =>
  Effect.gen(function*() {
    // No grace at shutdown: a failed expectation ends the test at once instead of waiting on the TestClock.
    const pool = yield* ResourcePool.make({
      acquire: fake.acquire,
      release: fake.release,
      config: { shutdownTimeout: 0, ...config }
    })
    const changes: Array<{ readonly from: number; readonly to: number; readonly reason: string }> = []
    yield* Effect.forkScoped(Stream.runForEach(pool.notices, (e) =>
      Effect.sync(() => {
        if (e._tag === "TargetChanged") changes.push({ from: e.from, to: e.to, reason: e.reason })
      })))
    yield* FakeResource.settle
    return { pool, changes }
  })

/** One caller every `every` ms (first at `every / 2`, clear of the controller's ticks), each holding `hold` ms. */
const steadyLoad = (pool: ResourcePool.ResourcePool<FakeResource.FakeConnection, string>, every: number, hold: number) =>
  Effect.gen(function*() {
    yield* Effect.sleep(every / 2)
    while (true) {
      // Daemons: stopping the load lets the callers in flight finish their use.
      yield* Effect.forkDaemon(Effect.orDie(pool.use(() => Effect.sleep(hold))))
      yield* Effect.sleep(every)
    }
  })

const target = (name: string) =>
  Metric.value(
    Metric.gauge("dbpool.connection.target", {
      description: "Connections the adaptive sizing controller keeps open (its target), set at each move"
    }).pipe(Metric.tagged("db.client.connection.pool.name", name))
  ).pipe(Effect.map((state) => state.value))

describe("PoolSizing.adaptive", () => {
  it.effect("sets the target from arrival rate × hold time with headroom, holds it under steady load, decays slowly", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      yield* Effect.gen(function*() {
        const { changes, pool } = yield* makePool(fake, {
          name: "adaptive-little",
          minConnections: 1,
          maxConnections: 20,
          sizing: PoolSizing.adaptive({ interval: "1 second", retireAfter: "1 minute" })
        })
        // 5 callers a second, each holding 1 s: 5 connections busy; with 25 % headroom, 7 kept open.
        const load = yield* Effect.fork(steadyLoad(pool, 200, 1000))
        yield* FakeResource.advance("2 seconds")
        expect(changes).toEqual([{ from: 1, to: 7, reason: "demand" }])
        expect((yield* pool.stats).totalConnections).toBe(7)
        expect(yield* target("adaptive-little")).toBe(7)
        // Twenty seconds of the same load: no further move.
        for (let i = 0; i < 20; i++) yield* FakeResource.advance("1 second")
        expect(changes).toEqual([{ from: 1, to: 7, reason: "demand" }])
        yield* Fiber.interrupt(load)
        yield* FakeResource.advance("1 second")
        // Demand gone: the estimate falls by a fifth each second; the target follows once it is 3 below
        // (hysteresis 0.3 of 7), one connection at a time, down to the minimum.
        for (let i = 0; i < 30; i++) yield* FakeResource.advance("1 second")
        expect(changes).toEqual([
          { from: 1, to: 7, reason: "demand" },
          ...[7, 6, 5, 4, 3, 2].map((from) => ({ from, to: from - 1, reason: "decay" }))
        ])
        expect(yield* target("adaptive-little")).toBe(1)
        // Idle above the target for retireAfter (1 minute), long before maxIdleTime (5 minutes): closed.
        expect((yield* pool.stats).totalConnections).toBe(7)
        yield* FakeResource.advance("1 minute")
        const stats = yield* pool.stats
        expect([stats.totalConnections, stats.connectionsClosed.idle]).toEqual([1, 6])
      }).pipe(Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))
})
