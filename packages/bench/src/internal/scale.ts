/**
 * The scale benchmark (bar 5): acquire cost against the number of waiting
 * fibers, health-check rounds against pool size, and the cost of stats and
 * events subscribers. dbpool only, under the real clock; rounds end on a
 * deadline read with `Date.now()` in the fibers' loops, never on a timer (a
 * scheduler kept busy by thousands of fibers can fire timers late).
 */
import * as ResourcePool from "@dbpool/core/ResourcePool"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Scheduler from "effect/Scheduler"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Scale from "../Scale.js"
import { median, quantile } from "./overhead.js"

export const fullWaiterFibers: ReadonlyArray<number> = [10, 100, 1_000, 10_000]
/** 10,000 fibers need rounds of a second: taking their first turn alone takes ~0.3 s. */
export const quickWaiterFibers: ReadonlyArray<number> = [10, 100, 1_000]
export const healthSizes: ReadonlyArray<number> = [10, 100, 1_000]
/** A round of 1,000 checks of 1 ms takes 1.1 to 2.5 s. */
export const quickHealthSizes: ReadonlyArray<number> = [10, 100]
export const subscriberVariants: ReadonlyArray<Scale.SubscriberVariant> = [
  "none",
  "changes",
  "changes.fast",
  "events"
]

export const subscriberLabels: Record<Scale.SubscriberVariant, string> = {
  none: "no subscriber",
  changes: "100 fibers draining `changes` (statsInterval 1 s, the default)",
  "changes.fast": "100 fibers draining `changes` (statsInterval 10 ms)",
  events: "100 fibers draining `events`"
}

/** The flat band of issue 11: ±50 % of the 100-fiber row. */
export const flatBand = 0.5
/** How far above the smallest pool's per-connection time a health-check round may go and still count as linear. */
export const linearBand = 0.2
/** Bar 5's cost of 100 stats subscribers: at most 5 % of throughput. */
export const subscriberBudget = 0.05

/** A dummy resource pool, filled: `min = max = size`. */
const makePool = (
  size: number,
  extra: {
    readonly validate?: (r: object) => Effect.Effect<void>
    readonly healthCheckSchedule?: Schedule.Schedule<unknown, unknown>
    readonly statsInterval?: Duration.DurationInput
  } = {}
): Effect.Effect<ResourcePool.ResourcePool<object>, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const pool = yield* ResourcePool.make({
      acquire: Effect.sync(() => ({})),
      validate: extra.validate,
      config: {
        name: `scale-${size}`,
        minConnections: size,
        maxConnections: size,
        // Only the health-check rounds validate: a borrowed connection is never checked on the way out.
        validateAfterIdle: "1 hour",
        healthCheckSchedule: extra.healthCheckSchedule,
        statsInterval: extra.statsInterval
      }
    })
    // The pool fills itself in the background (min = size); the round starts once it has.
    const giveUp = Date.now() + 30_000
    while (true) {
      const s = yield* pool.stats
      if (s.idleConnections === size) break
      if (Date.now() > giveUp) return yield* Effect.dieMessage(`pool of ${size} not filled within 30 s`)
      yield* Effect.sleep(2)
    }
    return pool
  })

/**
 * One run queue for all the fibers of a round, drained a round of the queue at a time (on microtasks, and
 * on a timer every 2,048 rounds so that Node's timers run), as Effect scheduled every fiber before 3.20.
 * Effect's default scheduler keeps a run queue per fiber: a fiber that yields 2,048 times in a row without
 * waiting on anything resumes next from a timer, and Node then runs that fiber's microtasks, its next 2,048
 * yields, alone, before the next timer's fiber. Where no fiber waits in the pool (10 fibers on 10
 * connections) the fibers took turns of 2,049 operations each instead of one, and a window's edge cutting a
 * turn left one fiber up to 2,049 operations ahead of another: the scheduler's unfairness, not the pool's.
 */
