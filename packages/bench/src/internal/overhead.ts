/**
 * The pool-overhead benchmark: acquire + release of a dummy resource, no I/O,
 * for each contender, under a real clock, interleaved round by round.
 */
import * as ResourcePool from "@dbpool/core/ResourcePool"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Pool from "effect/Pool"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Overhead from "../Overhead.js"
import * as Dashboard from "./dashboard.js"
import { FairPool } from "./fairPool.js"
import * as Peers from "./peers.js"

export const contenders: ReadonlyArray<Overhead.ContenderId> = [
  "dbpool.use",
  "dbpool.use.observed",
  "dbpool.use.dashboard",
  "dbpool.get",
  "effect.Pool",
  "effect.PoolTTL",
  "effect.fair",
  "effect.Semaphore",
  "effect.bare",
  "promise.pool",
  "generic-pool",
  "pg-pool",
  "tarn"
]

export const labels: Record<Overhead.ContenderId, string> = {
  "dbpool.use": "dbpool use",
  "dbpool.use.observed": "dbpool use, observed",
  "dbpool.use.dashboard": "dbpool use, dashboard open",
  "dbpool.get": "dbpool scoped(get)",
  "effect.Pool": "effect Pool",
  "effect.PoolTTL": "effect Pool TTL",
  "effect.fair": "fair Effect pool",
  "effect.Semaphore": "effect Semaphore",
  "effect.bare": "bare Effect loop",
  "promise.pool": "promise pool",
  "generic-pool": "generic-pool",
  "pg-pool": "pg-pool (fake client)",
  "tarn": "tarn"
}

export const fullCases: ReadonlyArray<Overhead.Case> = [
  { size: 10, fibers: 1 },
  { size: 10, fibers: 10 },
  { size: 10, fibers: 100 },
  { size: 50, fibers: 200 },
  { size: 100, fibers: 1000 }
]

export const quickCases: ReadonlyArray<Overhead.Case> = [
  { size: 10, fibers: 10 },
  { size: 10, fibers: 100 },
  { size: 100, fibers: 1000 }
]

const warmupCases: ReadonlyArray<Overhead.Case> = [{ size: 10, fibers: 1 }, { size: 10, fibers: 100 }]

type Tracker = Peers.Tracker

/** One contender, built for one round: looped by fibers, or by async functions (`Peers.PromiseSubject`). */
type Subject = EffectSubject | { readonly _tag: "promise"; readonly subject: Peers.PromiseSubject }

interface EffectSubject {
  readonly _tag: "effect"
  /** Acquire, then release with an empty body. */
  readonly plain: Effect.Effect<unknown, unknown>
  /** Acquire, read the clock while holding, release: the time of "having". */
  readonly timed: Effect.Effect<number, unknown>
  /** After the fibers stopped, before the scope closes: a description of what is still held, if anything. */
  readonly leftover: Effect.Effect<string | undefined>
  /** Takes every resource (or permit) until the scope closes: the round starts with all of them lent out. */
  readonly hold: Effect.Effect<unknown, unknown, Scope.Scope>
}

const now = Effect.sync(() => performance.now())

