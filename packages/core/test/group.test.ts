import { PoolGroup, ResourcePool } from "@dbpool/core"
import type { PoolConfig, PoolStats } from "@dbpool/core"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Metric, Ref, Scope, Stream, TestClock } from "effect"
import type { Duration } from "effect"
import * as Fake from "./utils/FakeResource.js"

const budget = 6

/** A deterministic pseudo-random sequence (so that a failure can be replayed). */
const lcg = (seed: number) => () => {
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed / 2147483648
}

/**
 * Two pools (a and b: floor 1, max 6) in a group of 6. Every resource is counted from the moment its
 * acquire starts until its acquire fails or its release has completed (a close takes 5 ms, an open 20
 * ms): `live` is what a server would count, checked against the budget each time it rises.
 */
const world = Effect.gen(function*() {
  const groupScope = yield* Scope.make()
  const poolScope = yield* Scope.make()
  const group = yield* PoolGroup.make({ name: "g", maxConnections: budget, rebalanceInterval: "1 second" }).pipe(
    Scope.extend(groupScope)
  )
  const count = { live: 0, peak: 0, violations: 0 }
  const fakes: Array<Fake.FakeResource> = []
  const makePool = (name: string) =>
    Effect.gen(function*() {
      const fake = yield* Fake.make
      fakes.push(fake)
      const pool = yield* ResourcePool.make({
        acquire: Effect.suspend(() => {
          count.live++
          count.peak = Math.max(count.peak, count.live)
          if (count.live > budget) count.violations++
          return fake.acquire
        }).pipe(Effect.onExit((exit) => Exit.isFailure(exit) ? Effect.sync(() => void count.live--) : Effect.void)),
        release: (conn) =>
          Effect.sleep("5 millis").pipe(
            Effect.zipRight(fake.release(conn)),
            Effect.ensuring(Effect.sync(() => void count.live--))
          ),
        config: { name, minConnections: 1, maxConnections: 6, maxIdleTime: "1 hour", acquireTimeout: "1 hour", group }
      }).pipe(Scope.extend(poolScope))
      yield* Ref.set(fake.createMode, { _tag: "slow", delay: "20 millis" })
      return pool
    })
  const a = yield* makePool("a")
  const b = yield* makePool("b")
  // On every event of either pool and of the group: the budget holds, and so do the floors.
  let checks = 0
  const check = Effect.gen(function*() {
    const stats = yield* group.stats
    expect(stats.connections).toBeLessThanOrEqual(budget)
    for (const s of [yield* a.stats, yield* b.stats]) {
      expect(s.totalConnections - s.closingConnections + s.pendingConnections).toBeGreaterThanOrEqual(1)
    }
    checks++
  })
  const moves = { count: 0, ceilings: [] as Array<string> }
  const watchers = [
    yield* Effect.fork(Stream.runForEach(a.events, () => check)),
    yield* Effect.fork(Stream.runForEach(b.events, () => check)),
    yield* Effect.fork(Stream.runForEach(group.events, (e) =>
      Effect.zipRight(
        Effect.sync(() => {
          if (e._tag === "CapacityMoved") moves.count++
          else moves.ceilings.push(`${e.pool}: ${e.previous} -> ${e.ceiling}`)
        }),
        check
      )))
  ]
  yield* Fake.settle
  const held = (pool: ResourcePool.ResourcePool<Fake.FakeConnection, string>) =>
    Effect.map(pool.stats, (s: PoolStats.PoolStats) => s.totalConnections - s.closingConnections + s.pendingConnections)
  return { group, a, b, count, fakes, groupScope, poolScope, watchers, moves, checks: () => checks, held }
})

/** `fibers` callers, each using the pool `uses` times for `hold`. */
const burst = (
  pool: ResourcePool.ResourcePool<Fake.FakeConnection, string>,
  fibers: number,
  uses: number,
  hold: Duration.DurationInput = "100 millis"
) =>
  Effect.forEach(
    Array.from({ length: fibers }),
    () => Effect.fork(Effect.repeatN(pool.use(() => Effect.sleep(hold)), uses - 1)),
    { concurrency: "unbounded" }
  )