export const roundRobin = (): Scheduler.Scheduler => {
  const runner = new Scheduler.SchedulerRunner((depth, drain) => {
    if (depth >= 2048) setTimeout(() => drain(0), 0)
    else Promise.resolve().then(() => drain(depth + 1))
  })
  return Scheduler.make((task, priority) => runner.scheduleTask(task, priority))
}

/** One round of `fibers` fibers looping `body`; `timed` bodies report the wait from asking to having. */
interface LoopOptions {
  readonly fibers: number
  readonly durationMs: number
  readonly body: Effect.Effect<unknown, unknown>
  /** When given, every operation runs this instead and returns how long it waited, in ms. */
  readonly timed?: Effect.Effect<number, unknown> | undefined
  /** Read every 256 operations in the window and at its end (the pool's waiting requests); the median is reported. */
  readonly probe?: (() => number) | undefined
  /** Set to true while operations count, so that others (subscribers) can count within the same window. */
  readonly window?: { inWindow: boolean } | undefined
}

interface LoopResult {
  readonly ops: number
  readonly elapsedMs: number
  readonly opsPerSec: number
  readonly cpuUsPerOp: number
  readonly opsPerFiber: Scale.Spread
  readonly latency: ReadonlyArray<number>
  readonly probed: number
}

/**
 * Nothing counts until every fiber has finished one operation and a quarter
 * of a round has passed (or 10 s, if some fiber never got one);
 * then the operations of the next `durationMs` count, with the process's CPU
 * time (`process.cpuUsage`, user + system) over the same window.
 */
const loop = (options: LoopOptions): Effect.Effect<LoopResult, unknown> =>
  Effect.suspend(() => {
    const { durationMs, fibers } = options
    const perFiber = new Array<number>(fibers).fill(0)
    const latency: Array<number> = []
    const probed: Array<number> = []
    const probe = options.probe
    let ops = 0
    let started = 0
    let running = true
    let measuring = false
    const start = Date.now()
    const settleUntil = start + durationMs / 4
    // Never before every fiber has had a turn, unless that takes 10 s: 10,000 fibers take their first turn
    // in ~0.3 s on a quiet machine, longer than a short round, and a window opened earlier measures the start.
    const giveUpSettling = start + Math.max(durationMs, 10_000)
    let deadline = 0
    let from = 0
    let to = 0
    let cpuFrom: NodeJS.CpuUsage = { user: 0, system: 0 }
    let cpu: NodeJS.CpuUsage = { user: 0, system: 0 }
    const step = (k: number, first: boolean) => {
      const t = Date.now()
      if (measuring) {
        if (t >= deadline) {
          if (running) {
            running = false
            to = performance.now()
            cpu = process.cpuUsage(cpuFrom)
            if (options.window !== undefined) options.window.inWindow = false
            // One reading at the end at least, however few operations the window had.
            if (probe !== undefined) probed.push(probe())
          }
          return
        }
        ops++
        perFiber[k]!++
        if (probe !== undefined && (ops & 255) === 0) probed.push(probe())
      } else if ((started === fibers && t >= settleUntil) || t >= giveUpSettling) {
        measuring = true
        deadline = t + durationMs
        from = performance.now()
        cpuFrom = process.cpuUsage()
        if (options.window !== undefined) options.window.inWindow = true
      }
      if (first) started++
    }
    const timed = options.timed
    const fiber = (k: number) =>
      Effect.suspend(() => {
        let first = true
        return Effect.whileLoop({
          while: () => running,
          body: timed === undefined
            ? () => options.body
            : () =>
              Effect.map(timed, (waited) => {
                if (measuring && running) latency.push(waited)
              }),
          step: () => {
            step(k, first)
            first = false
          }
        })
      })
    return Effect.gen(function*() {
      // Every fiber is forked before any starts, so that the first ones do not loop alone; all share one run
      // queue, so that those which never wait in the pool take turns of one operation each (see roundRobin).
      const gate = yield* Effect.makeLatch(false)
      const forked: Array<Fiber.RuntimeFiber<void, unknown>> = []
      const scheduler = roundRobin()
      for (let k = 0; k < fibers; k++) {
        forked.push(yield* Effect.fork(Effect.withScheduler(Effect.zipRight(gate.await, fiber(k)), scheduler)))
      }
      yield* gate.open
      yield* Fiber.joinAll(forked)
      const elapsedMs = to - from
      const sorted = Float64Array.from(perFiber).sort()
      return {
        ops,
        elapsedMs,
        opsPerSec: ops / (elapsedMs / 1000),
        cpuUsPerOp: (cpu.user + cpu.system) / Math.max(1, ops),
        opsPerFiber: { min: sorted[0]!, p50: quantile(sorted, 0.5), max: sorted[sorted.length - 1]! },
        latency,
        probed: median(probed)
      }
    })
  })