const makeSubject = (
  id: Overhead.ContenderId,
  size: number,
  tracker: Tracker
): Effect.Effect<Subject, unknown, Scope.Scope> => {
  const open = Effect.sync(() => ({ id: ++tracker.created }))
  const close = () =>
    Effect.sync(() => {
      tracker.closed++
    })
  const range = Array.from({ length: size }, (_, i) => i)
  // Holding every item at once makes a lazily filled pool open all of them before the round.
  const holdAll = <A, E>(get: Effect.Effect<A, E, Scope.Scope>) =>
    Effect.forEach(range, () => get, { concurrency: "unbounded", discard: true })
  const fill = <A, E>(get: Effect.Effect<A, E, Scope.Scope>) => Effect.scoped(holdAll(get))
  switch (id) {
    case "dbpool.use":
    case "dbpool.use.observed":
    case "dbpool.use.dashboard":
    case "dbpool.get":
      return Effect.gen(function*() {
        const pool = yield* ResourcePool.make({
          acquire: open,
          release: close,
          config: { name: `bench-${size}`, minConnections: size, maxConnections: size }
        })
        if (id === "dbpool.use.observed") {
          // The bar's "stats and events on": someone listens to both for the whole round, so every
          // acquire and release publishes its events (with no subscriber the pool skips them).
          yield* Effect.forkScoped(Stream.runDrain(pool.events))
          yield* Effect.forkScoped(Stream.runDrain(pool.changes))
          // Let both subscribe before the pool is filled and the round starts.
          yield* Effect.repeatN(Effect.yieldNow(), 3)
        }
        if (id === "dbpool.use.dashboard") yield* Dashboard.watch(pool)
        yield* fill(pool.get)
        const leftover = Effect.map(
          pool.stats,
          (s) =>
            s.activeConnections === 0 && s.idleConnections === size && s.waitingRequests === 0 &&
              s.totalConnections === size && s.failedRequests === 0
              ? undefined
              : `${id}: active ${s.activeConnections}, idle ${s.idleConnections}, waiting ${s.waitingRequests}, ` +
                `total ${s.totalConnections}, failed ${s.failedRequests} (expected idle = total = ${size})`
        )
        return id !== "dbpool.get"
          ? {
            _tag: "effect",
            plain: pool.use(() => Effect.void),
            timed: pool.use(() => now),
            leftover,
            hold: holdAll(pool.get)
          }
          : {
            _tag: "effect",
            plain: Effect.scoped(pool.get),
            timed: Effect.scoped(Effect.zipRight(pool.get, now)),
            leftover,
            hold: holdAll(pool.get)
          }
      })
    case "effect.Pool":
    case "effect.PoolTTL":
      return Effect.gen(function*() {
        const acquire = Effect.acquireRelease(open, close)
        const pool = id === "effect.Pool"
          ? yield* Pool.make({ acquire, size })
          : yield* Pool.makeWithTTL({ acquire, min: size, max: size, timeToLive: "1 hour" })
        yield* fill(pool.get)
        return {
          _tag: "effect",
          plain: Effect.scoped(pool.get),
          timed: Effect.scoped(Effect.zipRight(pool.get, now)),
          hold: holdAll(pool.get),
          leftover: Effect.succeed(
            tracker.created === size ? undefined : `${id}: ${tracker.created} items made, expected ${size}`
          )
        }
      })
    case "effect.fair":
      return Effect.acquireRelease(
        Effect.sync(() => new FairPool(Array.from({ length: size }, () => ({ id: ++tracker.created })))),
        (pool) =>
          Effect.sync(() => {
            tracker.closed += pool.idle.length
          })
      ).pipe(Effect.map((pool): Subject => ({
        _tag: "effect",
        plain: pool.use(() => Effect.void),
        timed: pool.use(() => now),
        hold: holdAll(pool.get),
        leftover: Effect.sync(() =>
          pool.idle.length === size && pool.waiting === 0
            ? undefined
            : `${id}: idle ${pool.idle.length}, waiting ${pool.waiting} (expected idle = ${size})`
        )
      })))
    case "effect.Semaphore":
      return Effect.gen(function*() {
        const semaphore = yield* Effect.makeSemaphore(size)
        const take = semaphore.withPermits(1)
        return {
          _tag: "effect",
          plain: take(Effect.void),
          timed: take(now),
          hold: Effect.acquireRelease(semaphore.take(size), () => semaphore.release(size)),
          leftover: Effect.map(
            semaphore.withPermitsIfAvailable(size)(Effect.void),
            (o) => Option.isSome(o) ? undefined : `${id}: permits still taken`
          )
        }
      })
    case "effect.bare":
      return Effect.succeed({
        _tag: "effect",
        plain: Effect.void,
        timed: now,
        leftover: Effect.succeed(undefined),
        hold: Effect.void
      })
    case "promise.pool":
    case "generic-pool":
    case "tarn":
    case "pg-pool":
      return Effect.acquireRelease(
        Effect.promise(() => Peers.makePromiseSubject(id, size, tracker)),
        (subject) => Effect.promise(() => subject.close())
      ).pipe(Effect.map((subject) => ({ _tag: "promise", subject })))
  }
}

/** The value at quantile `q` of sorted samples (nearest rank). */
export const quantile = (sorted: Float64Array, q: number): number => {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil(q * sorted.length) - 1
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!
}