/** Moves the clock in 10 ms steps for `millis`. */
const run = (millis: number) =>
  Effect.gen(function*() {
    for (let t = 0; t < millis; t += 10) yield* Fake.advance("10 millis")
  })

describe("PoolGroup", () => {
  it.effect("alternating bursts: the budget is never exceeded, the busy pool gets the capacity within one tick, floors hold", () =>
    Effect.gen(function*() {
      const w = yield* world
      const { a, b, count, group } = w
      expect(yield* w.held(a)).toBe(1)
      expect(yield* w.held(b)).toBe(1)

      // a alone is busy: it grows to the budget less b's floor.
      const burstA = yield* burst(a, 12, 5)
      yield* run(300)
      expect([yield* w.held(a), yield* w.held(b)]).toEqual([5, 1])
      yield* Fiber.joinAll(burstA).pipe(Effect.fork)
      yield* run(1000)
      expect((yield* a.stats).idleConnections).toBe(5)

      // b is busy, a is quiet: a's idle connections above its floor move to b at once, well within one tick.
      const movesBefore = w.moves.count
      const burstB = yield* burst(b, 12, 5)
      yield* run(100)
      expect([yield* w.held(a), yield* w.held(b)]).toEqual([1, 5])
      expect(w.moves.count - movesBefore).toBe(4)
      yield* run(1000)

      // Both busy: within one tick (plus one use, for a connection to come back) each holds its fair share.
      w.moves.ceilings.length = 0
      const burstA2 = yield* burst(a, 12, 30)
      const burstB2 = yield* burst(b, 12, 30)
      yield* run(1300)
      expect([yield* w.held(a), yield* w.held(b)]).toEqual([3, 3])
      const stats = yield* group.stats
      expect(stats.members.map((m) => [m.pool, m.ceiling, m.waiting > 0])).toEqual([["a", 3, true], ["b", 3, true]])
      // The pools' own statistics say the same: the ceiling in force, below maxConnections; the target is min.
      for (const p of [a, b]) {
        const s = yield* p.stats
        expect([s.ceilingConnections, s.maxConnections, s.targetConnections]).toEqual([3, 6, 1])
      }
      yield* Effect.forEach([...burstB, ...burstA2, ...burstB2], Fiber.interrupt)

      // Quiet again: at the next tick the ceilings go back to the members' caps.
      yield* run(1000)
      expect((yield* group.stats).members.map((m) => m.ceiling)).toEqual([6, 6])
      expect([(yield* a.stats).ceilingConnections, (yield* b.stats).ceilingConnections]).toEqual([6, 6])
      // b was still held to its share of 5 from its own burst (a at its floor of 1).
      expect(w.moves.ceilings).toEqual(["a: 6 -> 3", "b: 5 -> 3", "a: 3 -> 6", "b: 3 -> 6"])

      expect(count.violations).toBe(0)
      expect(count.peak).toBe(budget)
      expect(w.checks()).toBeGreaterThan(100)
      yield* finish(w)
    }))

  it.effect("demand swinging across the budget: a ceiling moves once, not on every tick (hysteresis)", () =>
    Effect.gen(function*() {
      // Without hysteresis the same swing moves a's ceiling at every tick: down, up, down, ...
      const none = yield* swing({ margin: 0, ticks: 1 })
      expect(none.changes.length).toBe(20)
      expect(none.changes.slice(0, 4)).toEqual(["a: 6 -> 3", "a: 3 -> 6", "a: 6 -> 3", "a: 3 -> 6"])
      // With the default (margin 1 of a budget of 6, 3 ticks): lowered once at the first contended tick; the
      // raise wanted on every other tick never held for 3 ticks in a row.
      const damped = yield* swing(undefined)
      expect(damped.changes).toEqual(["a: 6 -> 3"])
      // Once b stays quiet (demand 6: not under the budget by the margin), a gets its cap back at the third
      // quiet tick in a row (the swing's last tick was one).
      expect(damped.afterSwing).toEqual([[1, 3], [2, 6], [3, 6]])
      // The fairness it was lowered for held: b's callers got their share at the contended ticks.
      expect(damped.bServedAtContendedTicks).toBe(true)
    }))

  it.effect("many fibers with random interruption: the budget holds at every opening, nothing leaks", () =>
    Effect.gen(function*() {
      const w = yield* world
      const { a, b, count } = w
      const random = lcg(14)
      const fibers: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
      for (let round = 0; round < 12; round++) {
        // Alternating bursts of random size and hold time.
        const pool = round % 2 === 0 ? a : b
        for (let i = 0; i < 10 + Math.floor(random() * 20); i++) {
          const hold = 10 + Math.floor(random() * 200)
          fibers.push(yield* Effect.fork(Effect.repeatN(pool.use(() => Effect.sleep(hold)), 3)))
        }
        yield* run(50 + Math.floor(random() * 500))
        for (const fiber of fibers) if (random() < 0.2) yield* Effect.fork(Fiber.interrupt(fiber))
      }
      yield* Effect.forEach(fibers, Fiber.interrupt)
      yield* run(2000)
      for (const s of [yield* a.stats, yield* b.stats]) {
        expect([s.activeConnections, s.waitingRequests, s.pendingConnections]).toEqual([0, 0, 0])
      }
      // What the group counts is what the resources say is open.
      expect((yield* w.group.stats).connections).toBe(count.live)
      expect(count.violations).toBe(0)
      expect(count.peak).toBe(budget)
      yield* finish(w)
    }))

  it.effect("a pool starting while the budget is held by another's idle connections starts, then gets one when asked", () =>
    Effect.gen(function*() {
      const group = yield* PoolGroup.make({ name: "full", maxConnections: 2 })
      const x = yield* ResourcePool.make({
        acquire: Effect.succeed(1),
        config: { name: "x", minConnections: 2, group: PoolGroup.member(group, { floor: 0 }) }
      })
      // No permit is free and y's floor (0) needs none: its warm-up opens nothing and does not wait.
      const y = yield* ResourcePool.make({
        acquire: Effect.succeed(2),
        config: { name: "y", minConnections: 1, group: PoolGroup.member(group, { floor: 0 }) }
      })
      expect([(yield* x.stats).totalConnections, (yield* y.stats).totalConnections]).toEqual([2, 0])
      // A caller of y: one of x's idle connections is closed for it, and y opens one in its place.
      expect(yield* y.use((lease) => Effect.succeed(lease.resource))).toBe(2)
      expect((yield* group.stats).members.map((m) => [m.pool, m.connections])).toEqual([["x", 1], ["y", 1]])
      expect((yield* group.stats).capacityMoves).toBe(1)
    }).pipe(Effect.scoped))

  it.effect("a member shutting down hands its permits on as its closes complete, with no tick", () =>
    Effect.gen(function*() {
      const group = yield* PoolGroup.make({ name: "handover", maxConnections: 2, rebalanceInterval: "1 hour" })
      const xScope = yield* Scope.make()
      const x = yield* ResourcePool.make({
        acquire: Effect.succeed(1),
        config: { name: "x", minConnections: 0, maxConnections: 2, group }
      }).pipe(Scope.extend(xScope))
      const y = yield* ResourcePool.make({
        acquire: Effect.succeed(2),
        config: { name: "y", minConnections: 0, maxConnections: 2, group }
      })
      // x's two connections are in use; y's caller waits: nothing is idle anywhere, the budget is held.
      const release = yield* Deferred.make<void>()
      const users = yield* Effect.forEach([1, 2], () => Effect.fork(x.use(() => Deferred.await(release))))
      yield* Fake.settle
      const waiting = yield* Effect.fork(y.use((lease) => Effect.succeed(lease.resource)))
      yield* Fake.settle
      expect((yield* group.stats).members.map((m) => [m.pool, m.connections, m.waiting])).toEqual([
        ["x", 2, 0],
        ["y", 0, 1]
      ])
      // x shuts down; its users finish; its connections close and y is served, the clock unmoved.
      const closing = yield* Effect.fork(Scope.close(xScope, Exit.void))
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.joinAll(users)
      yield* Fiber.join(closing)
      expect(yield* Fiber.join(waiting)).toBe(2)
      expect((yield* group.stats).members.map((m) => [m.pool, m.connections])).toEqual([["y", 1]])
    }).pipe(Effect.scoped))

  it.effect("a pool whose floor would not fit the budget fails with PoolConfigError; so do bad bounds", () =>
    Effect.gen(function*() {
      const group = yield* PoolGroup.make({ name: "small", maxConnections: 4 })
      yield* ResourcePool.make({ acquire: Effect.succeed(1), config: { name: "x", minConnections: 3, group } })
      const tooMany = yield* Effect.flip(
        ResourcePool.make({ acquire: Effect.succeed(1), config: { name: "y", minConnections: 2, group } })
      )
      expect(tooMany).toMatchObject({
        _tag: "PoolConfigError",
        field: "group",
        reason: "the floors of group \"small\" would add up to 5, more than its maxConnections (4)"
      })
      // With a floor of its own that fits, it joins.
      yield* ResourcePool.make({
        acquire: Effect.succeed(1),
        config: { name: "y", minConnections: 2, group: PoolGroup.member(group, { floor: 1 }) }
      })
      const badFloor = yield* Effect.flip(ResourcePool.make({
        acquire: Effect.succeed(1),
        config: { name: "z", maxConnections: 3, group: PoolGroup.member(group, { floor: 2, ceiling: 1 }) }
      }))
      expect(badFloor).toMatchObject({
        field: "group",
        reason: "floor (2) must not exceed the ceiling (1, at most maxConnections)"
      })
      const sameName = yield* Effect.flip(
        ResourcePool.make({ acquire: Effect.succeed(1), config: { name: "x", minConnections: 0, group } })
      )
      expect(sameName).toMatchObject({ field: "group", reason: "a pool named \"x\" is already in group \"small\"" })
      const notAGroup = yield* Effect.flip(
        ResourcePool.make({ acquire: Effect.succeed(1), config: { group: {} as any } })
      )
      expect(notAGroup).toMatchObject({ field: "group" })
      expect(yield* Effect.flip(PoolGroup.make({ maxConnections: 0 }))).toMatchObject({ field: "maxConnections" })
      expect(yield* Effect.flip(PoolGroup.make({ maxConnections: 4, hysteresis: { margin: -1 } }))).toMatchObject({
        field: "hysteresis",
        reason: "margin must be a whole number ≥ 0 (got -1)"
      })
      expect(yield* Effect.flip(PoolGroup.make({ maxConnections: 4, hysteresis: { ticks: 0.5 } }))).toMatchObject({
        field: "hysteresis",
        reason: "ticks must be a whole number ≥ 1 (got 0.5)"
      })
      const stats = yield* group.stats
      expect(stats.members.map((m) => [m.pool, m.floor, m.connections])).toEqual([["x", 3, 3], ["y", 1, 1]])
      // A controller step publishes the group's gauges, tagged with the group's and the pool's names.
      yield* group.rebalance
      const snapshot = yield* Metric.snapshot
      const gauge = (name: string, pool?: string) =>
        snapshot.filter((pair) =>
          pair.metricKey.name === name &&
          pair.metricKey.tags.some((t) => t.key === "dbpool.group.name" && t.value === "small") &&
          (pool === undefined || pair.metricKey.tags.some((t) => t.value === pool))
        ).map((pair) => (pair.metricState as unknown as { readonly value: number }).value)
      expect(gauge("dbpool.group.max")).toEqual([4])
      expect(gauge("dbpool.group.connections", "x")).toEqual([3])
      expect(gauge("dbpool.group.ceiling", "y")).toEqual([4]) // its maxConnections (50), at most the budget
    }).pipe(Effect.scoped))
})

