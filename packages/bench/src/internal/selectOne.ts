/**
 * The `SELECT 1` benchmark: dbpool's SqlClient, the driver's own pool and
 * @effect/sql's client on one server, interleaved round by round; pgbench
 * beside them when it is installed.
 */
import * as MysqlPool from "@dbpool/mysql/MysqlPool"
import * as PgPool from "@dbpool/pg/PgPool"
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Mysql from "mysql2/promise"
import { execFile } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Pg from "pg"
import type * as SelectOne from "../SelectOne.js"
import { median, quantile } from "./overhead.js"
import { applicationName, servers } from "./servers.js"

export const contenders: ReadonlyArray<SelectOne.ContenderId> = ["dbpool", "raw", "raw.query", "effect.sql"]

export const contendersOf = (database: SelectOne.Database): ReadonlyArray<SelectOne.ContenderId> =>
  database === "pg" ? ["dbpool", "raw", "effect.sql"] : contenders

export const workloads: ReadonlyArray<SelectOne.Workload> = ["select1", "transaction"]

export const labels: Record<SelectOne.Database, Record<SelectOne.ContenderId, string>> = {
  pg: {
    dbpool: "dbpool PgPool",
    raw: "raw pg.Pool",
    "raw.query": "raw pg.Pool",
    "effect.sql": "@effect/sql-pg PgClient"
  },
  mysql: {
    dbpool: "dbpool MysqlPool",
    raw: "raw mysql2 pool execute",
    "raw.query": "raw mysql2 pool query",
    "effect.sql": "@effect/sql-mysql2 MysqlClient"
  }
}

export const fullCases: ReadonlyArray<SelectOne.Case> = [
  { size: 10, workers: 50 },
  { size: 50, workers: 200 },
  { size: 100, workers: 500 }
]

export const quickCases: ReadonlyArray<SelectOne.Case> = [{ size: 10, workers: 50 }]

export { applicationName, servers }

/**
 * One contender, connected, for one round: an Effect for the Effect clients,
 * a promise for the raw driver pools (looped by async functions, as their
 * users would).
 */
type Subject =
  | { readonly _tag: "effect"; readonly query: Effect.Effect<unknown, unknown> }
  | { readonly _tag: "promise"; readonly query: () => Promise<unknown> }

const fromPromise = (run: () => Promise<unknown>): Effect.Effect<unknown, unknown> =>
  Effect.tryPromise({ try: run, catch: (e) => e })

/** The transaction's statements: three, each with one parameter, between BEGIN and COMMIT. */
const transactionParams = [1, 2, 3] as const

const fromLayer = <E>(
  layer: Layer.Layer<SqlClient.SqlClient, E>,
  workload: SelectOne.Workload
): Effect.Effect<Subject, E, Scope.Scope> =>
  Effect.map(Layer.build(layer), (context) => {
    const sql = Context.get(context, SqlClient.SqlClient)
    if (workload === "select1") return { _tag: "effect", query: sql`SELECT 1` }
    const statements = Effect.forEach(transactionParams, (n) => sql`SELECT ${n}`, { discard: true })
    return { _tag: "effect", query: sql.withTransaction(statements) }
  })

/** Runs `f` on a connection of its own, inside BEGIN / COMMIT (ROLLBACK on failure). */
const rawTransaction = async <C>(
  conn: C,
  begin: (conn: C, sql: string) => Promise<unknown>,
  f: (conn: C) => Promise<unknown>
): Promise<void> => {
  await begin(conn, "BEGIN")
  try {
    await f(conn)
  } catch (e) {
    await begin(conn, "ROLLBACK").catch(() => {})
    throw e
  }
  await begin(conn, "COMMIT")
}

const rawPg = (
  s: (typeof servers)["pg"],
  size: number,
  workload: SelectOne.Workload
): Effect.Effect<Subject, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() =>
        new Pg.Pool({
          host: s.host,
          port: s.port,
          user: s.user,
          database: s.database,
          application_name: applicationName,
          max: size
        })
      ),
      (p) => Effect.promise(() => p.end())
    ),
    (p): Subject => ({
      _tag: "promise",
      query: workload === "select1" ? () => p.query("SELECT 1") : async () => {
        const client = await p.connect()
        try {
          await rawTransaction(client, (c, sql) => c.query(sql), async (c) => {
            for (const n of transactionParams) await c.query("SELECT $1", [n])
          })
        } finally {
          client.release()
        }
      }
    })
  )