/**
 * One turn of the event loop (`setImmediate`), as a query's I/O would take: a
 * body that never leaves the Effect scheduler starves Node's timers, and the
 * pool's housekeeping (health checks, stats publication) runs on timers.
 */
const turn: Effect.Effect<void> = Effect.async<void>((resume) => {
  setImmediate(() => resume(Effect.void))
})

/** `use` holding the connection for `body`; returns how long the acquisition waited, in ms. */
const timedUse = (
  pool: ResourcePool.ResourcePool<object>,
  body: Effect.Effect<void>
): Effect.Effect<number, unknown> =>
  Effect.suspend(() => {
    const asked = performance.now()
    return pool.use(() => Effect.as(body, performance.now() - asked))
  })

const spreadOf = (values: ReadonlyArray<Scale.Spread>): Scale.Spread => ({
  min: median(values.map((v) => v.min)),
  p50: median(values.map((v) => v.p50)),
  max: median(values.map((v) => v.max))
})

// ---- (a) acquire cost against waiting fibers ---------------------------------

/**
 * Each fiber holds its connection across one `Effect.yieldNow()`, so that the
 * others run meanwhile and queue for a connection: with an empty body a fiber
 * would never suspend (an idle connection is always there) and the "waiting"
 * fibers would wait in the Effect scheduler's run queue, each in turn running
 * ~100 operations alone on the pool, not in the pool's queue.
 */
const waitersRound = (size: number, fibers: number, durationMs: number) =>
  Effect.scoped(Effect.flatMap(makePool(size), (pool) =>
    loop({
      fibers,
      durationMs,
      body: pool.use(() => Effect.yieldNow()),
      probe: () => Effect.runSync(pool.stats).waitingRequests
    })))

const runWaiters = (
  size: number,
  fiberCounts: ReadonlyArray<number>,
  rounds: number,
  durationMs: number
): Effect.Effect<ReadonlyArray<Scale.WaitersRow>, unknown> =>
  Effect.gen(function*() {
    const results = new Map<number, Array<LoopResult>>(fiberCounts.map((f) => [f, []]))
    // One discarded round first, so that the first row counted does not pay for the JIT's work.
    yield* waitersRound(size, 100, durationMs)
    // Interleaved: 10, 100, 1,000, 10,000, 10, 100, ..., so drift in the machine hits every row alike.
    for (let r = 0; r < rounds; r++) {
      for (const fibers of fiberCounts) results.get(fibers)!.push(yield* waitersRound(size, fibers, durationMs))
    }
    const rows = fiberCounts.map((fibers) => {
      const rs = results.get(fibers)!
      return {
        size,
        fibers,
        opsPerSec: median(rs.map((r) => r.opsPerSec)),
        cpuUsPerOp: median(rs.map((r) => r.cpuUsPerOp)),
        opsPerFiber: spreadOf(rs.map((r) => r.opsPerFiber)),
        waiting: median(rs.map((r) => r.probed)),
        rounds: rs.map(({ latency: _, probed: __, ...r }) => r)
      }
    })
    const reference = rows.find((r) => r.fibers === 100) ?? rows[0]!
    return rows.map((r): Scale.WaitersRow => ({
      ...r,
      opsRatio: r.opsPerSec / reference.opsPerSec,
      cpuRatio: r.cpuUsPerOp / reference.cpuUsPerOp
    }))
  })