export const median = (values: ReadonlyArray<number>): number => {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/**
 * `fibers` fibers loop acquire + release. Nothing counts until every fiber has
 * finished one operation and a quarter of a round has passed (the settling: at
 * the start the first fibers to run find idle resources and loop without ever
 * waiting, which would hide the steady state); then operations count for
 * `durationMs`. One operation in `sampleEvery` (a power of two) is timed from
 * asking to having, and the timed ones double as the clock checks, so the clock
 * is read about twice per `sampleEvery` operations.
 */
const runRound = (
  subject: Subject,
  fibers: number,
  durationMs: number,
  sampleEvery: number
): Effect.Effect<Overhead.Round, unknown> =>
  Effect.suspend(() => {
    const mask = sampleEvery - 1
    let samples: Array<number> = []
    let ops = 0
    const perFiber = new Array<number>(fibers).fill(0)
    let started = 0
    let running = true
    let measuring = false
    let settleUntil = 0
    let giveUpSettling = 0
    let measureFrom = 0
    let deadline = 0
    // The process's CPU time (user + system) over the counted window: a shared machine disturbs it less than ops/s.
    let cpuFrom: NodeJS.CpuUsage = { user: 0, system: 0 }
    let cpu: NodeJS.CpuUsage | undefined
    let opsAtStop = 0
    const stop = () => {
      if (!running) return
      running = false
      cpu = process.cpuUsage(cpuFrom)
      opsAtStop = ops
    }
    const record = (asked: number, having: number) => {
      if (measuring) {
        samples.push(having - asked)
        if (having >= deadline) stop()
      } else if ((started === fibers && having >= settleUntil) || having >= giveUpSettling) {
        measuring = true
        measureFrom = having
        cpuFrom = process.cpuUsage()
        deadline = having + durationMs
        ops = 0
        samples = []
      }
    }
    const begin = () => {
      const start = performance.now()
      settleUntil = start + durationMs / 4
      giveUpSettling = start + durationMs
      return start
    }
    const result = (start: number): Overhead.Round => {
      const elapsedMs = performance.now() - measureFrom
      const sorted = Float64Array.from(samples).sort()
      const us = (q: number) => quantile(sorted, q) * 1000
      const byFiber = Float64Array.from(perFiber).sort()
      return {
        opsPerFiber: { min: byFiber[0]!, p50: quantile(byFiber, 0.5), max: byFiber[byFiber.length - 1]! },
        ops,
        elapsedMs,
        opsPerSec: ops / (elapsedMs / 1000),
        cpuUsPerOp: cpu === undefined ? Number.NaN : (cpu.user + cpu.system) / Math.max(1, opsAtStop),
        samples: sorted.length,
        settledAfterMs: measureFrom - start,
        p50: us(0.5),
        p99: us(0.99),
        p999: us(0.999),
        max: us(1)
      }
    }
    if (subject._tag === "promise") {
      // The promise peers run as their users would run them: async functions, no fibers.
      const { acquire, release } = subject.subject
      const loop = async (k: number, gate: Promise<void>) => {
        await gate
        let i = k
        let first = true
        while (running) {
          if ((i++ & mask) === 0) {
            const asked = performance.now()
            const r = await acquire()
            record(asked, performance.now())
            release(r)
          } else {
            release(await acquire())
          }
          ops++
          if (measuring) perFiber[k]!++
          if (first) {
            first = false
            started++
          }
        }
      }
      return Effect.promise(async () => {
        let open!: () => void
        const gate = new Promise<void>((resolve) => {
          open = resolve
        })
        const loops = Array.from({ length: fibers }, (_, k) => loop(k, gate))
        const start = begin()
        open()
        await Promise.all(loops)
        return result(start)
      })
    }
    const timed = Effect.suspend(() => {
      const asked = performance.now()
      return Effect.map(subject.timed, (having) => record(asked, having))
    })
    const loop = (k: number, gate: Effect.Latch) =>
      Effect.zipRight(
        gate.await,
        Effect.suspend(() => {
          let i = k
          let first = true
          return Effect.whileLoop({
            while: () => running,
            body: () => (i++ & mask) === 0 ? timed : subject.plain,
            step: () => {
              ops++
              if (measuring) perFiber[k]!++
              if (first) {
                first = false
                started++
              }
            }
          })
        })
      )
    return Effect.gen(function*() {
      // Every fiber is forked before any starts: else the first ones loop on idle resources
      // while the forking fiber waits for its turn to fork the rest.
      const gate = yield* Effect.makeLatch(false)
      const forked: Array<Fiber.RuntimeFiber<void, unknown>> = []
      for (let k = 0; k < fibers; k++) forked.push(yield* Effect.fork(loop(k, gate)))
      // The round starts contended, as its case means: every resource is lent out while the fibers make
      // their first ask, so that each queues; then all come back at once. Started with idle resources,
      // fibers whose body never suspends would instead run turns of the scheduler's 2,048 operations
      // each on idle resources, and leave that regime only after seconds, during the counted window.
      const held = yield* Scope.make()
      yield* Scope.extend(subject.hold, held)
      const start = begin()
      yield* gate.open
      // One turn of the scheduler lets every fiber run to its first ask; a second one is for safety.
      yield* Effect.yieldNow()
      yield* Effect.yieldNow()
      yield* Scope.close(held, Exit.void)
      yield* Fiber.joinAll(forked)
      return result(start)
    })
  })

const measure = (
  id: Overhead.ContenderId,
  c: Overhead.Case,
  durationMs: number,
  sampleEvery: number
): Effect.Effect<{ readonly round: Overhead.Round; readonly leak: string | undefined }, unknown> =>
  Effect.gen(function*() {
    const tracker: Tracker = { created: 0, closed: 0 }
    const [round, leftover] = yield* Effect.scoped(
      Effect.gen(function*() {
        const subject = yield* makeSubject(id, c.size, tracker)
        const round = yield* runRound(subject, c.fibers, durationMs, sampleEvery)
        return [
          round,
          subject._tag === "effect" ? yield* subject.leftover : subject.subject.leftover()
        ] as const
      })
    )
    const unclosed = tracker.created - tracker.closed
    const leak = leftover ?? (unclosed === 0 ? undefined : `${id}: ${unclosed} resources never closed`)
    return { round, leak }
  })

export const run = (options: Overhead.Options): Effect.Effect<Overhead.Report, unknown> =>
  Effect.gen(function*() {
    const quick = options.quick ?? false
    const durationMs = options.durationMs ?? (quick ? 100 : 1000)
    // Quick mode: 2 rounds, so that the whole quick run (memory and scale included) stays under a minute.
    const rounds = options.rounds ?? (quick ? 2 : 5)
    const sampleEvery = options.sampleEvery ?? 4
    if (sampleEvery < 1 || (sampleEvery & (sampleEvery - 1)) !== 0) {
      return yield* Effect.dieMessage(`sampleEvery must be a power of two, got ${sampleEvery}`)
    }
    const cases = options.cases ?? (quick ? quickCases : fullCases)
    const ids = options.contenders ?? contenders
    const warmupMs = options.warmupMs ?? (quick ? 0 : durationMs / 2)
    const log = options.log ?? (() => {})
    const leaks: Array<string> = []
    const results: Array<Overhead.CaseResult> = []
    const startedAt = Date.now()
    // Before anything counts: every contender on an uncontended and a contended case, long
    // enough for the JIT to settle on the waiting path too (it takes seconds on a busy machine).
    const globalWarmupMs = options.globalWarmupMs ?? (quick ? 100 : 1500)
    if (globalWarmupMs > 0) {
      for (const c of warmupCases) {
        for (const id of ids) {
          const { leak } = yield* measure(id, c, globalWarmupMs, sampleEvery)
          if (leak !== undefined) leaks.push(`${c.size}/${c.fibers} global warm-up: ${leak}`)
        }
      }
    }
    for (const c of cases) {
      const perContender = new Map<Overhead.ContenderId, Array<Overhead.Round>>(ids.map((id) => [id, []]))
      // One discarded round each, so that every contender's code is hot before it counts.
      if (warmupMs > 0) {
        for (const id of ids) {
          const { leak } = yield* measure(id, c, warmupMs, sampleEvery)
          if (leak !== undefined) leaks.push(`${c.size}/${c.fibers} warm-up: ${leak}`)
        }
      }
      // Interleaved: A B C ... A B C ..., so drift in the machine hits every contender alike.
      for (let r = 0; r < rounds; r++) {
        for (const id of ids) {
          const { leak, round } = yield* measure(id, c, durationMs, sampleEvery)
          if (leak !== undefined) leaks.push(`${c.size}/${c.fibers} round ${r + 1}: ${leak}`)
          perContender.get(id)!.push(round)
        }
      }
      const figures = ids.map((id): Overhead.ContenderResult => {
        const rs = perContender.get(id)!
        const pick = (f: (r: Overhead.Round) => number) => median(rs.map(f))
        return {
          id,
          opsPerSec: pick((r) => r.opsPerSec),
          cpuUsPerOp: pick((r) => r.cpuUsPerOp),
          p50: pick((r) => r.p50),
          p99: pick((r) => r.p99),
          p999: pick((r) => r.p999),
          max: pick((r) => r.max),
          rounds: rs
        }
      })
      const result: Overhead.CaseResult = { ...c, contenders: figures }
      results.push(result)
      log(result)
    }
    return {
      quick,
      durationMs,
      rounds,
      sampleEvery,
      warmupMs,
      globalWarmupMs,
      startedAt: new Date(startedAt).toISOString(),
      totalSeconds: (Date.now() - startedAt) / 1000,
      cases: results,
      leaks
    }
  })
