/**
 * Adaptive sizing and warming against PostgreSQL: one short load curve of real `pg_sleep` queries
 * (seeded Poisson arrivals, in real time) through dbpool's PgPool, adaptive against fixed sizes; and
 * the first request after an idle period, with and without warming.
 */
import * as PoolSizing from "@dbpool/core/PoolSizing"
import * as PgPool from "@dbpool/pg/PgPool"
import * as Pool from "@dbpool/sql/Pool"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import type * as Sizing from "../Sizing.js"
import { applicationName, servers } from "./servers.js"

export const contenders: ReadonlyArray<Sizing.ContenderId> = [
  "adaptive",
  "adaptive + spare(4)",
  "fixed max",
  "fixed min"
]

const maxConnections = 20
const minConnections = 2
/** The controller's clock, scaled to a curve of seconds: a decision every 250 ms, idle retirement after 2 s. */
const adaptive = (warming: ReadonlyArray<PoolSizing.Warming>) =>
  PoolSizing.adaptive({ interval: "250 millis", retireAfter: "2 seconds", warming })

const configOf = (id: Sizing.ContenderId, min: number) => {
  switch (id) {
    case "adaptive":
      return { minConnections: min, maxConnections, sizing: adaptive([]) }
    case "adaptive + spare(4)":
      return { minConnections: min, maxConnections, sizing: adaptive([PoolSizing.spare(4)]) }
    case "fixed max":
      return { minConnections: maxConnections, maxConnections }
    case "fixed min":
      return { minConnections: min, maxConnections: Math.max(min, 1) }
  }
}

const poolOf = (id: Sizing.ContenderId, min: number) =>
  Effect.map(
    Layer.build(PgPool.layer({
      host: servers.pg.host,
      port: servers.pg.port,
      username: servers.pg.user,
      database: servers.pg.database,
      applicationName,
      pool: { ...configOf(id, min), name: `bench-sizing`, acquireTimeout: "5 seconds" }
    })),
    (context) => Context.get(context, Pool.Pool)
  )

/** mulberry32: the same seed, the same arrivals. */
const random = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Requests per second at `x` (0 to 1) of the curve: low, a ramp, a plateau, low again. */
const rate = (x: number, low: number, high: number) =>
  x < 0.25 ? low : x < 0.5 ? low + ((x - 0.25) / 0.25) * (high - low) : x < 0.75 ? high : low

/** Arrival times (ms from the start), Poisson by thinning. */
export const arrivals = (seconds: number, low: number, high: number, seed: number): Array<number> => {
  const next = random(seed)
  const out: Array<number> = []
  let t = 0
  while (true) {
    t += (-Math.log(1 - next()) / high) * 1000
    if (t >= seconds * 1000) return out
    if (next() * high < rate(t / 1000 / seconds, low, high)) out.push(t)
  }
}

const percentile = (values: ReadonlyArray<number>, p: number): number => {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!
}

/** One contender over the curve: every request runs `SELECT pg_sleep(hold)` on a connection of its own. */
const runCurve = (
  id: Sizing.ContenderId,
  times: ReadonlyArray<number>,
  options: { readonly seconds: number; readonly holdMs: number }
): Effect.Effect<Sizing.CurveResult, unknown> =>
  Effect.scoped(Effect.gen(function*() {
    const pool = yield* poolOf(id, minConnections)
    const waits: Array<number> = []
    const rampWaits: Array<number> = []
    let errors = 0
    let area = 0
    const start = performance.now()
    const sampler = yield* Effect.fork(Effect.forever(Effect.gen(function*() {
      const before = performance.now()
      const open = (yield* pool.stats).totalConnections
      yield* Effect.sleep("50 millis")
      area += open * (performance.now() - before)
    })))
    const seconds = options.holdMs / 1000
    const fibers: Array<Fiber.RuntimeFiber<unknown>> = []
    for (const at of times) {
      const delay = start + at - performance.now()
      if (delay > 0) yield* Effect.sleep(delay)
      const asked = performance.now()
      const inRamp = at >= options.seconds * 250 && at < options.seconds * 500
      fibers.push(
        yield* Effect.fork(
          pool.withConnection((conn) => {
            const wait = performance.now() - asked
            waits.push(wait)
            if (inRamp) rampWaits.push(wait)
            return conn.sql`SELECT pg_sleep(${seconds})`
          }).pipe(Effect.catchAll(() => Effect.sync(() => errors++)))
        )
      )
    }
    yield* Fiber.joinAll(fibers)
    yield* Fiber.interrupt(sampler)
    return {
      id,
      requests: times.length,
      connectionSeconds: area / 1000,
      p99: percentile(waits, 99),
      rampP99: percentile(rampWaits, 99),
      errors
    }
  }))