// ---- (b) health-check rounds ---------------------------------------------------

/** A validate that takes `ms` (Effect.sleep) and records when each call started and ended. */
const recordingValidate = (ms: number) => {
  const calls: Array<readonly [number, number]> = []
  const validate = () =>
    Effect.suspend(() => {
      const start = performance.now()
      return Effect.map(Effect.sleep(ms), () => {
        calls.push([start, performance.now()])
      })
    })
  return { calls, validate }
}

/**
 * Rounds of a pool of `size` idle resources, `gapMs` apart: calls more than
 * half a gap apart belong to different rounds; a round is complete when it
 * checked every resource. Returns the first `count` complete rounds' durations.
 */
const roundDurations = (size: number, count: number, validateMs: number, gapMs: number) =>
  Effect.scoped(Effect.gen(function*() {
    const { calls, validate } = recordingValidate(validateMs)
    yield* makePool(size, { validate, healthCheckSchedule: Schedule.spaced(gapMs) })
    const complete = (): Array<number> => {
      const durations: Array<number> = []
      let first = 0
      for (let i = 1; i <= calls.length; i++) {
        if (i === calls.length || calls[i]![0] - calls[i - 1]![1] > gapMs / 2) {
          if (i - first === size) durations.push(calls[i - 1]![1] - calls[first]![0])
          first = i
        }
      }
      // The last group may still be running: only rounds followed by another call, or a full one, count.
      return durations
    }
    const giveUp = Date.now() + (count + 1) * (gapMs + size * validateMs * 20) + 10_000
    while (complete().length < count) {
      if (Date.now() > giveUp) {
        return yield* Effect.dieMessage(`health checks of ${size}: ${complete().length} rounds of ${count} in time`)
      }
      yield* Effect.sleep(10)
    }
    return complete().slice(0, count)
  }))

/** 10 fibers looping `use`, every operation timed, with rounds back to back or none at all. */
const latencyRound = (size: number, withRounds: boolean, fibers: number, validateMs: number, durationMs: number) =>
  Effect.scoped(Effect.gen(function*() {
    const { calls, validate } = recordingValidate(validateMs)
    const pool = yield* makePool(size, {
      validate,
      healthCheckSchedule: withRounds ? Schedule.spaced(1) : Schedule.spaced("1 hour")
    })
    const before = calls.length
    const r = yield* loop({ fibers, durationMs, body: Effect.void, timed: timedUse(pool, turn) })
    const sorted = Float64Array.from(r.latency).sort()
    const us = (q: number) => quantile(sorted, q) * 1000
    return {
      opsPerSec: r.opsPerSec,
      cpuUsPerOp: r.cpuUsPerOp,
      p50: us(0.5),
      p99: us(0.99),
      max: us(1),
      checksPerSec: (calls.length - before) / (r.elapsedMs / 1000)
    }
  }))

