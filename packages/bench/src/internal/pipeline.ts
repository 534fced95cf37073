/**
 * The pipelining benchmark: `SELECT 1` from many workers through a pool of 10 on PostgreSQL, over a slow
 * link (the FaultProxy of @dbpool/testing adding 1 ms each way) and direct, for raw `pg.Pool`, dbpool
 * without pipelining and dbpool with it, interleaved round by round.
 */
import * as PgPool from "@dbpool/pg/PgPool"
import * as FaultProxy from "@dbpool/testing/FaultProxy"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Pg from "pg"
import type * as Pipeline from "../Pipeline.js"
import { median, quantile } from "./overhead.js"
import { describeError } from "./selectOne.js"
import { applicationName, servers } from "./servers.js"

export const contenders: ReadonlyArray<Pipeline.ContenderId> = ["raw", "dbpool", "dbpool.pipeline"]

export const labels: Record<Pipeline.ContenderId, string> = {
  raw: "raw pg.Pool",
  dbpool: "dbpool PgPool",
  "dbpool.pipeline": "dbpool PgPool, pipelined"
}

export const fullCases: ReadonlyArray<Pipeline.Case> = [
  { latencyMs: 1, size: 10, workers: 50 },
  { latencyMs: 1, size: 10, workers: 200 },
  { latencyMs: 0, size: 10, workers: 50 }
]
export const quickCases: ReadonlyArray<Pipeline.Case> = [
  { latencyMs: 1, size: 10, workers: 50 },
  { latencyMs: 0, size: 10, workers: 50 }
]

/** Statements in flight per connection for the pipelined contender. */
export const maxInFlight = 16

/** Where the contenders connect: the proxy when latency is added, else the server itself. */
const endpoint = (latencyMs: number): Effect.Effect<{ host: string; port: number }, never, Scope.Scope> =>
  latencyMs === 0
    ? Effect.succeed({ host: servers.pg.host, port: servers.pg.port })
    : Effect.map(
      FaultProxy.make({
        target: { host: servers.pg.host, port: servers.pg.port },
        latency: `${latencyMs} millis`
      }),
      (proxy) => ({ host: proxy.host, port: proxy.port })
    )

type Query = Effect.Effect<unknown, unknown>

const makeQuery = (
  id: Pipeline.ContenderId,
  at: { host: string; port: number },
  size: number
): Effect.Effect<Query, unknown, Scope.Scope> => {
  const s = servers.pg
  if (id === "raw") {
    return Effect.map(
      Effect.acquireRelease(
        Effect.sync(() =>
          new Pg.Pool({ ...at, user: s.user, database: s.database, application_name: applicationName, max: size })
        ),
        (p) => Effect.promise(() => p.end())
      ),
      (p) => Effect.tryPromise({ try: () => p.query("SELECT 1"), catch: (e) => e })
    )
  }
  const layer = PgPool.layer({
    ...at,
    username: s.user,
    database: s.database,
    applicationName,
    pool: { minConnections: size, maxConnections: size, name: `bench-${id}` },
    pipeline: id === "dbpool.pipeline" ? { maxInFlight } : undefined
  })
  return Effect.map(Layer.build(layer), (context) => {
    const sql = Context.get(context, SqlClient.SqlClient)
    return sql`SELECT 1`
  })
}

/**
 * `workers` fibers loop the query (for raw pg.Pool, as many async functions): the first quarter of the
 * round (250 ms at most) warms up, then queries completing within `durationMs` count; client CPU is
 * measured over the same window.
 */
const runRound = (query: Query, workers: number, durationMs: number): Effect.Effect<Pipeline.Round, unknown> =>
  Effect.gen(function*() {
    const latencies: Array<number> = []
    let errors = 0
    let firstError: unknown = undefined
    const from = performance.now() + Math.min(250, durationMs / 4)
    const until = from + durationMs
    let cpuFrom: NodeJS.CpuUsage | undefined = undefined
    let cpuUntil: NodeJS.CpuUsage | undefined = undefined
    const mark = (now: number) => {
      if (cpuFrom === undefined && now >= from) cpuFrom = process.cpuUsage()
      if (cpuUntil === undefined && now >= until) cpuUntil = process.cpuUsage(cpuFrom)
    }
    const one = Effect.suspend(() => {
      const asked = performance.now()
      return Effect.match(query, {
        onFailure: (e) => {
          errors++
          firstError ??= e
          mark(performance.now())
        },
        onSuccess: () => {
          const done = performance.now()
          mark(done)
          if (done >= from && done < until) latencies.push(done - asked)
        }
      })
    })
    const loop = Effect.whileLoop({ while: () => performance.now() < until, body: () => one, step: () => {} })
    const forked: Array<Fiber.RuntimeFiber<void, unknown>> = []
    for (let k = 0; k < workers; k++) forked.push(yield* Effect.fork(loop))
    yield* Fiber.joinAll(forked)
    if (latencies.length === 0 && errors > 0) return yield* Effect.fail(firstError)
    const cpu = cpuUntil ?? process.cpuUsage(cpuFrom)
    const sorted = Float64Array.from(latencies).sort()
    return {
      queries: sorted.length,
      errors,
      qps: sorted.length / (durationMs / 1000),
      p99: quantile(sorted, 0.99),
      cpuPerQueryUs: sorted.length === 0 ? Number.NaN : (cpu.user + cpu.system) / sorted.length
    }
  })

