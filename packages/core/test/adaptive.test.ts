import { PoolError, PoolSizing, ResourcePool } from "@dbpool/core"
import type { PoolConfig } from "@dbpool/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Metric, Ref, Schedule, Stream } from "effect"
import * as FakeResource from "./utils/FakeResource.js"
import { random } from "./utils/LoadSim.js"

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
const steadyLoad = (
  pool: ResourcePool.ResourcePool<FakeResource.FakeConnection, string>,
  every: number,
  hold: number
) =>
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

  it.effect("callers waiting raise the target at once (reason queue)", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      yield* Effect.gen(function*() {
        const { changes, pool } = yield* makePool(fake, {
          minConnections: 0,
          maxConnections: 10,
          sizing: PoolSizing.adaptive({ interval: "1 second" })
        })
        yield* Ref.set(fake.createMode, { _tag: "slow", delay: "5 seconds" })
        for (let i = 0; i < 5; i++) yield* Effect.forkDaemon(Effect.orDie(pool.use(() => Effect.sleep("1 minute"))))
        yield* FakeResource.advance("1 second")
        expect(changes).toEqual([{ from: 0, to: 5, reason: "queue" }])
        expect((yield* pool.stats).pendingConnections).toBe(5)
        // Opened through the pool's creation path: maxConnecting (4) at a time.
        yield* FakeResource.advance("5 seconds")
        const opening = yield* pool.stats
        expect([opening.activeConnections, opening.pendingConnections]).toEqual([4, 1])
        yield* Ref.set(fake.createMode, { _tag: "ok" })
        yield* FakeResource.advance("1 minute")
      }).pipe(Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))

  it.effect("spare(k) keeps k idle connections above those in use", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      yield* Effect.gen(function*() {
        const { changes, pool } = yield* makePool(fake, {
          minConnections: 0,
          maxConnections: 10,
          sizing: PoolSizing.adaptive({ interval: "1 second", retireAfter: "1 second", warming: [PoolSizing.spare(2)] })
        })
        yield* FakeResource.advance("1 second")
        expect(changes).toEqual([{ from: 0, to: 2, reason: "spare" }])
        expect((yield* pool.stats).idleConnections).toBe(2)
        for (let i = 0; i < 3; i++) yield* Effect.forkDaemon(Effect.orDie(pool.use(() => Effect.sleep("20 seconds"))))
        yield* FakeResource.advance("500 millis")
        yield* FakeResource.advance("500 millis")
        // 3 in use: the two spare ones were lent, one more was opened for the third caller, and now two
        // more stand ready.
        expect(changes.at(-1)).toEqual({ from: 2, to: 5, reason: "spare" })
        const busy = yield* pool.stats
        expect([busy.activeConnections, busy.idleConnections]).toEqual([3, 2])
        // The callers leave: the target falls back to 2 spare, and the rest closes, sooner than maxIdleTime.
        for (let i = 0; i < 60; i++) yield* FakeResource.advance("1 second")
        const calm = yield* pool.stats
        expect([calm.totalConnections, calm.idleConnections, calm.connectionsClosed.idle]).toEqual([2, 2, 3])
        expect(changes.at(-1)).toEqual({ from: 3, to: 2, reason: "decay" })
      }).pipe(Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))

  it.effect("scheduled warming opens its connections at each recurrence of a cron schedule, for its duration", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      yield* Effect.gen(function*() {
        const { changes, pool } = yield* makePool(fake, {
          minConnections: 1,
          maxConnections: 20,
          statsInterval: "1 minute",
          sizing: PoolSizing.adaptive({
            interval: "1 minute",
            warming: [
              PoolSizing.scheduled({
                schedule: Schedule.cron("55 * * * *", "UTC"),
                connections: 10,
                duration: "30 minutes"
              })
            ]
          })
        })
        // The TestClock starts at 00:00 UTC: the first recurrence is at 00:55.
        yield* FakeResource.advance("54 minutes")
        expect(changes).toEqual([])
        expect((yield* pool.stats).totalConnections).toBe(1)
        yield* FakeResource.advance("1 minute")
        expect(changes).toEqual([{ from: 1, to: 10, reason: "scheduled" }])
        expect((yield* pool.stats).idleConnections).toBe(10)
        // Kept for the whole window (to 01:25), then left to decay.
        yield* FakeResource.advance("29 minutes")
        expect(changes.length).toBe(1)
        yield* FakeResource.advance("2 minutes")
        expect(changes.slice(1)).toEqual([{ from: 10, to: 9, reason: "decay" }, { from: 9, to: 8, reason: "decay" }])
      }).pipe(Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))

  it.effect("learned warming opens, a lead ahead, what the same minute needed one period before", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      yield* Effect.gen(function*() {
        const { changes, pool } = yield* makePool(fake, {
          minConnections: 0,
          maxConnections: 20,
          statsInterval: "1 minute",
          sizing: PoolSizing.adaptive({
            interval: "10 seconds",
            warming: [PoolSizing.learned({ period: "10 minutes", bucket: "1 minute", lead: "1 minute" })]
          })
        })
        const burst = Effect.forEach(
          Array.from({ length: 8 }),
          () => Effect.forkDaemon(Effect.orDie(pool.use(() => Effect.sleep("10 seconds")))),
          { discard: true }
        )
        // 00:05:15: eight callers for 10 seconds (in use at the 00:05:20 tick).
        yield* FakeResource.advance(315_000)
        yield* burst
        yield* FakeResource.advance("10 seconds")
        const created = (yield* pool.stats).connectionsCreated
        expect(created).toBe(8)
        // Nine minutes later the burst's own connections are gone (retired above the decayed target) ...
        yield* FakeResource.advance(505_000)
        expect((yield* pool.stats).totalConnections).toBe(0)
        expect(changes.some((c) => c.reason === "learned")).toBe(false)
        // ... and at 00:14:00, a minute ahead of 00:15, eight are opened again for the burst it expects.
        yield* FakeResource.advance("10 seconds")
        expect(changes.at(-1)).toEqual({ from: 0, to: 8, reason: "learned" })
        expect((yield* pool.stats).idleConnections).toBe(8)
        yield* FakeResource.advance(75_000)
        yield* burst
        yield* FakeResource.advance("0 millis")
        // Served at once by the warmed connections: none opened for it.
        const stats = yield* pool.stats
        // The burst itself moved the target little (its hold time is known only once it ends); learning did.
        expect(changes).toEqual([
          { from: 0, to: 2, reason: "demand" },
          { from: 2, to: 1, reason: "decay" },
          { from: 1, to: 0, reason: "decay" },
          { from: 0, to: 8, reason: "learned" }
        ])
        expect([stats.activeConnections, stats.connectionsCreated]).toEqual([8, 16])
        expect(stats.averageAcquireTime).toBe(0)
        yield* FakeResource.advance("1 minute")
      }).pipe(Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))

  it.effect("rejects a sizing that is not one, or bad options, with a PoolConfigError naming sizing", () =>
    Effect.gen(function*() {
      const reasons = yield* Effect.forEach(
        [
          "adaptive",
          PoolSizing.adaptive({ headroom: -1 }),
          PoolSizing.adaptive({ interval: 0 }),
          PoolSizing.adaptive({ warming: [PoolSizing.spare(1.5)] }),
          PoolSizing.adaptive({ warming: [PoolSizing.learned({ period: "1 minute", bucket: "1 hour" })] })
        ],
        (sizing) =>
          Effect.flip(ResourcePool.make({ acquire: Effect.succeed(1), config: { sizing: sizing as never } })).pipe(
            Effect.scoped,
            Effect.map((e) => e instanceof PoolError.PoolConfigError ? [e.field, e.reason] : e)
          )
      )
      expect(reasons).toEqual([
        ["sizing", "must be PoolSizing.fixed or PoolSizing.adaptive(...)"],
        ["sizing", "headroom must be a number from 0 to 10"],
        ["sizing", "interval must be finite and > 0"],
        ["sizing", "spare connections must be a whole number >= 0"],
        ["sizing", "learned period must hold 1 to 100,000 buckets"]
      ])
    }))
})