const runHealth = (
  sizes: ReadonlyArray<number>,
  roundsPerSize: number,
  latencyRounds: number,
  durationMs: number
): Effect.Effect<Scale.HealthReport, unknown> =>
  Effect.gen(function*() {
    const validateMs = 1
    const gapMs = 200
    const fibers = 10
    const durations: Array<Omit<Scale.HealthRoundRow, "perConnectionRatio">> = []
    for (const size of sizes) {
      const ds = yield* roundDurations(size, roundsPerSize, validateMs, gapMs)
      const ms = median(ds)
      durations.push({ size, roundMs: ms, perConnectionMs: ms / size, rounds: ds })
    }
    const reference = durations[0]!
    const samples = new Map<string, Array<Scale.LatencyFigures>>()
    for (let r = 0; r < latencyRounds; r++) {
      for (const size of sizes) {
        for (const withRounds of [false, true]) {
          const key = `${size}/${withRounds}`
          samples.set(key, [
            ...(samples.get(key) ?? []),
            yield* latencyRound(size, withRounds, fibers, validateMs, durationMs)
          ])
        }
      }
    }
    const pick = (size: number, withRounds: boolean): Scale.LatencyFigures => {
      const rs = samples.get(`${size}/${withRounds}`)!
      const m = (f: (x: Scale.LatencyFigures) => number) => median(rs.map(f))
      return {
        opsPerSec: m((x) => x.opsPerSec),
        cpuUsPerOp: m((x) => x.cpuUsPerOp),
        p50: m((x) => x.p50),
        p99: m((x) => x.p99),
        max: m((x) => x.max),
        checksPerSec: m((x) => x.checksPerSec)
      }
    }
    return {
      validateMs,
      gapMs,
      fibers,
      rounds: durations.map((d) => ({ ...d, perConnectionRatio: d.perConnectionMs / reference.perConnectionMs })),
      latency: sizes.map((size) => ({ size, idle: pick(size, false), checking: pick(size, true) }))
    }
  })

// ---- (c) stats and events subscribers -------------------------------------------

const subscriberRound = (
  variant: Scale.SubscriberVariant,
  size: number,
  fibers: number,
  subscribers: number,
  durationMs: number
) =>
  Effect.scoped(Effect.gen(function*() {
    const pool = yield* makePool(size, variant === "changes.fast" ? { statsInterval: "10 millis" } : {})
    const window = { inWindow: false }
    let delivered = 0
    const count = Effect.sync(() => {
      if (window.inWindow) delivered++
    })
    if (variant !== "none") {
      const drain = variant === "events"
        ? Stream.runForEach(pool.events, () => count)
        : Stream.runForEach(pool.changes, () => count)
      for (let i = 0; i < subscribers; i++) yield* Effect.forkScoped(drain)
      // Let every subscriber subscribe before the round.
      yield* Effect.repeatN(Effect.yieldNow(), 3)
    }
    const r = yield* loop({ fibers, durationMs, body: pool.use(() => turn), window })
    return { ...r, probed: delivered / (r.elapsedMs / 1000) }
  }))

const runSubscribers = (
  size: number,
  fibers: number,
  subscribers: number,
  variants: ReadonlyArray<Scale.SubscriberVariant>,
  rounds: number,
  durationMs: number
): Effect.Effect<ReadonlyArray<Scale.SubscriberRow>, unknown> =>
  Effect.gen(function*() {
    const results = new Map<Scale.SubscriberVariant, Array<LoopResult>>(variants.map((v) => [v, []]))
    for (let r = 0; r < rounds; r++) {
      for (const v of variants) results.get(v)!.push(yield* subscriberRound(v, size, fibers, subscribers, durationMs))
    }
    const rows = variants.map((variant) => {
      const rs = results.get(variant)!
      return {
        variant,
        size,
        fibers,
        subscribers: variant === "none" ? 0 : subscribers,
        opsPerSec: median(rs.map((r) => r.opsPerSec)),
        cpuUsPerOp: median(rs.map((r) => r.cpuUsPerOp)),
        deliveriesPerSec: median(rs.map((r) => r.probed)),
        rounds: rs.map(({ latency: _, probed: __, ...r }) => r)
      }
    })
    const reference = rows.find((r) => r.variant === "none") ?? rows[0]!
    return rows.map((r): Scale.SubscriberRow => ({
      ...r,
      opsRatio: r.opsPerSec / reference.opsPerSec,
      cpuRatio: r.cpuUsPerOp / reference.cpuUsPerOp
    }))
  })