export const run = (options: Pipeline.Options): Effect.Effect<Pipeline.Report> =>
  Effect.gen(function*() {
    const quick = options.quick ?? false
    // Quick: about 6 s in all (the whole quick run must stay under a minute).
    const durationMs = options.durationMs ?? (quick ? 500 : 5_000)
    const rounds = options.rounds ?? (quick ? 1 : 3)
    const cases = options.cases ?? (quick ? quickCases : fullCases)
    const log = options.log ?? (() => {})
    const startedAt = Date.now()
    const results: Array<Pipeline.CaseResult> = []
    for (const c of cases) {
      const perContender = new Map(contenders.map((id) => [id, [] as Array<Pipeline.Round>]))
      const failures: Array<string> = []
      for (let r = 0; r < rounds; r++) {
        // Interleaved: each contender once per round, on a link (proxy) of its own.
        for (const id of contenders) {
          const round = yield* Effect.scoped(Effect.gen(function*() {
            const query = yield* makeQuery(id, yield* endpoint(c.latencyMs), c.size)
            // Every connection open before the round starts.
            yield* Effect.forEach(Array.from({ length: c.size }), () => query, { concurrency: "unbounded" })
            return yield* runRound(query, c.workers, durationMs)
          })).pipe(Effect.either)
          if (round._tag === "Right") perContender.get(id)!.push(round.right)
          else failures.push(`${labels[id]} round ${r + 1}: ${describeError(round.left)}`)
        }
      }
      const result: Pipeline.CaseResult = {
        ...c,
        failures,
        contenders: contenders.map((id) => {
          const rs = perContender.get(id)!
          const pick = (f: (r: Pipeline.Round) => number) => median(rs.map(f))
          return { id, qps: pick((r) => r.qps), p99: pick((r) => r.p99), cpuPerQueryUs: pick((r) => r.cpuPerQueryUs) }
        })
      }
      results.push(result)
      log(caseLine(result))
    }
    return { quick, durationMs, rounds, maxInFlight, totalSeconds: (Date.now() - startedAt) / 1000, cases: results }
  })

const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }) : "-"

const link = (c: Pipeline.Case): string => c.latencyMs === 0 ? "direct" : `proxy, +${c.latencyMs} ms each way`

const qpsOf = (c: Pipeline.CaseResult, id: Pipeline.ContenderId): number =>
  c.contenders.find((x) => x.id === id)?.qps ?? Number.NaN

export const caseLine = (c: Pipeline.CaseResult): string =>
  `pipeline ${link(c)} ${c.size}/${c.workers} ` +
  c.contenders.map((x) => `${labels[x.id]} ${fmt(x.qps)} q/s`).join(" · ") +
  (c.failures.length > 0 ? ` (failed: ${c.failures.join("; ")})` : "")

export const table = (report: Pipeline.Report): string => {
  const header = [
    "link",
    "pool / workers",
    ...contenders.map((id) => `${labels[id]} q/s (p99 ms, CPU µs/query)`),
    "pipelined / raw",
    "pipelined / dbpool"
  ]
  const rows = report.cases.map((c) =>
    `| ${
      [
        link(c),
        `${c.size} / ${c.workers}`,
        ...c.contenders.map((x) => `${fmt(x.qps)} (${fmt(x.p99, 2)}, ${fmt(x.cpuPerQueryUs)})`),
        `${fmt(qpsOf(c, "dbpool.pipeline") / qpsOf(c, "raw"), 2)} ×`,
        `${fmt(qpsOf(c, "dbpool.pipeline") / qpsOf(c, "dbpool"), 2)} ×`
      ].join(" | ")
    } |`
  )
  const failures = report.cases.flatMap((c) => c.failures.map((f) => `- ${link(c)} ${c.size}/${c.workers}: ${f}`))
  return [`| ${header.join(" | ")} |`, `| ${header.map(() => "---:").join(" | ")} |`, ...rows, ...failures].join("\n")
}

export const markdown = (report: Pipeline.Report): string =>
  [
    "## Pipelining: `SELECT 1` over a slow link",
    "",
    "`workers` fibers loop `SELECT 1` through a pool of `pool` connections on PostgreSQL: raw `pg.Pool` (async",
    "functions awaiting it), dbpool's `SqlClient` as configured by default, and the same with",
    `\`pipeline: { maxInFlight: ${report.maxInFlight} }\`. "proxy" rows go through @dbpool/testing's FaultProxy`,
    "(in the benchmark's own process) delaying every chunk by 1 ms each way; \"direct\" rows connect to the",
    "server. Contenders run interleaved round by round, each on a proxy of its own; client CPU per query is",
    `the process's CPU time over the counted window (the proxy's included on proxy rows). ${report.rounds} rounds`,
    `of ${report.durationMs} ms, medians over the rounds. Target (issue 11): pipelined ≥ 3 × raw through the`,
    "proxy, and ≥ 1 × dbpool unpipelined direct.",
    "",
    table(report),
    ""
  ].join("\n")