const rawMysql = (
  s: (typeof servers)["mysql"],
  size: number,
  workload: SelectOne.Workload,
  method: "execute" | "query"
): Effect.Effect<Subject, never, Scope.Scope> => {
  const run = (target: Mysql.Pool | Mysql.PoolConnection, sql: string, values?: Array<number>) =>
    method === "execute" ? target.execute(sql, values) : target.query(sql, values)
  return Effect.map(
    Effect.acquireRelease(
      Effect.sync(() =>
        Mysql.createPool({ host: s.host, port: s.port, user: s.user, database: s.database, connectionLimit: size })
      ),
      (p) => Effect.promise(() => p.end())
    ),
    (p): Subject => ({
      _tag: "promise",
      query: workload === "select1" ? () => run(p, "SELECT 1") : async () => {
        const conn = await p.getConnection()
        try {
          // BEGIN and COMMIT as the Effect clients send them (text protocol), the statements with `method`.
          await rawTransaction(conn, (c, sql) => c.query(sql), async (c) => {
            for (const n of transactionParams) await run(c, "SELECT ?", [n])
          })
        } finally {
          conn.release()
        }
      }
    })
  )
}

const makeSubject = (
  database: SelectOne.Database,
  id: SelectOne.ContenderId,
  size: number,
  workload: SelectOne.Workload
): Effect.Effect<Subject, unknown, Scope.Scope> => {
  const s = servers[database]
  const pool = { minConnections: size, maxConnections: size, name: `bench-${database}` }
  switch (`${database}/${id}` as const) {
    case "pg/dbpool":
      return fromLayer(
        PgPool.layer({ host: s.host, port: s.port, username: s.user, database: s.database, applicationName, pool }),
        workload
      )
    case "mysql/dbpool":
      return fromLayer(
        MysqlPool.layer({ host: s.host, port: s.port, username: s.user, database: s.database, pool }),
        workload
      )
    case "pg/effect.sql":
      return fromLayer(
        PgClient.layer({
          host: s.host,
          port: s.port,
          username: s.user,
          database: s.database,
          applicationName,
          maxConnections: size
        }),
        workload
      )
    case "mysql/effect.sql":
      return fromLayer(
        MysqlClient.layer({ host: s.host, port: s.port, username: s.user, database: s.database, maxConnections: size }),
        workload
      )
    case "pg/raw":
    case "pg/raw.query":
      return rawPg(servers.pg, size, workload)
    case "mysql/raw":
      return rawMysql(servers.mysql, size, workload, "execute")
    case "mysql/raw.query":
      return rawMysql(servers.mysql, size, workload, "query")
  }
}

/**
 * The process's CPU time over the counted window, read at the first completion
 * at or after each end of the window: `completed` counts completions, so the
 * queries between the two readings are exactly those the round counts.
 */
class CpuWindow {
  completed = 0
  private start: { readonly cpu: NodeJS.CpuUsage; readonly count: number } | undefined
  private end: { readonly cpu: NodeJS.CpuUsage; readonly count: number } | undefined
  constructor(readonly from: number, readonly until: number) {}
  /** One query completed at `done` (a `performance.now()`). */
  completion(done: number): void {
    if (this.start === undefined && done >= this.from) {
      this.start = { cpu: process.cpuUsage(), count: this.completed }
    }
    if (this.end === undefined && done >= this.until) this.end = { cpu: process.cpuUsage(), count: this.completed }
    this.completed++
  }
  /** Microseconds of CPU per query completed in the window (NaN when none did). */
  perQuery(): number {
    const start = this.start
    if (start === undefined) return Number.NaN
    const end = this.end ?? { cpu: process.cpuUsage(), count: this.completed }
    const queries = end.count - start.count
    const cpu = end.cpu.user + end.cpu.system - start.cpu.user - start.cpu.system
    return queries > 0 ? cpu / queries : Number.NaN
  }
}

/**
 * `workers` fibers loop the query. Before the round, `size` queries at once
 * open every connection; then nothing counts for a quarter of a round (or
 * 250 ms at most); then queries that complete within `durationMs` count, each
 * timed from asking to its result, and the CPU the process spends meanwhile.
 */
