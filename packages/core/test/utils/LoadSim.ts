/**
 * Load simulations for pool sizing: a load curve (arrivals per second over time) becomes a fixed list of
 * requests (Poisson arrivals and exponential hold times from a seeded generator), played against a pool of
 * fake connections that take `createMillis` to open, on a simulated clock: the SimClock (SimClock.ts) or effect's
 * TestClock, which give the same results. Measured: the
 * connection-seconds the pool kept open, every caller's wait for a connection, the timeouts, and the
 * adaptive controller's TargetChanged events.
 */
import type { PoolConfig } from "@dbpool/core"
import { PoolEvent, ResourcePool } from "@dbpool/core"
import { Clock, Deferred, Effect, Fiber, Ref, Stream, TestClock, TestContext } from "effect"
import * as FakeResource from "./FakeResource.js"
import { settle, SimClock } from "./SimClock.js"

/** A load curve: arrivals per second at second `s`, for `seconds`. */
export interface Curve {
  readonly name: string
  readonly seconds: number
  readonly rate: (s: number) => number
  /** The highest rate, for the generator's thinning. */
  readonly peak: number
}

export const curves: ReadonlyArray<Curve> = [
  { name: "step", seconds: 180, peak: 40, rate: (s) => s < 60 ? 2 : 40 },
  { name: "ramp", seconds: 180, peak: 45, rate: (s) => (s / 180) * 45 },
  { name: "spike", seconds: 180, peak: 60, rate: (s) => s >= 60 && s < 70 ? 60 : 4 },
  { name: "diurnal sine", seconds: 240, peak: 40, rate: (s) => 21 + 19 * Math.sin((2 * Math.PI * s) / 120) },
  { name: "idle", seconds: 180, peak: 0.5, rate: () => 0.5 }
]

/** A deterministic generator (mulberry32): the same seed gives the same requests. */
export const random = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface Request {
  /** Milliseconds from the start of the curve. */
  readonly at: number
  readonly hold: number
}

/** Poisson arrivals following the curve (by thinning), each holding its connection an exponential time. */
export const requests = (curve: Curve, seed: number, holdMillis: number): ReadonlyArray<Request> => {
  const next = random(seed)
  const out: Array<Request> = []
  let t = 0
  while (true) {
    t += (-Math.log(1 - next()) / curve.peak) * 1000
    if (t >= curve.seconds * 1000) return out
    const accept = next() * curve.peak < curve.rate(t / 1000)
    const hold = Math.max(1, Math.round(-Math.log(1 - next()) * holdMillis))
    if (accept) out.push({ at: Math.round(t), hold })
  }
}

export interface Options {
  readonly requests: ReadonlyArray<Request>
  readonly config: PoolConfig.Input
  readonly createMillis: number
  /**
   * The clock the run is on: the SimClock (default, fast) or effect's TestClock (a fresh one for the run,
   * starting at 0), which costs 4 to 5 ms of real time per timer it wakes (see SimClock.ts).
   */
  readonly clock?: "SimClock" | "TestClock"
  /**
   * When set, the load runs on a tick of this many milliseconds: arrivals are rounded up to the next tick,
   * ends of holds to the nearest (after the start of the hold), and one timer per tick serves them all, instead of a timer per arrival and per hold
   * (fewer wakes: what makes a load curve affordable on the TestClock).
   */
  readonly tickMillis?: number
}

export interface Result {
  readonly connectionSeconds: number
  /** Every successful caller's wait (ms), in the order they were served. */
  readonly waits: ReadonlyArray<number>
  /** The wait of each request, by its index in the requests; undefined if it timed out. */
  readonly waitOf: ReadonlyArray<number | undefined>
  readonly timeouts: number
  readonly changes: ReadonlyArray<
    { readonly t: number; readonly from: number; readonly to: number; readonly reason: string }
  >
  readonly maxOpen: number
  /** Timers the SimClock woke during the run (what a TestClock run costs is proportional to it); not counted on the TestClock. */
  readonly wakes: number | undefined
}

export const percentile = (values: ReadonlyArray<number>, p: number): number => {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!
}

/**
 * Plays the requests against a pool made with `config`, from the moment `make` returns (time 0 of the
 * requests), until the last one is served, then closes the pool and checks that nothing leaked.
 */
export const run = (options: Options): Effect.Effect<Result> =>
  options.clock === "TestClock" ? onTestClock(simulate(options)) : onSimClock(simulate(options))

