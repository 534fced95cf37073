/**
 * Tables of a run: for the terminal and for docs/benchmarks.md.
 */
import type * as Overhead from "../Overhead.js"
import * as Compiled from "./compiled.js"
import { labels } from "./overhead.js"

const fmtOps = (n: number): string => Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "-"

const fmtUs = (n: number): string =>
  !Number.isFinite(n) ? "-" : n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(1)

const fmtRatio = (n: number): string => Number.isFinite(n) ? `${n.toFixed(2)} ×` : "-"

const find = (c: Overhead.CaseResult, id: Overhead.ContenderId) => c.contenders.find((x) => x.id === id)

const ratio = (c: Overhead.CaseResult, id: Overhead.ContenderId, reference: Overhead.ContenderId): number => {
  const a = find(c, id)
  const b = find(c, reference)
  return a === undefined || b === undefined ? Number.NaN : a.opsPerSec / b.opsPerSec
}

const ids = (report: Overhead.Report): ReadonlyArray<Overhead.ContenderId> =>
  report.cases[0]?.contenders.map((c) => c.id) ?? []

const rows = (header: ReadonlyArray<string>, body: ReadonlyArray<ReadonlyArray<string>>): string => {
  const all = [header, ...body]
  return [
    `| ${header.join(" | ")} |`,
    `| ${header.map((_, i) => i < 2 ? "---:" : "---:").join(" | ")} |`,
    ...all.slice(1).map((r) => `| ${r.join(" | ")} |`)
  ].join("\n")
}

/** Each contender's ops/s with its CPU time per operation beside it. */
export const throughputTable = (report: Overhead.Report): string => {
  const cs = ids(report)
  return rows(
    ["size", "fibers", ...cs.map((id) => `${labels[id]} ops/s (CPU µs/op)`)],
    report.cases.map((c) => [
      String(c.size),
      c.fibers.toLocaleString("en-US"),
      ...cs.map((id) => {
        const x = find(c, id)
        return x === undefined ? "-" : `${fmtOps(x.opsPerSec)} (${fmtUs(x.cpuUsPerOp)})`
      })
    ])
  )
}

/** The pools dbpool is measured against: the fair ones first, effect's Pool TTL (which barges) last. */
export const references: ReadonlyArray<Overhead.ContenderId> = ["tarn", "effect.fair", "effect.PoolTTL"]

/** dbpool's throughput against each reference, in the same run. */
export const ratioTable = (report: Overhead.Report): string => {
  const cs = ids(report)
  const subjects = cs.filter((id) => id === "dbpool.use" || id === "dbpool.use.observed" || id === "dbpool.get")
  const refs = references.filter((id) => cs.includes(id))
  if (subjects.length === 0 || refs.length === 0) return ""
  return rows(
    ["size", "fibers", ...subjects.flatMap((id) => refs.map((ref) => `${labels[id]} / ${labels[ref]}`))],
    report.cases.map((c) => [
      String(c.size),
      c.fibers.toLocaleString("en-US"),
      ...subjects.flatMap((id) => refs.map((ref) => fmtRatio(ratio(c, id, ref))))
    ])
  )
}

export const latencyTable = (report: Overhead.Report): string => {
  const cs = ids(report)
  return rows(
    ["size", "fibers", ...cs.map((id) => `${labels[id]} p99 µs`)],
    report.cases.map((c) => [
      String(c.size),
      c.fibers.toLocaleString("en-US"),
      ...cs.map((id) => fmtUs(find(c, id)?.p99 ?? Number.NaN))
    ])
  )
}

/** Wait from asking to having at the most contended case: p50, p99, p99.9, max. */
export const fairnessTable = (report: Overhead.Report): string => {
  const c = fairnessCase(report)
  if (c === undefined) return ""
  return [
    `Acquire wait at ${c.size}/${c.fibers.toLocaleString("en-US")} (pool size / fibers), µs, over the sampled ` +
    "operations; and how many operations each fiber completed in each round. Percentiles per operation favour an " +
    "unfair pool (the fibers that barge in do most of the operations, each with a short wait); the spread of " +
    "operations per fiber shows who starved." +
    (report.quick
      ? " Quick mode: a round is too short for a long queue to turn over, so these figures say little here."
      : ""),
    "",
    rows(
      ["contender", "samples/round", "p50", "p99", "p99.9", "max", "ops per fiber: fewest / median / most"],
      c.contenders.map((x) => [
        labels[x.id],
        fmtOps(x.rounds.reduce((n, r) => n + r.samples, 0) / Math.max(1, x.rounds.length)),
        fmtUs(x.p50),
        fmtUs(x.p99),
        fmtUs(x.p999),
        fmtUs(x.max),
        x.rounds.map((r) => `${r.opsPerFiber.min} / ${r.opsPerFiber.p50} / ${r.opsPerFiber.max}`).join(", ")
      ])
    )
  ].join("\n")
}