export const run = (options: Scale.Options): Effect.Effect<Scale.Report, unknown> =>
  Effect.gen(function*() {
    const quick = options.quick ?? false
    const durationMs = options.durationMs ?? (quick ? 200 : 1000)
    // Quick mode runs one round of each (after a discarded one for the acquire cost): a check that the code runs.
    const rounds = options.rounds ?? (quick ? 1 : 5)
    const log = options.log ?? (() => {})
    const startedAt = Date.now()
    const parts = options.parts ?? ["waiters", "health", "subscribers"]
    // Long enough for the default statsInterval (1 s) to publish a few times within each round.
    const subscriberDurationMs = options.durationMs ?? (quick ? durationMs : 3000)
    const waiters = parts.includes("waiters")
      ? yield* runWaiters(
        10,
        options.waiterFibers ?? (quick ? quickWaiterFibers : fullWaiterFibers),
        rounds,
        durationMs
      )
      : []
    for (const w of waiters) log(waitersLine(w))
    const health = parts.includes("health")
      ? yield* runHealth(
        options.healthSizes ?? (quick ? quickHealthSizes : healthSizes),
        quick ? 1 : 3,
        rounds,
        durationMs
      )
      : undefined
    if (health !== undefined) { for (const l of healthLines(health)) log(l) }
    const subscribers = parts.includes("subscribers")
      ? yield* runSubscribers(10, 100, 100, subscriberVariants, rounds, subscriberDurationMs)
      : []
    for (const s of subscribers) log(subscriberLine(s))
    return {
      quick,
      durationMs,
      rounds,
      startedAt: new Date(startedAt).toISOString(),
      totalSeconds: (Date.now() - startedAt) / 1000,
      subscriberDurationMs,
      waiters,
      health,
      subscribers
    }
  })

// ---- formatting -------------------------------------------------------------------

const fmtInt = (n: number): string => Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "-"
const fmt2 = (n: number): string => Number.isFinite(n) ? n.toFixed(2) : "-"
const fmtUs = (n: number): string =>
  !Number.isFinite(n) ? "-" : n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(1)
const fmtRatio = (n: number): string => Number.isFinite(n) ? `${n.toFixed(2)} ×` : "-"
const fmtPct = (ratio: number): string =>
  Number.isFinite(ratio) ? `${ratio >= 1 ? "+" : "−"}${Math.abs((ratio - 1) * 100).toFixed(1)} %` : "-"

const waitersLine = (w: Scale.WaitersRow): string =>
  `scale ${w.size}/${w.fibers}: ${fmtInt(w.opsPerSec)} ops/s (${fmtRatio(w.opsRatio)}), ` +
  `${fmt2(w.cpuUsPerOp)} µs CPU per op (${fmtRatio(w.cpuRatio)}), ${fmtInt(w.waiting)} waiting, ops per fiber ` +
  `${w.opsPerFiber.min} / ${w.opsPerFiber.p50} / ${w.opsPerFiber.max}`

const healthLines = (h: Scale.HealthReport): ReadonlyArray<string> => [
  ...h.rounds.map((r) =>
    `health ${r.size}: round ${fmtInt(r.roundMs)} ms, ${fmt2(r.perConnectionMs)} ms per connection ` +
    `(${fmtRatio(r.perConnectionRatio)})`
  ),
  ...h.latency.map((l) =>
    `health ${l.size}, ${h.fibers} fibers: p99 ${fmtUs(l.idle.p99)} µs without rounds, ` +
    `${fmtUs(l.checking.p99)} µs with (${fmtInt(l.checking.checksPerSec)} checks/s)`
  )
]

const subscriberLine = (s: Scale.SubscriberRow): string =>
  `subscribers ${s.variant}: ${fmtInt(s.opsPerSec)} ops/s (${fmtPct(s.opsRatio)}), ` +
  `${fmt2(s.cpuUsPerOp)} µs CPU per op (${fmtPct(s.cpuRatio)}), ${fmtInt(s.deliveriesPerSec)} deliveries/s`

