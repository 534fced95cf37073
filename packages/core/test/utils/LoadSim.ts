/**
 * Load simulations for pool sizing: a load curve (arrivals per second over time) becomes a fixed list of
 * requests (Poisson arrivals and exponential hold times from a seeded generator), played against a pool of
 * fake connections that take `createMillis` to open, on a simulated clock (SimClock.ts). Measured: the
 * connection-seconds the pool kept open, every caller's wait for a connection, the timeouts, and the
 * adaptive controller's TargetChanged events.
 */
import type { PoolConfig } from "@dbpool/core"
import { PoolEvent, ResourcePool } from "@dbpool/core"
import { Effect, Fiber, Ref, Stream } from "effect"
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
  Effect.gen(function*() {
    const clock = new SimClock()
    const fake = yield* FakeResource.make
    yield* Ref.set(fake.createMode, { _tag: "slow", delay: options.createMillis })
    const waits: Array<number> = []
    const waitOf: Array<number | undefined> = []
    const changes: Array<Result["changes"][number]> = []
    let timeouts = 0
    let start = 0
    let started = false
    const sim = Effect.gen(function*() {
      const pool = yield* Effect.orDie(
        ResourcePool.make({ acquire: fake.acquire, release: fake.release, config: options.config })
      )
      yield* Effect.forkScoped(Stream.runForEach(pool.notices, (e) =>
        Effect.sync(() => {
          if (PoolEvent.PoolEvent.$is("TargetChanged")(e)) {
            changes.push({ t: clock.now - start, from: e.from, to: e.to, reason: e.reason })
          }
        })))
      start = clock.now
      started = true
      const fibers: Array<Fiber.RuntimeFiber<unknown>> = []
      for (const [i, request] of options.requests.entries()) {
        const delay = start + request.at - clock.now
        if (delay > 0) yield* Effect.sleep(delay)
        const asked = clock.now
        fibers.push(
          yield* Effect.fork(
            pool.use(() =>
              Effect.suspend(() => (waits.push(waitOf[i] = clock.now - asked), Effect.sleep(request.hold)))
            ).pipe(
              Effect.catchTag("PoolTimeoutError", () => Effect.sync(() => timeouts++)),
              Effect.orDie
            )
          )
        )
      }
      yield* Fiber.joinAll(fibers)
    }).pipe(Effect.scoped, Effect.withClock(clock))
    const fiber = yield* Effect.fork(sim)
    let area = 0
    let maxOpen = 0
    while (true) {
      yield* settle
      if (fiber.unsafePoll() !== null) break
      const open = (yield* Ref.get(fake.alive)).size
      maxOpen = Math.max(maxOpen, open)
      const before = clock.now
      if (!clock.wakeNext()) return yield* Effect.dieMessage("the simulation is stuck: nothing to wake")
      if (started) area += open * (clock.now - before)
    }
    yield* Fiber.join(fiber)
    yield* FakeResource.expectNoLeak(fake)
    return { connectionSeconds: area / 1000, waits, waitOf, timeouts, changes, maxOpen }
  })

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