/** How each contender passes a released resource on. */
const handOff: Record<Overhead.ContenderId, string> = {
  "dbpool.use": "a release hands the connection to the oldest waiter (FIFO)",
  "dbpool.use.observed": "a release hands the connection to the oldest waiter (FIFO)",
  "dbpool.use.dashboard": "a release hands the connection to the oldest waiter (FIFO)",
  "dbpool.get": "a release hands the connection to the oldest waiter (FIFO)",
  "effect.Pool": "a release puts the item back in the pool's queue and wakes a waiter, but the releasing fiber, " +
    "still running (its body never suspends), asks again and takes the item before the woken waiter runs",
  "effect.PoolTTL": "as effect Pool: the releasing fiber takes the item back before the woken waiter runs",
  "effect.fair": "a release hands the item to the oldest waiter (FIFO)",
  "effect.Semaphore": "a release returns the permit to the count and wakes a waiter; the releasing fiber, still " +
    "running, takes the permit again before the woken waiter runs",
  "effect.bare": "no pool",
  "promise.pool": "a release resolves the oldest waiter's promise with the item (FIFO); the releasing function's " +
    "next acquire finds nothing idle and queues behind",
  "generic-pool": "a release dispatches the item to the oldest queued request",
  "pg-pool": "a release hands the client to the oldest queued request",
  "tarn": "a release hands the resource to the oldest pending acquire"
}

/** Fewest and most operations per fiber over the rounds: a fiber that did less than half the most active one's share. */
const barges = (x: Overhead.ContenderResult): boolean => x.rounds.some((r) => r.opsPerFiber.min < r.opsPerFiber.max / 2)

/** The case with the most fibers per resource (the fairness table's). */
const fairnessCase = (report: Overhead.Report): Overhead.CaseResult | undefined =>
  report.cases.find((x) => x.size === 100 && x.fibers === 1000) ??
    report.cases.reduce<Overhead.CaseResult | undefined>(
      (best, x) => best === undefined || x.fibers / x.size > best.fibers / best.size ? x : best,
      undefined
    )

/**
 * Which contenders barge (a releasing fiber or a newcomer takes a resource
 * ahead of older waiters), judged from this run's operations per fiber, and
 * what that does to their figures.
 */
export const bargingNotes = (report: Overhead.Report): string => {
  const c = fairnessCase(report)
  if (c === undefined || c.fibers <= c.size) return ""
  const evenness = (r: Overhead.Round) => r.opsPerFiber.max === 0 ? 1 : r.opsPerFiber.min / r.opsPerFiber.max
  const spread = (x: Overhead.ContenderResult) => {
    const r = x.rounds.reduce((a, b) => evenness(b) < evenness(a) ? b : a)
    return `${fmtOps(r.opsPerFiber.min)} / ${fmtOps(r.opsPerFiber.p50)} / ${fmtOps(r.opsPerFiber.max)}`
  }
  const lines = c.contenders.filter((x) => x.id !== "effect.bare").map((x) =>
    `- ${labels[x.id]}: ${barges(x) ? "**barges**" : "fair"} (fewest / median / most operations per fiber, ` +
    `most uneven round: ${spread(x)}): ${handOff[x.id]}.`
  )
  const barging = c.contenders.filter((x) => x.id !== "effect.bare" && barges(x)).map((x) => labels[x.id])
  return [
    `A pool barges when a fiber that releases a resource, or one that just arrived, can take it ahead of fibers ` +
    `already waiting. Judged from the operations each fiber completed at ${c.size}/${
      c.fibers.toLocaleString("en-US")
    } ` +
    `in this run (a contender barges if, in some round, a fiber did less than half the operations of the busiest):`,
    "",
    ...lines,
    "",
    barging.length === 0
      ? "No contender barged in this run."
      : `What barging does to the figures of ${barging.join(", ")}: with a body that never suspends, a fiber that ` +
        "holds the turn loops acquire + release without ever waiting, so no operation pays for a wake-up or a " +
        "switch to another fiber; their ops/s is the speed of a few fibers while the others starve (0 operations), " +
        "and their latency percentiles are those of the fibers that got in (a few µs), not of the starving ones. " +
        "That is not the work of a pool that serves its callers in turn: dbpool's ratios against the fair pools " +
        "(tarn, the fair Effect pool; generic-pool, pg-pool and the promise pool are fair too) compare like with " +
        "like, and its ratio against effect's Pool TTL compares a fair pool with one that lets a fiber keep the " +
        "resources (it depends on how often the body suspends, hence on the harness)."
  ].join("\n")
}

export const caseLine = (c: Overhead.CaseResult): string =>
  `${String(c.size).padStart(3)}/${String(c.fibers).padEnd(4)} ` +
  c.contenders.map((x) => `${labels[x.id]} ${fmtOps(x.opsPerSec)}/s ${fmtUs(x.cpuUsPerOp)}µs/op p99 ${fmtUs(x.p99)}µs`)
    .join(" · ")

export interface Machine {
  readonly nproc: number
  readonly cpu: string
  readonly node: string
  readonly platform: string
  readonly date: string
  /** `os.loadavg()` (1, 5, 15 minutes) when the run started and when it ended. */
  readonly loadBefore: ReadonlyArray<number>
  readonly loadAfter: ReadonlyArray<number>
}