const rows = (header: ReadonlyArray<string>, body: ReadonlyArray<ReadonlyArray<string>>): string =>
  [
    `| ${header.join(" | ")} |`,
    `| ${header.map(() => "---:").join(" | ")} |`,
    ...body.map((r) => `| ${r.join(" | ")} |`)
  ].join("\n")

/** The largest distance from 1 of some ratios, as a fraction. */
const spreadFromOne = (ratios: ReadonlyArray<number>): number =>
  Math.max(...ratios.filter(Number.isFinite).map((r) => Math.abs(r - 1)))

export const verdicts = (report: Scale.Report): ReadonlyArray<string> => {
  const out: Array<string> = []
  if (report.waiters.length > 1) {
    const cpu = spreadFromOne(report.waiters.map((w) => w.cpuRatio))
    const ops = spreadFromOne(report.waiters.map((w) => w.opsRatio))
    const from = report.waiters[0]!.fibers
    const to = report.waiters[report.waiters.length - 1]!.fibers
    out.push(
      `Acquire cost from ${fmtInt(from)} to ${fmtInt(to)} fibers: CPU per operation within ` +
        `${(cpu * 100).toFixed(0)} % of the 100-fiber row, throughput within ${(ops * 100).toFixed(0)} %: ` +
        `bar (±${flatBand * 100} %) ${cpu <= flatBand ? "met" : "not met"} by CPU time, ` +
        `${ops <= flatBand ? "met" : "not met"} by throughput.`
    )
  }
  if (report.health !== undefined && report.health.rounds.length > 1) {
    const h = report.health
    const last = h.rounds[h.rounds.length - 1]!
    const worst = h.latency.reduce((a, l) => Math.max(a, l.checking.p99 / l.idle.p99), 0)
    out.push(
      `Health-check round: ${fmt2(last.perConnectionMs)} ms per connection at ${fmtInt(last.size)}, ` +
        `${fmtRatio(last.perConnectionRatio)} the figure at ${fmtInt(h.rounds[0]!.size)}: ` +
        `${last.perConnectionRatio <= 1 + linearBand ? "linear or better" : "worse than linear"}. ` +
        `p99 acquire latency during rounds at most ${fmtRatio(worst)} the p99 without ` +
        `(a round holds one connection at a time for its ${h.validateMs} ms check).`
    )
  }
  const changes = report.subscribers.find((s) => s.variant === "changes")
  if (changes !== undefined) {
    const cost = 1 - changes.opsRatio
    const cpuCost = changes.cpuRatio - 1
    out.push(
      `100 subscribers to \`changes\`: throughput ${fmtPct(changes.opsRatio)}, CPU per operation ` +
        `${fmtPct(changes.cpuRatio)}: bar (≤ ${subscriberBudget * 100} %) ` +
        `${cost <= subscriberBudget ? "met" : "not met"} by throughput, ` +
        `${cpuCost <= subscriberBudget ? "met" : "not met"} by CPU time.`
    )
  }
  return out
}

