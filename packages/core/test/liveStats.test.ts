/**
 * `changes` keeps publishing while fibers loop on `use` without ever
 * suspending. Under such a load timers get no turn, so the test runs the pool
 * on a clock whose `sleep` never ends: every publication after the first can
 * only come from the pool's own release path. The clock moves only when a
 * `use` body moves it (1 ms per operation), so the times are exact and the
 * test does not depend on the machine's speed or load.
 */
import { ResourcePool } from "@dbpool/core"
import type { PoolStats } from "@dbpool/core"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Exit, Fiber, Scope, Stream } from "effect"

/** A clock that only the test moves, and on which no sleep ever ends (no timer ever fires). */
const frozenTimers = () => {
  let now = 0
  const clock: Clock.Clock = {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => now,
    unsafeCurrentTimeNanos: () => BigInt(now) * 1_000_000n,
    currentTimeMillis: Effect.sync(() => now),
    currentTimeNanos: Effect.sync(() => BigInt(now) * 1_000_000n),
    sleep: () => Effect.never
  }
  return { clock, tick: Effect.sync(() => void now++) }
}

/** A pool of `size` dummy connections, all open, with one fiber collecting what `changes` publishes. */
const observedPool = (size: number, statsInterval: number) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    let opened = 0
    const pool = yield* ResourcePool.make({
      acquire: Effect.sync(() => ({ id: ++opened })),
      config: { name: "live", minConnections: size, maxConnections: size, statsInterval }
    }).pipe(Scope.extend(scope))
    const seen: Array<PoolStats.PoolStats> = []
    const collector = yield* Effect.fork(Stream.runForEach(pool.changes, (s) => Effect.sync(() => seen.push(s))))
    while (seen.length === 0) yield* Effect.yieldNow()
    return { collector, pool, scope, seen }
  })

describe("live statistics", () => {
  it.effect("changes publishes every statsInterval while one fiber loops on use without suspending, exactly what stats reads then", () => {
    const { clock, tick } = frozenTimers()
    return Effect.gen(function*() {
      const { collector, pool, scope, seen } = yield* observedPool(2, 100)
      // 1,000 uses, each 1 ms long by the clock and never suspending: due every 100 ms, i.e. at the release of
      // every 100th use. Read `stats` right after those, to compare with what was published at that moment.
      const expected: Array<PoolStats.PoolStats> = []
      for (let k = 1; k <= 1000; k++) {
        yield* pool.use(() => tick)
        if (k % 100 === 0) expected.push(yield* pool.stats)
      }
      yield* Scope.close(scope, Exit.void)
      yield* Fiber.join(collector)
      const published = seen.slice(1, 11)
      expect(published.map((s) => s.totalRequests)).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000])
      expect(published).toEqual(expected)
      // Then only the pool's closing: its connections closed.
      expect(seen.slice(11).every((s) => s.totalRequests === 1000 && s.connectionsClosed.closed > 0)).toBe(true)
    }).pipe(Effect.withClock(clock))
  })

  it.effect("changes publishes every statsInterval (± 50 %) while eight fibers loop on use without suspending", () => {
    const { clock, tick } = frozenTimers()
    return Effect.gen(function*() {
      const { collector, pool, scope, seen } = yield* observedPool(8, 100)
      // Eight fibers on eight connections never wait; 250 uses each move the clock 2,000 ms in all.
      const loop = Effect.repeatN(pool.use(() => tick), 249)
      yield* Effect.all(Array.from({ length: 8 }, () => loop), { concurrency: "unbounded", discard: true })
      const { totalRequests } = yield* pool.stats
      expect(totalRequests).toBe(2000)
      yield* Scope.close(scope, Exit.void)
      yield* Fiber.join(collector)
      // Every request moved the clock 1 ms, so a snapshot's request count tells when (± the 8 uses in flight)
      // it was taken: successive publications are statsInterval apart.
      const during = seen.slice(1).filter((s) => s.connectionsClosed.closed === 0).map((s) => s.totalRequests)
      expect(during.length).toBeGreaterThanOrEqual(2000 / 100 * 0.5)
      expect(during.length).toBeLessThanOrEqual(2000 / 100 * 1.5)
      const gaps = during.slice(1).map((n, i) => n - during[i]!)
      for (const gap of gaps) {
        expect(gap).toBeGreaterThanOrEqual(50)
        expect(gap).toBeLessThanOrEqual(150)
      }
    }).pipe(Effect.withClock(clock))
  })
})