describe("PoolSizing.adaptive under churn", () => {
  it.effect("300 callers, a third interrupted at random, while the target moves and idle connections retire: bounds hold, nothing leaks", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      const next = random(2026)
      yield* Effect.gen(function*() {
        const { changes, pool } = yield* makePool(fake, {
          minConnections: 1,
          maxConnections: 8,
          maxConnecting: 2,
          acquireTimeout: "1 hour",
          sizing: PoolSizing.adaptive({
            interval: "100 millis",
            retireAfter: "200 millis",
            warming: [PoolSizing.spare(2)]
          })
        })
        yield* Ref.set(fake.createMode, { _tag: "slow", delay: "30 millis" })
        let peak = 0
        const sample = Effect.map(pool.stats, (s) => {
          peak = Math.max(peak, s.totalConnections + s.pendingConnections)
        })
        const fibers = []
        for (let i = 0; i < 300; i++) {
          const hold = Math.floor(next() * 400)
          const fiber = yield* Effect.fork(Effect.orDie(pool.use(() => Effect.sleep(hold))))
          fibers.push(fiber)
          if (next() < 1 / 3) yield* Effect.forkDaemon(Effect.delay(Fiber.interrupt(fiber), Math.floor(next() * 300)))
          yield* FakeResource.advance(Math.floor(next() * 20))
          yield* sample
        }
        for (let i = 0; i < 100; i++) {
          yield* FakeResource.advance("100 millis")
          yield* sample
        }
        yield* Fiber.awaitAll(fibers)
        const stats = yield* pool.stats
        expect(peak).toBeLessThanOrEqual(8)
        expect([stats.activeConnections, stats.waitingRequests, stats.pendingConnections]).toEqual([0, 0, 0])
        expect(stats.successfulRequests + stats.cancelledRequests).toBe(300)
        // The target moved both ways, and settled at the two spare above none in use.
        expect(changes.some((c) => c.to > c.from) && changes.some((c) => c.to < c.from)).toBe(true)
        expect(changes.at(-1)!.to).toBe(2)
        expect([stats.totalConnections, stats.idleConnections]).toEqual([2, 2])
      }).pipe(Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))
})

describe("PoolSizing.fixed", () => {
  it.effect("is today's pool: no controller, and resize moves what is kept open with the minimum", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      yield* Effect.gen(function*() {
        const { changes, pool } = yield* makePool(fake, {
          minConnections: 3,
          maxConnections: 5,
          maxIdleTime: "1 minute",
          sizing: PoolSizing.fixed
        })
        yield* pool.resize({ min: 1 })
        yield* FakeResource.advance("1 minute")
        expect((yield* pool.stats).totalConnections).toBe(1)
        yield* pool.resize({ min: 4 })
        yield* FakeResource.settle
        expect((yield* pool.stats).totalConnections).toBe(4)
        expect(changes).toEqual([])
      }).pipe(Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))
})
