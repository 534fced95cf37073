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

const ratio = (c: Overhead.CaseResult, id: Overhead.ContenderId): number => {
  const a = find(c, id)
  const b = find(c, "effect.PoolTTL")
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

export const throughputTable = (report: Overhead.Report): string => {
  const cs = ids(report)
  // The bar's ratio: dbpool against the same class of pool (min, max, TTL).
  const withRatios = cs.includes("effect.PoolTTL")
  const ratioIds = cs.filter((id) => id === "dbpool.use" || id === "dbpool.use.observed" || id === "dbpool.get")
  return rows(
    [
      "size",
      "fibers",
      ...cs.map((id) => `${labels[id]} ops/s`),
      ...(withRatios ? ratioIds.map((id) => `${labels[id]} / effect Pool TTL`) : [])
    ],
    report.cases.map((c) => [
      String(c.size),
      c.fibers.toLocaleString("en-US"),
      ...cs.map((id) => fmtOps(find(c, id)?.opsPerSec ?? Number.NaN)),
      ...(withRatios ? ratioIds.map((id) => fmtRatio(ratio(c, id))) : [])
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
  const c = report.cases.find((x) => x.size === 100 && x.fibers === 1000) ??
    report.cases.reduce<Overhead.CaseResult | undefined>(
      (best, x) => best === undefined || x.fibers / x.size > best.fibers / best.size ? x : best,
      undefined
    )
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

export const caseLine = (c: Overhead.CaseResult): string =>
  `${String(c.size).padStart(3)}/${String(c.fibers).padEnd(4)} ` +
  c.contenders.map((x) => `${labels[x.id]} ${fmtOps(x.opsPerSec)}/s p99 ${fmtUs(x.p99)}µs`).join(" · ")

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
    "the first fibers find idle resources and loop before the others even ask). dbpool pools have",
    "`minConnections = maxConnections = size`, stats and events on as by default (no subscriber).",
    "",
    "- dbpool use: `pool.use(() => Effect.void)`; dbpool scoped(get): `Effect.scoped(pool.get)`",
    "- dbpool use, observed: the same `use` while one fiber drains `pool.events` and another `pool.changes`",
    "  (statsInterval at its default, 1 s) for the whole round: the bar's \"stats and events on\"",
    "- effect Pool: `Pool.make({ acquire, size })`, effect Pool TTL: `Pool.makeWithTTL({ min: size, max: size,",
    "  timeToLive: \"1 hour\" })`, both `Effect.scoped(pool.get)`",
    "- effect Semaphore: `Effect.makeSemaphore(size)` then `withPermits(1)(Effect.void)`: the floor of an",
    "  Effect-based pool; bare Effect loop: the same fiber loop around `Effect.void`, no pool",
    "- promise pool (a hand-written stack of idle items and FIFO of resolvers), generic-pool, tarn, pg-pool",
    "  (over a fake `Client` that opens no socket): async functions instead of fibers, each",
    "  `release(await acquire())`",
    "- ratios: dbpool (use, use observed, scoped(get)) / effect Pool TTL, the bar's ratio (the same class of",
    "  pool: min, max, TTL); bar 1 asks ≥ 4 × with stats and events on, i.e. for \"dbpool use, observed\"",
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
    "### Throughput (ops/s, higher is better)",
    "",
    throughputTable(report),
    "",
    "### p99 acquire latency (µs, lower is better)",
    "",
    latencyTable(report),
    "",
    "### Fairness",
    "",
    fairnessTable(report),
    "",
    report.leaks.length === 0
      ? "No leak: after every round, every resource was closed and every lease or permit returned."
      : `Leaks found:\n\n${report.leaks.map((l) => `- ${l}`).join("\n")}`,
    "",
    "Raw figures (every round): docs/benchmarks.json.",
    ""
  ].join("\n")
