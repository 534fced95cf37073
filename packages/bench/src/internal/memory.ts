/**
 * The memory benchmark (bar 4): heap retained per idle pooled connection
 * beyond the driver's own client, each figure from processes of their own
 * (see memoryChild.ts), raw and pooled interleaved, median of the processes.
 */
import * as Effect from "effect/Effect"
import * as Mysql from "mysql2/promise"
import { execFile } from "node:child_process"
import { createRequire } from "node:module"
import { fileURLToPath, pathToFileURL } from "node:url"
import * as Pg from "pg"
import type * as Memory from "../Memory.js"
import { conditionFlags } from "./compiled.js"
import type { ChildResult } from "./memoryChild.js"
import { median } from "./overhead.js"
import { reachable } from "./selectOne.js"
import { servers } from "./servers.js"

export const limitBytes = 2048

export const comparisons: ReadonlyArray<Memory.ComparisonId> = ["pg", "mysql", "core"]

export const scenarios: Record<
  Memory.ComparisonId,
  { readonly baseline: Memory.ScenarioId; readonly pool: Memory.ScenarioId }
> = {
  pg: { baseline: "pg.raw", pool: "pg.dbpool" },
  mysql: { baseline: "mysql.raw", pool: "mysql.dbpool" },
  core: { baseline: "core.array", pool: "core.pool" }
}

export const labels: Record<Memory.ComparisonId, { readonly baseline: string; readonly pool: string }> = {
  pg: { baseline: "raw pg.Client × N", pool: "dbpool PgPool, min = max = N" },
  mysql: { baseline: "raw mysql2 connection × N", pool: "dbpool MysqlPool, min = max = N" },
  core: { baseline: "array of N `{}`", pool: "ResourcePool of N `{}`, min = max = N" }
}

const childPath = fileURLToPath(new URL("./memoryChild.ts", import.meta.url))
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href

/**
 * Runs one child for one or more scenarios (one after the other in it);
 * fails with its last line of stderr (or the timeout) unless it prints a
 * result for each.
 */
const child = (
  scenarios: ReadonlyArray<Memory.ScenarioId>,
  count: number,
  pauseMs: number
): Effect.Effect<ReadonlyArray<ChildResult>, string> =>
  Effect.async<ReadonlyArray<ChildResult>, string>((resume) => {
    const proc = execFile(
      process.execPath,
      // The parent's export conditions: under `npm run bench` the children load dbpool compiled, as it does.
      [
        "--expose-gc",
        ...conditionFlags(),
        "--import",
        tsxLoader,
        childPath,
        scenarios.join(","),
        String(count),
        String(pauseMs)
      ],
      { timeout: 90_000 * scenarios.length, maxBuffer: 1 << 20 },
      (error, stdout, stderr) => {
        const lines = stdout.split("\n").filter((l) => l.startsWith("{"))
        if (error === null && lines.length === scenarios.length) {
          resume(Effect.succeed(lines.map((l) => JSON.parse(l) as ChildResult)))
        } else {
          const why = stderr.trim().split("\n").pop() || error?.message || "no result printed"
          resume(Effect.fail(`${scenarios.join(" then ")} × ${count}: ${why.slice(0, 200)}`))
        }
      }
    )
    return Effect.sync(() => proc.kill())
  })

/**
 * How many PostgreSQL connections to open: 100, unless the server's
 * max_connections (less its superuser-reserved slots and the connections
 * already open) has no room for them; then 90, or what is free less 5.
 */
const pgCount = (wanted: number): Effect.Effect<{ readonly count: number; readonly note: string | undefined }> =>
  Effect.tryPromise(async () => {
    const s = servers.pg
    const client = new Pg.Client({ host: s.host, port: s.port, user: s.user, database: s.database })
    await client.connect()
    try {
      const r = await client.query<{ max: string; reserved: string; used: string }>(
        "SELECT current_setting('max_connections') AS max, " +
          "current_setting('superuser_reserved_connections') AS reserved, " +
          "(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS used"
      )
      const row = r.rows[0]!
      return { max: Number(row.max), reserved: Number(row.reserved), used: Number(row.used) }
    } finally {
      await client.end()
    }
  }).pipe(
    Effect.map(({ max, reserved, used }) => {
      // `used` counts this check's own connection, closed before the children run.
      const free = max - reserved - (used - 1)
      if (free >= wanted) return { count: wanted, note: undefined }
      const count = Math.max(1, Math.min(90, free - 5))
      return {
        count,
        note: `PostgreSQL: ${count} connections, not ${wanted}: max_connections is ${max}, ` +
          `${reserved} reserved for superusers, ${used - 1} already open by others`
      }
    }),
    Effect.orElseSucceed(() => ({ count: Math.min(90, wanted), note: undefined }))
  )