const runRound = (
  subject: Subject,
  size: number,
  workers: number,
  durationMs: number
): Effect.Effect<SelectOne.Round, unknown> =>
  Effect.gen(function*() {
    const query = subject._tag === "effect" ? subject.query : fromPromise(subject.query)
    yield* Effect.forEach(Array.from({ length: size }), () => query, { concurrency: "unbounded", discard: true })
    const latencies: Array<number> = []
    let errors = 0
    let firstError: unknown = undefined
    const start = performance.now()
    const from = start + Math.min(250, durationMs / 4)
    const until = from + durationMs
    const cpu = new CpuWindow(from, until)
    const completed = (asked: number): number => {
      const done = performance.now()
      cpu.completion(done)
      if (done >= from && done < until) latencies.push(done - asked)
      return done
    }
    const one = Effect.suspend(() => {
      const asked = performance.now()
      return Effect.match(query, {
        onFailure: (e) => {
          errors++
          firstError ??= e
          return performance.now()
        },
        onSuccess: () => completed(asked)
      })
    })
    const loop = Effect.whileLoop({
      while: () => performance.now() < until,
      body: () => one,
      step: () => {}
    })
    if (subject._tag === "promise") {
      const worker = async () => {
        while (performance.now() < until) {
          const asked = performance.now()
          try {
            await subject.query()
            completed(asked)
          } catch (e) {
            errors++
            firstError ??= e
          }
        }
      }
      yield* Effect.promise(() => Promise.all(Array.from({ length: workers }, worker)))
    } else {
      const forked: Array<Fiber.RuntimeFiber<void, unknown>> = []
      for (let k = 0; k < workers; k++) forked.push(yield* Effect.fork(loop))
      yield* Fiber.joinAll(forked)
    }
    if (latencies.length === 0 && errors > 0) return yield* Effect.fail(firstError)
    const sorted = Float64Array.from(latencies).sort()
    return {
      queries: sorted.length,
      errors,
      elapsedMs: durationMs,
      qps: sorted.length / (durationMs / 1000),
      p50: quantile(sorted, 0.5),
      p99: quantile(sorted, 0.99),
      cpuUsPerQuery: cpu.perQuery()
    }
  })

/** The first line of a failure, for the report: an Error's message, or a tagged error's tag and its cause's message. */
export const describeError = (e: unknown): string => {
  const cause = (e as { cause?: unknown })?.cause
  const text = e instanceof Error ? e.message : typeof e === "object" && e !== null && "_tag" in e
    ? `${String((e as { _tag: unknown })._tag)}${cause instanceof Error ? `: ${cause.message}` : ""}`
    : String(e)
  return text.split("\n")[0]!.slice(0, 200)
}

/** Is the server there? One connection, one `SELECT 1`, within 3 seconds. */
export const reachable = (database: SelectOne.Database): Effect.Effect<string | undefined> => {
  const s = servers[database]
  const attempt = database === "pg"
    ? fromPromise(async () => {
      const client = new Pg.Client({ host: s.host, port: s.port, user: s.user, database: s.database })
      await client.connect()
      try {
        await client.query("SELECT 1")
      } finally {
        await client.end()
      }
    })
    : fromPromise(async () => {
      const conn = await Mysql.createConnection({ host: s.host, port: s.port, user: s.user, database: s.database })
      try {
        await conn.query("SELECT 1")
      } finally {
        await conn.end()
      }
    })
  return attempt.pipe(
    Effect.timeoutFail({ duration: Duration.seconds(3), onTimeout: () => new Error("no answer within 3 s") }),
    Effect.match({
      onFailure: (e) => `${database} at ${s.host}:${s.port} does not answer (${describeError(e)})`,
      onSuccess: () => undefined
    })
  )
}

const exec = (file: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv) =>
  Effect.async<{ readonly stdout: string; readonly stderr: string; readonly error: Error | null }>((resume) => {
    const child = execFile(
      file,
      args,
      { env, timeout: 120_000 },
      (error, stdout, stderr) => resume(Effect.succeed({ stdout, stderr, error }))
    )
    return Effect.sync(() => child.kill())
  })

/** Where pgbench is, if it is on the PATH. */
export const findPgbench: Effect.Effect<string | undefined> = Effect.map(
  exec("sh", ["-c", "command -v pgbench"], process.env),
  (r) => r.error === null && r.stdout.trim() !== "" ? r.stdout.trim() : undefined
)