/** The simulation itself, on whatever clock it is given: every time below is read from that clock. */
const simulate = (options: Options): Effect.Effect<Omit<Result, "wakes">> =>
  Effect.gen(function*() {
    const fake = yield* FakeResource.make
    yield* Ref.set(fake.createMode, { _tag: "slow", delay: options.createMillis })
    const waits: Array<number> = []
    const waitOf: Array<number | undefined> = []
    const changes: Array<Result["changes"][number]> = []
    let timeouts = 0
    let start = 0
    // Connection-seconds: the connections open at the fake, integrated from `start` as they open and close.
    let started = false
    let open = 0
    let maxOpen = 0
    let last = 0
    let area = 0
    const opened = (delta: number) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        if (started) area += open * (now - last)
        last = now
        open += delta
        maxOpen = Math.max(maxOpen, open)
      })
    const acquire = Effect.tap(fake.acquire, () => opened(1))
    const release = (conn: FakeResource.FakeConnection) => Effect.zipRight(fake.release(conn), opened(-1))
    yield* Effect.gen(function*() {
      const pool = yield* Effect.orDie(ResourcePool.make({ acquire, release, config: options.config }))
      yield* Effect.forkScoped(Stream.runForEach(pool.notices, (e) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          if (PoolEvent.PoolEvent.$is("TargetChanged")(e)) {
            changes.push({ t: now - start, from: e.from, to: e.to, reason: e.reason })
          }
        })))
      start = yield* opened(0).pipe(Effect.zipRight(Clock.currentTimeMillis))
      started = true
      const tick = options.tickMillis
      // On a tick, an arrival is rounded up to the next tick and the end of a hold to the nearest one.
      const onTick = (t: number) => tick === undefined ? t : Math.ceil(t / tick) * tick
      const holds: Array<{ readonly end: number; readonly done: Deferred.Deferred<void> }> = []
      const hold = (now: number, millis: number) =>
        tick === undefined ? Effect.sleep(millis) : Effect.flatMap(Deferred.make<void>(), (done) => {
          // The nearest tick (so the mean hold stays as drawn), at least the next one.
          const t = now - start
          holds.push({ end: Math.max(Math.round((t + millis) / tick) * tick, onTick(t + 1)), done })
          return Deferred.await(done)
        })
      let inFlight = 0
      const fibers: Array<Fiber.RuntimeFiber<unknown>> = []
      const ask = (i: number) =>
        Effect.gen(function*() {
          const asked = yield* Clock.currentTimeMillis
          inFlight++
          const caller = pool.use(() =>
            Effect.flatMap(Clock.currentTimeMillis, (now) => {
              waits.push(waitOf[i] = now - asked)
              return hold(now, options.requests[i]!.hold)
            })
          ).pipe(
            Effect.catchTag("PoolTimeoutError", () => Effect.sync(() => timeouts++)),
            Effect.orDie,
            Effect.ensuring(Effect.sync(() => inFlight--))
          )
          fibers.push(yield* Effect.fork(caller))
        })
      const requests = options.requests
      if (tick === undefined) {
        // A timer per arrival (here) and per hold (in `hold`).
        for (const [i, request] of requests.entries()) {
          const delay = start + request.at - (yield* Clock.currentTimeMillis)
          if (delay > 0) yield* Effect.sleep(delay)
          yield* ask(i)
        }
      } else {
        // One timer per tick while a request is in flight (else until the next arrival's tick): at each,
        // the holds due end first (their connections go back), then the requests due ask, in order.
        let next = 0
        while (next < requests.length || inFlight > 0) {
          const now = (yield* Clock.currentTimeMillis) - start
          for (const due of holds.filter((h) => h.end <= now)) {
            holds.splice(holds.indexOf(due), 1)
            yield* Deferred.succeed(due.done, undefined)
          }
          for (; next < requests.length && onTick(requests[next]!.at) <= now; next++) yield* ask(next)
          if (inFlight > 0) yield* Effect.sleep(tick)
          else if (next < requests.length) yield* Effect.sleep(onTick(requests[next]!.at) - now)
        }
      }
      yield* Fiber.joinAll(fibers)
      yield* opened(0)
      started = false
    }).pipe(Effect.scoped)
    yield* FakeResource.expectNoLeak(fake)
    return { connectionSeconds: area / 1000, waits, waitOf, timeouts, changes, maxOpen }
  })

/** Runs on a SimClock: wakes its timers one at a time, letting the woken fibers run between. */
const onSimClock = <A extends object>(sim: Effect.Effect<A>): Effect.Effect<A & { readonly wakes: number }> =>
  Effect.gen(function*() {
    const clock = new SimClock()
    const fiber = yield* Effect.fork(Effect.withClock(sim, clock))
    let wakes = 0
    let idle = 0
    while (true) {
      yield* settle
      if (fiber.unsafePoll() !== null) break
      if (clock.wakeNext()) {
        wakes++
        idle = 0
      } else if (++idle > 100) {
        // Nothing to wake for 100 settles in a row: nothing will ever happen again.
        return yield* Effect.dieMessage("the simulation is stuck: nothing to wake")
      }
    }
    return { ...(yield* Fiber.join(fiber)), wakes }
  })

/**
 * Runs on a fresh TestClock of effect's, moved on by `TestClock.adjust` a second at a time: each adjust
 * wakes every timer due by then, one at a time, waiting for every fiber to suspend before each.
 */
const onTestClock = <A extends object>(sim: Effect.Effect<A>): Effect.Effect<A & { readonly wakes: undefined }> =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(sim)
    while (fiber.unsafePoll() === null) yield* TestClock.adjust("1 second")
    return { ...(yield* Fiber.join(fiber)), wakes: undefined }
  }).pipe(Effect.provide(TestContext.TestContext))

/**
 * A known daily peak, compressed: periods of `periodSeconds`, each idle until `startSeconds`, then a ramp
 * from 0 to `peak` requests/s over `rampSeconds`, `peak` for `plateauSeconds`, and idle again.
 */
export const peakEvery = (options: {
  readonly periods: number
  readonly periodSeconds: number
  readonly startSeconds: number
  readonly rampSeconds: number
  readonly plateauSeconds: number
  readonly peak: number
}): Curve => {
  const { peak, periodSeconds, plateauSeconds, rampSeconds, startSeconds } = options
  return {
    name: "peak",
    seconds: options.periods * periodSeconds,
    peak,
    rate: (s) => {
      const x = (s % periodSeconds) - startSeconds
      if (x < 0 || x >= rampSeconds + plateauSeconds) return 0
      return x < rampSeconds ? (x / rampSeconds) * peak : peak
    }
  }
}