/** The same for MariaDB/MySQL: @@max_connections less the threads connected. */
const mysqlCount = (wanted: number): Effect.Effect<{ readonly count: number; readonly note: string | undefined }> =>
  Effect.tryPromise(async () => {
    const s = servers.mysql
    const conn = await Mysql.createConnection({ host: s.host, port: s.port, user: s.user, database: s.database })
    try {
      const [rows] = await conn.query("SELECT @@max_connections AS max")
      const [status] = await conn.query("SHOW STATUS LIKE 'Threads_connected'")
      const max = Number((rows as Array<{ max: number }>)[0]!.max)
      const used = Number((status as Array<{ Value: string }>)[0]!.Value)
      return { max, used }
    } finally {
      await conn.end()
    }
  }).pipe(
    Effect.map(({ max, used }) => {
      const free = max - (used - 1)
      if (free >= wanted + 5) return { count: wanted, note: undefined }
      const count = Math.max(1, free - 5)
      return {
        count,
        note: `MySQL: ${count} connections, not ${wanted}: max_connections is ${max}, ${used - 1} already open`
      }
    }),
    Effect.orElseSucceed(() => ({ count: wanted, note: undefined }))
  )

const sampleOf = (r: ChildResult): Memory.Sample => ({
  heapBytes: r.after.heapUsed - r.before.heapUsed,
  externalBytes: r.after.external - r.before.external,
  openMs: r.openMs,
  phasesMs: r.phasesMs
})

const scenarioResult = (
  id: Memory.ScenarioId,
  count: number,
  samples: ReadonlyArray<Memory.Sample>
): Memory.ScenarioResult => ({
  id,
  count,
  samples,
  heapBytes: median(samples.map((s) => s.heapBytes)),
  externalBytes: median(samples.map((s) => s.externalBytes))
})

/** Medians of the pool's and the baseline's processes at one count. */
const pairAt = (
  id: Memory.ComparisonId,
  count: number,
  samples: ReadonlyMap<string, ReadonlyArray<Memory.Sample>>
): Memory.Pair => {
  const of = (scenario: Memory.ScenarioId) => scenarioResult(scenario, count, samples.get(`${scenario}/${count}`) ?? [])
  const baseline = of(scenarios[id].baseline)
  const pool = of(scenarios[id].pool)
  return { count, baseline, pool, overheadBytes: pool.heapBytes - baseline.heapBytes }
}

export const run = (options: Memory.Options): Effect.Effect<Memory.Report> =>
  Effect.gen(function*() {
    const quick = options.quick ?? false
    const repetitions = options.repetitions ?? (quick ? 1 : 3)
    const wanted = options.count ?? 100
    const small = options.smallCount ?? (quick ? 0 : 10)
    // Between two heap readings in a process: shorter in quick mode, where the processes' time is most of it.
    const pauseMs = quick ? 50 : 200
    const which = options.comparisons ?? comparisons
    const log = options.log ?? (() => {})
    const startedAt = Date.now()
    const skipped: Array<string> = []
    const notes: Array<string> = []
    const counts = new Map<Memory.ComparisonId, number>()
    for (const id of which) {
      if (id === "core") {
        counts.set(id, wanted)
        continue
      }
      const down = yield* reachable(id)
      if (down !== undefined) {
        skipped.push(`${down}: skipped`)
        log(`${down}: skipped`)
        continue
      }
      const { count, note } = yield* (id === "pg" ? pgCount(wanted) : mysqlCount(wanted))
      if (note !== undefined) {
        notes.push(note)
        log(note)
      }
      counts.set(id, count)
    }
    const samples = new Map<string, Array<Memory.Sample>>()
    const failures = new Map<Memory.ComparisonId, Array<string>>()
    /**
     * One lane per comparison, the lanes side by side (each process measures its own heap, so they do not
     * disturb each other's figures, and most of a process's time is spent waiting); within a lane, one
     * process at a time, the baseline then the pool, so that a server never holds both sets of connections.
     */
    const pair = (id: Memory.ComparisonId) => [scenarios[id].baseline, scenarios[id].pool]
    const lane = (id: Memory.ComparisonId, count: number) =>
      Effect.forEach(
        [count, ...(small > 0 && small < count ? [small] : [])].flatMap((n) =>
          // Quick mode: both scenarios in one process, to start half as many (each loads for seconds).
          (quick ? [pair(id)] : pair(id).map((s) => [s])).map((group) => [group, n] as const)
        ),
        ([group, n]) =>
          Effect.map(Effect.either(child(group, n, pauseMs)), (result) => {
            if (result._tag === "Right") {
              for (const r of result.right) {
                const key = `${r.scenario}/${n}`
                samples.set(key, [...(samples.get(key) ?? []), sampleOf(r)])
              }
            } else {
              failures.set(id, [...(failures.get(id) ?? []), result.left])
              log(`memory: ${result.left}`)
            }
          }),
        { discard: true }
      )
    for (let r = 0; r < repetitions; r++) {
      yield* Effect.forEach(counts, ([id, count]) => lane(id, count), { concurrency: "unbounded", discard: true })
    }
    const results = Array.from(counts, ([id, count]): Memory.ComparisonResult => {
      const full = pairAt(id, count, samples)
      const perConnection = full.overheadBytes / count
      const at = small > 0 && small < count ? pairAt(id, small, samples) : undefined
      const marginal = at === undefined ? Number.NaN : (full.overheadBytes - at.overheadBytes) / (count - small)
      const result: Memory.ComparisonResult = {
        id,
        count,
        baseline: full.baseline,
        pool: full.pool,
        perConnectionBytes: perConnection,
        verdict: !Number.isFinite(perConnection) ? "not measured" : perConnection <= limitBytes ? "met" : "not met",
        small: at,
        marginalBytes: marginal,
        fixedBytes: at === undefined ? Number.NaN : at.overheadBytes - small * marginal,
        failures: failures.get(id) ?? []
      }
      log(line(result))
      return result
    })
    return {
      quick,
      repetitions,
      limitBytes,
      startedAt: new Date(startedAt).toISOString(),
      totalSeconds: (Date.now() - startedAt) / 1000,
      comparisons: results,
      skipped,
      notes
    }
  })