export const markdown = (report: Overhead.Report, machine: Machine, command: string): string =>
  [
    "# Benchmarks",
    "",
    Compiled.note,
    "",
    "## Pool overhead: acquire + release, no I/O",
    "",
    "Each fiber loops acquire + release of a dummy resource (no I/O) for a fixed time, under the real clock",
    "(`Effect.runPromise`). Contenders run interleaved round by round (A B C ..., A B C ..., ...), each in a",
    "fresh pool filled before its round; every figure is the median over the rounds. In each round nothing",
    "counts until every fiber has finished one operation and a quarter of a round has passed (at the start",
    "the first fibers find idle resources and loop before the others even ask). The fibers of the Effect",
    "contenders start contended: every resource is lent out while they make their first ask, then all come",
    "back at once (started with idle resources, fibers whose body never suspends run turns of the scheduler's",
    "2,048 operations each on idle resources, a regime dbpool's pool left only after seconds). dbpool pools have",
    "`minConnections = maxConnections = size`, stats and events on as by default (no subscriber).",
    "",
    "- dbpool use: `pool.use(() => Effect.void)`; dbpool scoped(get): `Effect.scoped(pool.get)`",
    "- dbpool use, observed: the same `use` while one fiber drains `pool.events` and another `pool.changes`",
    "  (statsInterval at its default, 1 s) for the whole round: the bar's \"stats and events on\"",
    "- effect Pool: `Pool.make({ acquire, size })`, effect Pool TTL: `Pool.makeWithTTL({ min: size, max: size,",
    "  timeToLive: \"1 hour\" })`, both `Effect.scoped(pool.get)`",
    "- fair Effect pool: a minimal fair pool written with Effect in the benchmark (packages/bench,",
    "  internal/fairPool.ts): a stack of idle items, a FIFO of waiters, a release hands the item straight to",
    "  the oldest waiter; waiting is interruptible (`Effect.async` with a canceler); `use(() => Effect.void)`",
    "- effect Semaphore: `Effect.makeSemaphore(size)` then `withPermits(1)(Effect.void)`: the floor of an",
    "  Effect-based pool; bare Effect loop: the same fiber loop around `Effect.void`, no pool",
    "- promise pool (a hand-written stack of idle items and FIFO of resolvers), generic-pool, tarn, pg-pool",
    "  (over a fake `Client` that opens no socket): async functions instead of fibers, each",
    "  `release(await acquire())`",
    "- CPU µs/op: the process's CPU time (`process.cpuUsage`, user + system) over the counted window divided",
    "  by the operations counted in it; it includes the harness's own loop (see bare Effect loop)",
    "- ratios: dbpool (use, use observed, scoped(get)) against tarn and the fair Effect pool (fair pools, like",
    "  dbpool) and against effect Pool TTL (bar 1's ratio: the same class of pool, min, max, TTL, but it",
    "  barges: see \"Who barges\")",
    `- acquire latency: from asking to having, one operation in ${report.sampleEvery} timed with`,
    "  `performance.now()`; p99 per round, median over rounds",
    "",
    `Command: \`${command}\``,
    "",
    `Machine: ${machine.nproc} CPUs (\`nproc\`), ${machine.cpu}, Node ${machine.node}, ${machine.platform}.`,
    `Date: ${machine.date}. ${report.rounds} rounds of ${report.durationMs} ms per contender and case ` +
    `(plus a ${report.warmupMs} ms warm-up round per case, and ${report.globalWarmupMs} ms per contender at 10/1 ` +
    `and 10/100 before the first), ${Math.round(report.totalSeconds)} s in all.`,
    `Load average (1/5/15 min): ${machine.loadBefore.map((x) => x.toFixed(1)).join(" / ")} before, ` +
    `${machine.loadAfter.map((x) => x.toFixed(1)).join(" / ")} after` +
    (Math.max(...machine.loadBefore, ...machine.loadAfter) > machine.nproc * 0.75
      ? ": the machine was shared and busy, so absolute figures are noisy; compare within a row (the contenders" +
        " ran interleaved, so load drift hits them alike)."
      : "."),
    "",
    "### Throughput (ops/s, higher is better; CPU µs per operation beside it, lower is better)",
    "",
    throughputTable(report),
    "",
    "### dbpool against the other pools (ops/s ratios, same run)",
    "",
    ratioTable(report),
    "",
    "### p99 acquire latency (µs, lower is better)",
    "",
    latencyTable(report),
    "",
    "### Fairness",
    "",
    fairnessTable(report),
    "",
    "### Who barges",
    "",
    bargingNotes(report),
    "",
    report.leaks.length === 0
      ? "No leak: after every round, every resource was closed and every lease or permit returned."
      : `Leaks found:\n\n${report.leaks.map((l) => `- ${l}`).join("\n")}`,
    "",
    "Raw figures (every round): docs/benchmarks.json.",
    ""
  ].join("\n")