/** The first request after `idleMs` idle (min 0, so every connection has been retired), asked to served. */
const runFirst = (id: Sizing.ContenderId, idleMs: number): Effect.Effect<number, unknown> =>
  Effect.scoped(Effect.gen(function*() {
    const pool = yield* poolOf(id, 0)
    yield* Effect.forEach(Array.from({ length: 8 }), () => pool.withConnection((c) => c.sql`SELECT pg_sleep(0.05)`), {
      concurrency: "unbounded"
    })
    yield* Effect.sleep(idleMs)
    const asked = performance.now()
    yield* pool.withConnection((c) => c.sql`SELECT 1`)
    return performance.now() - asked
  }))

export const run = (options: Sizing.Options): Effect.Effect<Sizing.Report, unknown> =>
  Effect.gen(function*() {
    const began = performance.now()
    const seconds = options.seconds ?? 20
    const holdMs = 50
    const [low, high] = [10, 150]
    const times = arrivals(seconds, low, high, 14)
    const curve: Array<Sizing.CurveResult> = []
    for (const id of contenders) {
      options.log?.(`sizing: ${id} over ${seconds} s (${times.length} requests)`)
      curve.push(yield* runCurve(id, times, { seconds, holdMs }))
    }
    const idleMs = options.idleMs ?? 5000
    const first: Array<{ readonly id: Sizing.ContenderId; readonly ms: number }> = []
    for (const id of ["adaptive", "adaptive + spare(4)"] as const) {
      first.push({ id, ms: yield* runFirst(id, idleMs) })
    }
    return { seconds, holdMs, low, high, idleMs, curve, first, totalSeconds: (performance.now() - began) / 1000 }
  })

const ms = (x: number) => x.toFixed(1)

export const table = (report: Sizing.Report): string => {
  const fixedMax = report.curve.find((r) => r.id === "fixed max")
  return [
    "| pool | connection-seconds | of fixed max | p99 wait (ms) | p99 wait during the ramp (ms) | failed |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...report.curve.map((r) =>
      `| ${r.id} | ${r.connectionSeconds.toFixed(1)} | ${
        fixedMax === undefined ? "-" : `${Math.round((100 * r.connectionSeconds) / fixedMax.connectionSeconds)} %`
      } | ${ms(r.p99)} | ${ms(r.rampP99)} | ${r.errors} |`
    ),
    "",
    `| pool (min 0) | first request after ${report.idleMs / 1000} s idle (ms) |`,
    "| --- | ---: |",
    ...report.first.map((f) => `| ${f.id} | ${ms(f.ms)} |`)
  ].join("\n")
}

export const markdown = (report: Sizing.Report): string =>
  [
    "## Adaptive sizing on PostgreSQL: a load curve, and the first request after idle",
    "",
    `One load curve of ${report.seconds} s in real time: Poisson arrivals (fixed seed) at ${report.low} requests/s for a`,
    `quarter, a ramp to ${report.high}/s over a quarter, ${report.high}/s for a quarter, ${report.low}/s again; each request`,
    `runs \`SELECT pg_sleep(${report.holdMs / 1000})\` on a connection of its own through dbpool's PgPool (max`,
    `${maxConnections}, \`acquireTimeout\` 5 s). *adaptive*: min ${minConnections}, \`PoolSizing.adaptive\` with its clock`,
    "scaled to a curve of seconds (`interval` 250 ms, `retireAfter` 2 s), other options by default; *+ spare(4)*: the",
    `same with \`PoolSizing.spare(4)\`; *fixed max*: ${maxConnections} open; *fixed min*: ${minConnections} open, never more.`,
    "Connection-seconds: the pool's open connections sampled every 50 ms; wait: asking to having the",
    "connection. Then, for min 0, the first request (`SELECT 1`, asking to result) after the pool served 8 at",
    `once and then stood idle ${report.idleMs / 1000} s. One run, on a shared machine.`,
    "",
    table(report),
    ""
  ].join("\n")
