import { PoolEvent } from "@dbpool/core"
import type { PoolStats } from "@dbpool/core"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Ref, Schedule, Stream, TestClock } from "effect"
import * as Fake from "./utils/FakeResource.js"
import { setup } from "./utils/TestPool.js"

const Ev = PoolEvent.PoolEvent

describe("observability", () => {
  it.effect("stats are exact after each step of a scripted scenario", () =>
    Effect.gen(function*() {
      const { closeAndCheck, pool } = yield* setup({
        name: "obs-stats",
        minConnections: 1,
        maxConnections: 2,
        acquireTimeout: "1 second"
      })
      const closed = (broken: number): PoolStats.PoolStats["connectionsClosed"] => ({
        idle: 0,
        lifetime: 0,
        unhealthy: 0,
        broken,
        closed: 0
      })

      // 1. Warmed up: the minimum is open and idle.
      expect(yield* pool.stats).toEqual(
        {
          name: "obs-stats",
          minConnections: 1,
          maxConnections: 2,
          targetConnections: 1,
          ceilingConnections: 2,
          totalConnections: 1,
          activeConnections: 0,
          idleConnections: 1,
          validatingConnections: 0,
          closingConnections: 0,
          pendingConnections: 0,
          waitingRequests: 0,
          totalRequests: 0,
          successfulRequests: 0,
          failedRequests: 0,
          cancelledRequests: 0,
          timeouts: 0,
          averageAcquireTime: 0,
          healthyConnections: 1,
          unhealthyConnections: 0,
          connectionsCreated: 1,
          connectionsClosed: closed(0),
          connectFailures: 0,
          circuitState: "closed"
        } satisfies PoolStats.PoolStats
      )

      // 2. t=0: A takes the idle connection for 2 s, B gets a new one for 3 s.
      const a = yield* Effect.fork(pool.use(() => Effect.sleep("2 seconds")))
      yield* Fake.settle
      const b = yield* Effect.fork(pool.use(() => Effect.sleep("3 seconds")))
      yield* Fake.settle
      expect(yield* pool.stats).toEqual(
        {
          name: "obs-stats",
          minConnections: 1,
          maxConnections: 2,
          targetConnections: 1,
          ceilingConnections: 2,
          totalConnections: 2,
          activeConnections: 2,
          idleConnections: 0,
          validatingConnections: 0,
          closingConnections: 0,
          pendingConnections: 0,
          waitingRequests: 0,
          totalRequests: 2,
          successfulRequests: 2,
          failedRequests: 0,
          cancelledRequests: 0,
          timeouts: 0,
          averageAcquireTime: 0,
          healthyConnections: 2,
          unhealthyConnections: 0,
          connectionsCreated: 2,
          connectionsClosed: closed(0),
          connectFailures: 0,
          circuitState: "closed"
        } satisfies PoolStats.PoolStats
      )

      // 3. t=0: C waits (the pool is at its maximum).
      const c = yield* Effect.fork(pool.use(() => Effect.void))
      yield* Fake.settle
      expect(yield* pool.stats).toEqual(
        {
          name: "obs-stats",
          minConnections: 1,
          maxConnections: 2,
          targetConnections: 1,
          ceilingConnections: 2,
          totalConnections: 2,
          activeConnections: 2,
          idleConnections: 0,
          validatingConnections: 0,
          closingConnections: 0,
          pendingConnections: 0,
          waitingRequests: 1,
          totalRequests: 3,
          successfulRequests: 2,
          failedRequests: 0,
          cancelledRequests: 0,
          timeouts: 0,
          averageAcquireTime: 0,
          healthyConnections: 2,
          unhealthyConnections: 0,
          connectionsCreated: 2,
          connectionsClosed: closed(0),
          connectFailures: 0,
          circuitState: "closed"
        } satisfies PoolStats.PoolStats
      )

      // 4. t=1 s: C times out; at t=1.5 s D starts waiting.
      yield* TestClock.adjust("1 second")
      yield* Fake.settle
      const cError = yield* Fiber.join(c).pipe(Effect.flip)
      expect(cError._tag).toBe("PoolTimeoutError")
      yield* TestClock.adjust("500 millis")
      const d = yield* Effect.fork(pool.use((lease) => Effect.succeed(lease.id)))
      yield* Fake.settle
      expect(yield* pool.stats).toEqual(
        {
          name: "obs-stats",
          minConnections: 1,
          maxConnections: 2,
          targetConnections: 1,
          ceilingConnections: 2,
          totalConnections: 2,
          activeConnections: 2,
          idleConnections: 0,
          validatingConnections: 0,
          closingConnections: 0,
          pendingConnections: 0,
          waitingRequests: 1,
          totalRequests: 4,
          successfulRequests: 2,
          failedRequests: 1,
          cancelledRequests: 0,
          timeouts: 1,
          averageAcquireTime: 0,
          healthyConnections: 2,
          unhealthyConnections: 0,
          connectionsCreated: 2,
          connectionsClosed: closed(0),
          connectFailures: 0,
          circuitState: "closed"
        } satisfies PoolStats.PoolStats
      )

      // 5. t=2 s: A gives its connection back; D gets it after waiting 500 ms and gives it back at once.
      yield* TestClock.adjust("500 millis")
      yield* Fake.settle
      yield* Fiber.join(a)
      expect(yield* Fiber.join(d)).toBe("obs-stats-1")
      expect(yield* pool.stats).toEqual(
        {
          name: "obs-stats",
          minConnections: 1,
          maxConnections: 2,
          targetConnections: 1,
          ceilingConnections: 2,
          totalConnections: 2,
          activeConnections: 1,
          idleConnections: 1,
          validatingConnections: 0,
          closingConnections: 0,
          pendingConnections: 0,
          waitingRequests: 0,
          totalRequests: 4,
          successfulRequests: 3,
          failedRequests: 1,
          cancelledRequests: 0,
          timeouts: 1,
          averageAcquireTime: 500 / 3,
          healthyConnections: 2,
          unhealthyConnections: 0,
          connectionsCreated: 2,
          connectionsClosed: closed(0),
          connectFailures: 0,
          circuitState: "closed"
        } satisfies PoolStats.PoolStats
      )

      // 6. t=2 s: E takes the idle connection and invalidates it; B still holds the other one.
      yield* pool.use((lease) => pool.invalidate(lease))
      yield* Fake.settle
      expect(yield* pool.stats).toEqual(
        {
          name: "obs-stats",
          minConnections: 1,
          maxConnections: 2,
          targetConnections: 1,
          ceilingConnections: 2,
          totalConnections: 1,
          activeConnections: 1,
          idleConnections: 0,
          validatingConnections: 0,
          closingConnections: 0,
          pendingConnections: 0,
          waitingRequests: 0,
          totalRequests: 5,
          successfulRequests: 4,
          failedRequests: 1,
          cancelledRequests: 0,
          timeouts: 1,
          averageAcquireTime: 125,
          healthyConnections: 1,
          unhealthyConnections: 0,
          connectionsCreated: 2,
          connectionsClosed: closed(1),
          connectFailures: 0,
          circuitState: "closed"
        } satisfies PoolStats.PoolStats
      )

      // 7. t=3 s: B gives its connection back.
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(b)
      yield* Fake.settle
      expect(yield* pool.stats).toEqual(
        {
          name: "obs-stats",
          minConnections: 1,
          maxConnections: 2,
          targetConnections: 1,
          ceilingConnections: 2,
          totalConnections: 1,
          activeConnections: 0,
          idleConnections: 1,
          validatingConnections: 0,
          closingConnections: 0,
          pendingConnections: 0,
          waitingRequests: 0,
          totalRequests: 5,
          successfulRequests: 4,
          failedRequests: 1,
          cancelledRequests: 0,
          timeouts: 1,
          averageAcquireTime: 125,
          healthyConnections: 1,
          unhealthyConnections: 0,
          connectionsCreated: 2,
          connectionsClosed: closed(1),
          connectFailures: 0,
          circuitState: "closed"
        } satisfies PoolStats.PoolStats
      )

      yield* closeAndCheck
    }))

  it.effect("changes gives the current stats first, then a new snapshot every statsInterval after a change", () =>
    Effect.gen(function*() {
      const { closeAndCheck, pool } = yield* setup({
        name: "obs-changes",
        minConnections: 1,
        maxConnections: 1,
        statsInterval: "1 second"
      })
      const collector = yield* Effect.fork(pool.changes.pipe(Stream.take(3), Stream.runCollect))
      yield* Fake.settle
      const user = yield* Effect.fork(pool.use(() => Effect.sleep("1500 millis")))
      yield* Fake.settle
      yield* TestClock.adjust("1 second") // publishes: one in use
      yield* Fake.settle
      yield* TestClock.adjust("1 second") // the use ended at 1.5 s; publishes: idle again
      yield* Fake.settle
      yield* Fiber.join(user)
      const seen = Chunk.toReadonlyArray(yield* Fiber.join(collector))
      expect(seen.map((s) => [s.activeConnections, s.idleConnections, s.totalRequests, s.successfulRequests])).toEqual([
        [0, 1, 0, 0],
        [1, 0, 1, 1],
        [0, 1, 1, 1]
      ])
      expect(seen[2]).toEqual(yield* pool.stats)
      yield* closeAndCheck
    }))

  it.effect("changes publishes nothing while nothing changes", () =>
    Effect.gen(function*() {
      const { closeAndCheck, pool } = yield* setup({ name: "obs-quiet", minConnections: 1, maxConnections: 1 })
      const collector = yield* Effect.fork(pool.changes.pipe(Stream.take(2), Stream.runCollect))
      yield* Fake.settle
      yield* TestClock.adjust("10 seconds")
      yield* Fake.settle
      expect(collector.unsafePoll()).toBe(null)
      yield* pool.use(() => Effect.void) // a change: one more request
      yield* TestClock.adjust("1 second")
      yield* Fake.settle
      const seen = Chunk.toReadonlyArray(yield* Fiber.join(collector))
      expect(seen.map((s) => s.totalRequests)).toEqual([0, 1])
      yield* closeAndCheck
    }))

  it.effect("events arrive in order: created, acquired, released, closed with its reason", () =>
    Effect.gen(function*() {
      const { closeAndCheck, pool } = yield* setup({
        name: "obs-events",
        minConnections: 0,
        maxConnections: 1,
        acquireTimeout: "1 second"
      })
      const collector = yield* Effect.fork(pool.events.pipe(Stream.take(9), Stream.runCollect))
      yield* Fake.settle
      yield* pool.use(() => Effect.sleep("500 millis")).pipe(
        Effect.fork,
        Effect.zipLeft(TestClock.adjust("500 millis"))
      )
      yield* Fake.settle
      const holder = yield* Effect.fork(
        pool.use((lease) => Effect.zipRight(pool.invalidate(lease), Effect.sleep("2 seconds")))
      )
      yield* Fake.settle
      const late = yield* Effect.fork(pool.use(() => Effect.void))
      yield* Fake.settle
      yield* TestClock.adjust("1 second") // late times out
      yield* Fake.settle
      yield* TestClock.adjust("1 second") // holder releases at 2.5 s: the connection is closed as broken
      yield* Fake.settle
      yield* Fiber.join(holder)
      expect((yield* Fiber.join(late).pipe(Effect.flip))._tag).toBe("PoolTimeoutError")
      yield* pool.use(() => Effect.void) // a new connection at 2.5 s
      yield* Fake.settle
      const events = Chunk.toReadonlyArray(yield* Fiber.join(collector))
      expect(events).toEqual([
        Ev.ConnectionCreated({ connectionId: "obs-events-1", createTime: 0, attempts: 1 }),
        Ev.ConnectionAcquired({ connectionId: "obs-events-1", waitTime: 0 }),
        Ev.ConnectionReleased({ connectionId: "obs-events-1", useTime: 500 }),
        Ev.ConnectionAcquired({ connectionId: "obs-events-1", waitTime: 0 }),
        Ev.AcquireTimedOut({ waitTime: 1000 }),
        Ev.ConnectionReleased({ connectionId: "obs-events-1", useTime: 2000 }),
        Ev.ConnectionClosed({ connectionId: "obs-events-1", reason: "broken" }),
        Ev.ConnectionCreated({ connectionId: "obs-events-2", createTime: 0, attempts: 1 }),
        Ev.ConnectionAcquired({ connectionId: "obs-events-2", waitTime: 0 })
      ])
      yield* closeAndCheck
    }))

  it.effect("ConnectionCreated tells how long opening took and in how many attempts, after ConnectFailed", () =>
    Effect.gen(function*() {
      const { closeAndCheck, fake, pool } = yield* setup({
        name: "obs-create",
        minConnections: 0,
        maxConnections: 1,
        acquireTimeout: "1 minute",
        retrySchedule: Schedule.spaced("1 second")
      })
      const collector = yield* Effect.fork(pool.events.pipe(Stream.take(6), Stream.runCollect))
      yield* Fake.settle
      // A slow but successful creation.
      yield* Ref.set(fake.createMode, { _tag: "slow", delay: "300 millis" })
      const first = yield* Effect.fork(
        pool.use((lease) => Effect.zipRight(pool.invalidate(lease), Effect.succeed(lease.id)))
      )
      yield* Fake.settle
      yield* TestClock.adjust("300 millis")
      expect(yield* Fiber.join(first)).toBe("obs-create-1")
      yield* Fake.settle
      // A creation that fails once, then succeeds on the retry a second later.
      yield* Ref.set(fake.createMode, { _tag: "fail", error: "connection refused" })
      const second = yield* Effect.fork(pool.use((lease) => Effect.succeed(lease.id)))
      yield* Fake.settle
      yield* Ref.set(fake.createMode, { _tag: "ok" })
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(second)).toBe("obs-create-2")
      const events = Chunk.toReadonlyArray(yield* Fiber.join(collector))
      expect(events).toEqual([
        Ev.ConnectionCreated({ connectionId: "obs-create-1", createTime: 300, attempts: 1 }),
        Ev.ConnectionAcquired({ connectionId: "obs-create-1", waitTime: 300 }),
        Ev.ConnectionReleased({ connectionId: "obs-create-1", useTime: 0 }),
        Ev.ConnectionClosed({ connectionId: "obs-create-1", reason: "broken" }),
        Ev.ConnectFailed({ attempt: 1, cause: "connection refused" }),
        Ev.ConnectionCreated({ connectionId: "obs-create-2", createTime: 1000, attempts: 2 })
      ])
      expect((yield* pool.stats).connectFailures).toBe(1)
      expect(yield* Ref.get(fake.attempts)).toBe(3)
      yield* closeAndCheck
    }))

  it.effect("PoolEvent.observe calls the callback of each event kind", () =>
    Effect.gen(function*() {
      const { closeAndCheck, fake, pool } = yield* setup({ name: "obs-observe", minConnections: 0, maxConnections: 1 })
      const log: Array<string> = []
      const watcher = yield* Effect.fork(PoolEvent.observe(pool.events, {
        onConnectionCreated: (e) => Effect.sync(() => log.push(`created ${e.connectionId}`)),
        onConnectionAcquired: (e) => Effect.sync(() => log.push(`acquired ${e.connectionId} after ${e.waitTime}`)),
        onConnectionClosed: (e) => Effect.sync(() => log.push(`closed ${e.connectionId}: ${e.reason}`))
      }))
      yield* Fake.settle
      yield* pool.use(() => Effect.void)
      yield* pool.use(() => Effect.dieMessage("boom")).pipe(Effect.exit)
      yield* Fake.settle
      expect(log).toEqual([
        "created obs-observe-1",
        "acquired obs-observe-1 after 0",
        "acquired obs-observe-1 after 0",
        "closed obs-observe-1: broken"
      ])
      expect(yield* Ref.get(fake.released)).toBe(1)
      yield* Fiber.interrupt(watcher)
      yield* closeAndCheck
    }))

  it.effect("metrics gives each open connection's age, idle time and usage count", () =>
    Effect.gen(function*() {
      const { closeAndCheck, pool } = yield* setup({
        name: "obs-metrics",
        minConnections: 2,
        maxConnections: 2,
        maxLifetime: "30 minutes",
        lifetimeJitter: "1 minute"
      })
      yield* TestClock.adjust("1 second")
      // The most recently idle connection (2) is lent first; the other one then serves two short uses.
      const holder = yield* Effect.fork(pool.use(() => Effect.sleep("10 seconds")))
      yield* Fake.settle
      yield* pool.use(() => Effect.void)
      yield* pool.use(() => Effect.void)
      yield* TestClock.adjust("4 seconds")
      yield* Fake.settle
      const info = [...yield* pool.metrics].sort((x, y) => x.id.localeCompare(y.id))
      expect(info.map(({ retireAt: _, ...rest }) => rest)).toEqual([
        { id: "obs-metrics-1", state: "idle", createdAt: 0, age: 5000, idleTime: 4000, usageCount: 2, healthy: true },
        { id: "obs-metrics-2", state: "active", createdAt: 0, age: 5000, idleTime: 0, usageCount: 1, healthy: true }
      ])
      for (const c of info) {
        expect(c.retireAt).toBeGreaterThan(29 * 60_000)
        expect(c.retireAt).toBeLessThanOrEqual(30 * 60_000)
      }
      yield* TestClock.adjust("6 seconds")
      yield* Fiber.join(holder)
      yield* closeAndCheck
    }))
  it.effect("changes starts with the statistics as they are now, not as last published", () =>
    Effect.gen(function*() {
      const { closeAndCheck, pool } = yield* setup({ name: "obs-now", minConnections: 1, statsInterval: "1 day" })
      yield* pool.use(() => Effect.void)
      const first = yield* pool.changes.pipe(Stream.take(1), Stream.runCollect)
      expect(Chunk.unsafeHead(first)).toEqual(yield* pool.stats)
      expect(Chunk.unsafeHead(first).successfulRequests).toBe(1)
      yield* closeAndCheck
    }))

  it.effect("events and changes end when the pool closes, so observers outside its scope stop", () =>
    Effect.gen(function*() {
      const { closeAndCheck, pool } = yield* setup({ name: "obs-end", minConnections: 1, statsInterval: "1 second" })
      const events = yield* Effect.fork(Stream.runCollect(pool.events))
      const changes = yield* Effect.fork(Stream.runCollect(pool.changes))
      yield* Fake.settle
      yield* pool.use(() => Effect.void)
      yield* closeAndCheck
      const seen = yield* Fiber.join(events)
      expect(Chunk.toArray(seen).map((e) => e._tag)).toEqual([
        "ConnectionAcquired",
        "ConnectionReleased",
        "ConnectionClosed"
      ])
      const last = Chunk.last(yield* Fiber.join(changes))
      expect(last._tag === "Some" && last.value.totalConnections).toBe(0)
    }))
})