export const tables = (report: Scale.Report): string => {
  const parts: Array<string> = []
  if (report.waiters.length > 0) {
    parts.push(
      "Acquire + release (`use`) on a pool of 10 against the number of fibers looping on it, each holding its",
      "connection across one `Effect.yieldNow()` so that the others queue in the pool (with an empty body a",
      "fiber never suspends, and the others wait in the Effect scheduler's run queue instead). The fibers share",
      "one run queue (Effect's default keeps one per fiber, and runs a fiber that never waits alone for 2,049",
      "yields at a time); waiting: the pool's `waitingRequests`, sampled every 256 operations, median:",
      "",
      rows(
        [
          "pool",
          "fibers",
          "ops/s",
          "/ 100-fiber row",
          "CPU µs per op",
          "/ 100-fiber row",
          "waiting",
          "ops per fiber: fewest / median / most"
        ],
        report.waiters.map((w) => [
          String(w.size),
          fmtInt(w.fibers),
          fmtInt(w.opsPerSec),
          fmtRatio(w.opsRatio),
          fmt2(w.cpuUsPerOp),
          fmtRatio(w.cpuRatio),
          fmtInt(w.waiting),
          `${fmtInt(w.opsPerFiber.min)} / ${fmtInt(w.opsPerFiber.p50)} / ${fmtInt(w.opsPerFiber.max)}`
        ])
      ),
      ""
    )
  }
  const h = report.health
  if (h !== undefined) {
    parts.push(
      `Health-check rounds of idle pools, each check ${h.validateMs} ms (\`Effect.sleep\`), rounds ${h.gapMs} ms ` +
        "apart; duration from the first check's start to the last one's end:",
      "",
      rows(
        ["pool", "round (ms)", "per connection (ms)", "/ smallest pool's"],
        h.rounds.map((
          r
        ) => [fmtInt(r.size), fmtInt(r.roundMs), fmt2(r.perConnectionMs), fmtRatio(r.perConnectionRatio)])
      ),
      "",
      `Acquire latency of ${h.fibers} fibers looping \`use\` (each holding its connection for one turn of the ` +
        "event loop, `setImmediate`, as a query would), every acquisition timed (asking to having), without " +
        "health checks and with rounds back to back (1 ms apart):",
      "",
      rows(
        [
          "pool",
          "ops/s without / with",
          "p50 µs without / with",
          "p99 µs without / with",
          "max µs without / with",
          "checks/s during the window"
        ],
        h.latency.map((l) => [
          fmtInt(l.size),
          `${fmtInt(l.idle.opsPerSec)} / ${fmtInt(l.checking.opsPerSec)}`,
          `${fmtUs(l.idle.p50)} / ${fmtUs(l.checking.p50)}`,
          `${fmtUs(l.idle.p99)} / ${fmtUs(l.checking.p99)}`,
          `${fmtUs(l.idle.max)} / ${fmtUs(l.checking.max)}`,
          fmtInt(l.checking.checksPerSec)
        ])
      ),
      ""
    )
  }
  if (report.subscribers.length > 0) {
    const s0 = report.subscribers[0]!
    parts.push(
      `\`use\` at ${s0.size}/${s0.fibers} (pool / fibers), each holding its connection for one turn of the ` +
        "event loop (the stats are published on a timer, which a body that never leaves the Effect scheduler " +
        "would starve), with subscribers draining the pool's streams:",
      "",
      rows(
        ["subscribers", "ops/s", "vs none", "CPU µs per op", "vs none", "deliveries/s (all subscribers)"],
        report.subscribers.map((s) => [
          subscriberLabels[s.variant],
          fmtInt(s.opsPerSec),
          fmtPct(s.opsRatio),
          fmt2(s.cpuUsPerOp),
          fmtPct(s.cpuRatio),
          fmtInt(s.deliveriesPerSec)
        ])
      ),
      ""
    )
  }
  if (report.quick) {
    parts.push("Quick mode: one short round of each; the verdicts say little.")
  }
  parts.push(...verdicts(report).map((v) => `- ${v}`))
  return parts.join("\n")
}

export const markdown = (report: Scale.Report): string =>
  [
    "## Scale (bar 5)",
    "",
    "dbpool's `ResourcePool` over dummy resources (no I/O), under the real clock. In each round nothing counts",
    "until every fiber has finished one operation and a quarter of a round has passed; then the operations",
    `of the next ${report.durationMs} ms (${report.subscriberDurationMs} ms for the subscribers) count, and the`,
    "process's CPU time (`process.cpuUsage`, user + system) over the same window gives CPU µs per operation,",
    "which a shared machine disturbs less than ops/s. Rounds end on a deadline read with `Date.now()` in the",
    "fibers' loops, not on a timer. Rows run interleaved, round by round, after a discarded warm-up round;",
    `figures are medians of ${report.rounds} round${report.rounds === 1 ? "" : "s"} (health-check round ` +
    `durations: of ${report.quick ? 1 : 3}).`,
    "",
    tables(report),
    ""
  ].join("\n")