/**
 * A group of 6 with a and b (floor 1, max 6). a's 5 callers hold their connections throughout; b gets 3
 * callers before each even tick and none before each odd one: the members' demand is 8 (over the budget),
 * then 6 (at it), then 8, ... for 20 ticks; then b stays quiet for 3 ticks. Returns the ceiling moves
 * during the swing, and a's ceiling after each quiet tick.
 */
const swing = (hysteresis: PoolGroup.Options["hysteresis"]) =>
  Effect.gen(function*() {
    const group = yield* PoolGroup.make({ name: "swing", maxConnections: 6, rebalanceInterval: "1 second", hysteresis })
    const config = (name: string): PoolConfig.Input => ({
      name,
      minConnections: 1,
      maxConnections: 6,
      acquireTimeout: "1 hour",
      group
    })
    const a = yield* ResourcePool.make({ acquire: Effect.succeed(1), config: config("a") })
    const b = yield* ResourcePool.make({ acquire: Effect.succeed(2), config: config("b") })
    const changes: Array<string> = []
    yield* Effect.fork(Stream.runForEach(group.events, (e) =>
      Effect.sync(() => {
        if (e._tag === "CeilingChanged") changes.push(`${e.pool}: ${e.previous} -> ${e.ceiling}`)
      })))
    yield* Fake.settle
    const hold = yield* Deferred.make<void>()
    const aUsers = yield* Effect.forEach([1, 2, 3, 4, 5], () => Effect.fork(a.use(() => Deferred.await(hold))))
    yield* Fake.settle
    let bServed = true
    for (let tick = 0; tick < 20; tick++) {
      const gate = yield* Deferred.make<void>()
      const bUsers = tick % 2 === 0
        ? yield* Effect.forEach([1, 2, 3], () => Effect.fork(b.use(() => Deferred.await(gate))))
        : []
      yield* Fake.settle
      yield* Fake.advance("1 second")
      if (tick % 2 === 0) {
        // b holds its floor's connection; its 2 other callers wait: b demands 3, a 5, so a is held to 3.
        const ceilings = (yield* group.stats).members.map((m) => m.ceiling)
        if (ceilings[0] !== 3 || ceilings[1] !== 6) bServed = false
      }
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.joinAll(bUsers)
      yield* Fake.settle
      expect((yield* group.stats).connections).toBeLessThanOrEqual(6)
    }
    const swung = changes.slice()
    const afterSwing: Array<[number, number]> = []
    for (let tick = 1; tick <= 3; tick++) {
      yield* Fake.advance("1 second")
      afterSwing.push([tick, (yield* a.stats).ceilingConnections])
    }
    yield* Deferred.succeed(hold, undefined)
    yield* Fiber.joinAll(aUsers)
    const [sa, sb] = [yield* a.stats, yield* b.stats]
    expect([sa.activeConnections, sb.activeConnections, sa.waitingRequests, sb.waitingRequests]).toEqual([0, 0, 0, 0])
    return { changes: swung, afterSwing, bServedAtContendedTicks: bServed }
  }).pipe(Effect.scoped)

/** Ends the test: the watchers stop, the pools close, every resource was closed once, the group is empty. */
const finish = (w: Effect.Effect.Success<typeof world>) =>
  Effect.gen(function*() {
    yield* Effect.forEach(w.watchers, Fiber.interrupt)
    const closing = yield* Effect.fork(Scope.close(w.poolScope, Exit.void))
    yield* run(100)
    yield* TestClock.adjust("1 minute")
    yield* Fiber.join(closing)
    for (const fake of w.fakes) yield* Fake.expectNoLeak(fake)
    expect(w.count.live).toBe(0)
    const stats = yield* w.group.stats
    expect([stats.connections, stats.members.length]).toEqual([0, 0])
    yield* Scope.close(w.groupScope, Exit.void)
  })