/**
 * Why a run gave no figure: the last lines pgbench wrote to stderr (its own
 * message, e.g. the server refusing connections), how it ended (exit code or
 * signal, or killed at the time limit), else the end of its output. Never
 * empty: an empty stderr used to print "failed ()".
 */
export const failureReason = (r: {
  readonly stdout: string
  readonly stderr: string
  readonly error: (Error & { readonly code?: unknown; readonly signal?: unknown; readonly killed?: unknown }) | null
}): string => {
  const tail = (text: string) =>
    text.split("\n").map((line) => line.trim()).filter((line) => line !== "").slice(-2).join(" / ")
  const ended = r.error === null
    ? "exit code 0, no tps in its output"
    : r.error.killed === true
    ? `killed${typeof r.error.signal === "string" ? ` by ${r.error.signal}` : ""} (time limit)`
    : typeof r.error.code === "number"
    ? `exit code ${r.error.code}`
    : typeof r.error.signal === "string"
    ? `ended by ${r.error.signal}`
    : r.error.message
  const said = tail(r.stderr)
  if (said !== "") return `${said}; ${ended}`
  const out = tail(r.stdout)
  return out === "" ? `${ended}, no output` : `${ended}; output ends: ${out}`
}

/** One pgbench run of a `SELECT 1` script: `-c clients -j 2 -T seconds -M protocol`. */
const pgbench = (
  bin: string,
  workers: number,
  clients: number,
  seconds: number,
  protocol: "simple" | "prepared"
): Effect.Effect<SelectOne.PgbenchRun> =>
  Effect.acquireUseRelease(
    Effect.sync(() => mkdtempSync(path.join(os.tmpdir(), "dbpool-pgbench-"))),
    (dir) => {
      const script = path.join(dir, "select1.sql")
      writeFileSync(script, "SELECT 1;\n")
      const s = servers.pg
      const args = [
        "-h",
        s.host,
        "-p",
        String(s.port),
        "-U",
        s.user,
        "-n",
        "-f",
        script,
        "-c",
        String(clients),
        "-j",
        "2",
        "-T",
        String(seconds),
        "-M",
        protocol,
        s.database
      ]
      return Effect.map(exec(bin, args, { ...process.env, PGCONNECT_TIMEOUT: "3" }), (r) => {
        const tps = /tps = ([\d.]+)/.exec(r.stdout)?.[1]
        const latency = /latency average = ([\d.]+) ms/.exec(r.stdout)?.[1]
        return {
          workers,
          clients,
          protocol,
          seconds,
          tps: tps === undefined ? undefined : Number(tps),
          latencyAvgMs: latency === undefined ? undefined : Number(latency),
          error: tps === undefined ? failureReason(r) : undefined
        }
      })
    },
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

export const run = (options: SelectOne.Options): Effect.Effect<SelectOne.Report> =>
  Effect.gen(function*() {
    const quick = options.quick ?? false
    const durationMs = options.durationMs ?? (quick ? 750 : 10_000)
    const rounds = options.rounds ?? (quick ? 2 : 3)
    const cases = options.cases ?? (quick ? quickCases : fullCases)
    const databases = options.databases ?? ["pg", "mysql"]
    const kinds = options.workloads ?? workloads
    const log = options.log ?? (() => {})
    const startedAt = Date.now()
    const skipped: Array<string> = []
    const results: Array<SelectOne.CaseResult> = []
    const up: Array<SelectOne.Database> = []
    for (const database of databases) {
      const down = yield* reachable(database)
      if (down === undefined) up.push(database)
      else {
        skipped.push(`${down}: skipped`)
        log(`${down}: skipped`)
      }
    }
    for (const database of up) {
      const ids = contendersOf(database).filter((id) => options.contenders?.includes(id) ?? true)
      for (const workload of kinds) {
        for (const c of cases) {
          const perContender = new Map<SelectOne.ContenderId, Array<SelectOne.Round>>(ids.map((id) => [id, []]))
          const failures: Array<string> = []
          // Interleaved: A B C, A B C, ..., so drift in the machine hits every contender alike.
          for (let r = 0; r < rounds; r++) {
            for (const id of ids) {
              const round = yield* Effect.scoped(
                Effect.flatMap(
                  makeSubject(database, id, c.size, workload),
                  (s) => runRound(s, c.size, c.workers, durationMs)
                )
              ).pipe(Effect.either)
              if (round._tag === "Right") perContender.get(id)!.push(round.right)
              else failures.push(`${labels[database][id]} round ${r + 1}: ${describeError(round.left)}`)
            }
          }
          const result: SelectOne.CaseResult = {
            database,
            workload,
            ...c,
            failures,
            contenders: ids.map((id) => {
              const rs = perContender.get(id)!
              const pick = (f: (r: SelectOne.Round) => number) => median(rs.map(f))
              return {
                id,
                qps: pick((r) => r.qps),
                p50: pick((r) => r.p50),
                p99: pick((r) => r.p99),
                cpuUsPerQuery: pick((r) => r.cpuUsPerQuery),
                rounds: rs
              }
            })
          }
          results.push(result)
          log(caseLine(result))
        }
      }
    }
    let pgbenchReport: SelectOne.Report["pgbench"]
    const bin = options.pgbench === false ? undefined : yield* findPgbench
    if (options.pgbench === false) pgbenchReport = { note: "pgbench not run (disabled)", runs: [] }
    else if (bin === undefined) {
      pgbenchReport = { note: "pgbench is not installed (no pgbench on the PATH): its columns are empty", runs: [] }
      log(pgbenchReport.note)
    } else if (!up.includes("pg") || !kinds.includes("select1")) {
      pgbenchReport = {
        note: up.includes("pg")
          ? "pgbench not run: no SELECT 1 workload"
          : "pgbench not run: PostgreSQL does not answer",
        runs: []
      }
    } else {
      const runs: Array<SelectOne.PgbenchRun> = []
      // Quick mode: one run per protocol; its figures are for comparison only, and the quick run must stay short.
      const pgbenchRuns = quick ? 1 : rounds
      const seconds = Math.max(1, Math.round(durationMs / 1000))
      for (const c of cases) {
        for (const protocol of ["simple", "prepared"] as const) {
          const tpss: Array<SelectOne.PgbenchRun> = []
          // One client per worker, as asked; if the server refuses that many connections
          // (max_connections), one client per pooled connection instead, and the table says so.
          let clients = c.workers
          const first = yield* pgbench(bin, c.workers, clients, seconds, protocol)
          if (first.tps === undefined && clients > c.size) {
            log(`pgbench -c ${clients} failed (${first.error}); -c ${c.size} (the pool size) instead`)
            clients = c.size
          } else tpss.push(first)
          while (tpss.length < pgbenchRuns) tpss.push(yield* pgbench(bin, c.workers, clients, seconds, protocol))
          const ok = tpss.filter((x) => x.tps !== undefined)
          const picked: SelectOne.PgbenchRun = ok.length === 0
            ? tpss[0]!
            : {
              ...ok[0]!,
              tps: median(ok.map((x) => x.tps!)),
              latencyAvgMs: median(ok.map((x) => x.latencyAvgMs ?? NaN))
            }
          runs.push(picked)
          log(
            `pgbench -c ${clients} -j 2 -T ${seconds} -M ${protocol}: ` +
              (picked.tps === undefined ? `failed (${picked.error})` : `${Math.round(picked.tps)} tps`)
          )
        }
      }
      pgbenchReport = {
        note: `pgbench at ${bin}, ${pgbenchRuns === 1 ? "one run" : `median of ${pgbenchRuns} runs`} of ${seconds} s`,
        runs
      }
    }
    return {
      quick,
      durationMs,
      rounds,
      startedAt: new Date(startedAt).toISOString(),
      totalSeconds: (Date.now() - startedAt) / 1000,
      cases: results,
      skipped,
      pgbench: pgbenchReport
    }
  })

const fmtQps = (n: number): string => Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "-"
const fmtMs = (n: number): string => Number.isFinite(n) ? n.toFixed(2) : "-"
const fmtUs = (n: number): string => Number.isFinite(n) ? n.toFixed(0) : "-"
const fmtRatio = (n: number): string => Number.isFinite(n) ? `${n.toFixed(2)} ×` : "-"

export const workloadLabels: Record<SelectOne.Workload, string> = {
  select1: "SELECT 1",
  transaction: "transaction (BEGIN, 3 × SELECT ?, COMMIT)"
}

export const caseLine = (c: SelectOne.CaseResult): string =>
  `${c.database} ${c.workload} ${c.size}/${c.workers} ` +
  c.contenders.map((x) =>
    `${labels[c.database][x.id]} ${fmtQps(x.qps)}/s p99 ${fmtMs(x.p99)} ms CPU ${fmtUs(x.cpuUsPerQuery)} µs`
  ).join(" · ") +
  (c.failures.length > 0 ? ` (failed: ${c.failures.join("; ")})` : "")

const find = (c: SelectOne.CaseResult, id: SelectOne.ContenderId) => c.contenders.find((x) => x.id === id)

/** One markdown table: the cases of one database and workload. */
const caseTable = (
  database: SelectOne.Database,
  workload: SelectOne.Workload,
  cs: ReadonlyArray<SelectOne.CaseResult>,
  pgb: ReadonlyArray<SelectOne.PgbenchRun>
): Array<string> => {
  const ids = cs[0]!.contenders.map((x) => x.id)
  const peers = ids.includes("dbpool") ? ids.filter((id) => id !== "dbpool") : []
  const unit = workload === "select1" ? "q/s" : "tx/s"
  const per = workload === "select1" ? "query" : "tx"
  const withPgbench = database === "pg" && workload === "select1"
  const tps = (workers: number, protocol: "simple" | "prepared") => {
    const r = pgb.find((r) => r.workers === workers && r.protocol === protocol)
    return r?.tps === undefined
      ? "-"
      : fmtQps(r.tps) + (r.clients === r.workers ? "" : ` (-c ${r.clients})`)
  }
  const ratio = (c: SelectOne.CaseResult, id: SelectOne.ContenderId, f: (x: SelectOne.ContenderResult) => number) =>
    (find(c, "dbpool") === undefined ? Number.NaN : f(find(c, "dbpool")!)) /
    (find(c, id) === undefined ? Number.NaN : f(find(c, id)!))
  const header = [
    "pool / workers",
    ...ids.map((id) => `${labels[database][id]} ${unit} (p99 ms, CPU µs/${per})`),
    ...(withPgbench ? ["pgbench simple q/s", "pgbench prepared q/s"] : []),
    ...peers.map((id) => `dbpool / ${labels[database][id]}`),
    ...peers.map((id) => `CPU dbpool / ${labels[database][id]}`)
  ]
  return [
    `${database === "pg" ? "PostgreSQL" : "MySQL / MariaDB"}, ${workloadLabels[workload]}:`,
    "",
    `| ${header.join(" | ")} |`,
    `| ${header.map(() => "---:").join(" | ")} |`,
    ...cs.map((c) =>
      `| ${
        [
          `${c.size} / ${c.workers}`,
          ...ids.map((id) => {
            const x = find(c, id)!
            return `${fmtQps(x.qps)} (${fmtMs(x.p99)}, ${fmtUs(x.cpuUsPerQuery)})`
          }),
          ...(withPgbench ? [tps(c.workers, "simple"), tps(c.workers, "prepared")] : []),
          ...peers.map((id) => fmtRatio(ratio(c, id, (x) => x.qps))),
          ...peers.map((id) => fmtRatio(ratio(c, id, (x) => x.cpuUsPerQuery)))
        ].join(" | ")
      } |`
    ),
    ""
  ]
}

export const table = (report: SelectOne.Report): string => {
  const lines: Array<string> = []
  for (const database of ["pg", "mysql"] as const) {
    for (const workload of workloads) {
      const cs = report.cases.filter((c) => c.database === database && c.workload === workload)
      if (cs.length > 0) lines.push(...caseTable(database, workload, cs, database === "pg" ? report.pgbench.runs : []))
    }
  }
  lines.push(...report.skipped.map((s) => `- ${s}`), `- ${report.pgbench.note}`)
  for (const r of report.pgbench.runs) {
    if (r.error !== undefined) lines.push(`- pgbench -c ${r.clients} -M ${r.protocol} failed: ${r.error}`)
    else if (r.clients !== r.workers) {
      lines.push(
        `- pgbench -c ${r.workers} was refused connections (max_connections); ` +
          `the figure is pgbench -c ${r.clients} -M ${r.protocol}`
      )
    }
  }
  for (const c of report.cases) {
    lines.push(...c.failures.map((f) => `- ${c.database} ${c.workload} ${c.size}/${c.workers}: ${f}`))
  }
  return lines.join("\n")
}