const fmtBytes = (n: number): string => Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "-"

export const line = (c: Memory.ComparisonResult): string =>
  `memory ${c.id} × ${c.count}: ${labels[c.id].baseline} ${fmtBytes(c.baseline.heapBytes / c.count)} B each, ` +
  `${labels[c.id].pool} ${fmtBytes(c.pool.heapBytes / c.count)} B each: ` +
  `dbpool's own ${fmtBytes(c.perConnectionBytes)} B per connection (${c.verdict})` +
  (c.small === undefined
    ? ""
    : `; from ${c.small.count} to ${c.count}: ${fmtBytes(c.marginalBytes)} B per connection more, ` +
      `${fmtBytes(c.fixedBytes)} B per pool`) +
  (c.failures.length > 0 ? ` (failed: ${c.failures.join("; ")})` : "")

export const table = (report: Memory.Report): string => {
  const split = report.comparisons.some((c) => c.small !== undefined)
  const header = [
    "what",
    "N",
    "without dbpool: heap per connection (B)",
    "with dbpool: heap per connection (B)",
    "dbpool's own per connection (B)",
    `bar ≤ ${report.limitBytes.toLocaleString("en-US")} B`,
    ...(split ? ["of which: each connection more (B)", "the pool itself (B)"] : []),
    "external (Buffers) per connection, without / with (B)"
  ]
  const body = report.comparisons.map((c) => [
    `${c.id}: ${labels[c.id].pool} vs ${labels[c.id].baseline}`,
    String(c.count),
    fmtBytes(c.baseline.heapBytes / c.count),
    fmtBytes(c.pool.heapBytes / c.count),
    fmtBytes(c.perConnectionBytes),
    c.verdict,
    ...(split ? [fmtBytes(c.marginalBytes), fmtBytes(c.fixedBytes)] : []),
    `${fmtBytes(c.baseline.externalBytes / c.count)} / ${fmtBytes(c.pool.externalBytes / c.count)}`
  ])
  return [
    `| ${header.join(" | ")} |`,
    `| ${header.map(() => "---:").join(" | ")} |`,
    ...body.map((r) => `| ${r.join(" | ")} |`),
    "",
    ...report.notes.map((n) => `- ${n}`),
    ...report.skipped.map((s) => `- ${s}`),
    ...report.comparisons.flatMap((c) => c.failures.map((f) => `- ${c.id}: ${f}`))
  ].join("\n")
}

export const markdown = (report: Memory.Report): string => {
  const small = report.comparisons.find((c) => c.small !== undefined)?.small?.count
  return [
    "## Memory: heap per idle pooled connection (bar 4)",
    "",
    "Each figure comes from a process of its own (`node --expose-gc`, dbpool compiled, the rest through tsx) that loads",
    "only what it measures and warms up (opens and closes the same N connections, so that lazily loaded",
    "modules and the code V8 compiles for the hot functions are not counted as the connections' memory);",
    `then it takes the heap (\`heapUsed\`) after repeated \`global.gc()\` (repeated, ${
      report.quick ? 50 : 200
    } ms apart, until two`,
    "readings agree within 4 KB) as its baseline, opens N connections, waits until all are idle and takes",
    "the heap the same way. Without dbpool: N clients connected with the options dbpool passes (plus an",
    "`error` listener, as any careful user adds). With dbpool: its SQL pool, `minConnections =",
    "maxConnections = N`, every connection idle. Core: a `ResourcePool` of N `{}` against an array of N `{}`.",
    "dbpool's own cost per connection, the bar's figure, is (heap with dbpool − heap without) / N: the pool's",
    "fixed cost (its fibers, queues, the events hub) is spread over the N connections." +
    (small === undefined
      ? ""
      : ` Measured at ${small} connections too, it splits into what each connection adds (the slope from ` +
        `${small} to N) and what the pool costs whatever its size.`),
    `Median of ${report.repetitions} process${report.repetitions === 1 ? "" : "es"} per figure` +
    (report.quick
      ? " (quick mode: the raw and pooled figures of a comparison in one process, one after the other)."
      : "."),
    "",
    table(report),
    ""
  ].join("\n")
}
