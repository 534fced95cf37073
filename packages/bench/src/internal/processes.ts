/**
 * The processes benchmark's runner: three disposable PostgreSQL servers (one with `max_connections` 100, two
 * with a low one), PgBouncer in transaction mode in front of one of the low ones, a role `app` on each (not a
 * superuser). For each N, the children of every target are started; then, round by round, each target in
 * turn runs both workloads on all its children at once, the server's sessions of `app` sampled every 50 ms.
 */
import * as PgBouncer from "@dbpool/testing/PgBouncer"
import * as PgCluster from "@dbpool/testing/PgCluster"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import { createRequire } from "node:module"
import { createInterface } from "node:readline"
import { fileURLToPath, pathToFileURL } from "node:url"
import * as Pg from "pg"
import type * as Processes from "../Processes.js"
import { conditionFlags } from "./compiled.js"
import type { ChildConfig, ChildResult, Command, Sample } from "./processesModel.js"
import { combine, summarize } from "./processesModel.js"
import { caseLine } from "./processesReport.js"

export const targets: ReadonlyArray<Processes.TargetId> = ["direct", "pgbouncer", "direct-low"]
export const workloads: ReadonlyArray<Processes.Workload> = ["select1", "transaction"]

const role = "app"
const applicationName = "dbpool-bench-processes"
const childPath = fileURLToPath(new URL("./processesChild.ts", import.meta.url))
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href

/** A running child: its result lines in order, and a way to send it a line. */
interface Child {
  readonly proc: ChildProcess
  readonly next: () => Promise<Record<string, unknown>>
  readonly send: (line: string) => void
  /** The end of its stderr, for an error to show. */
  readonly stderr: () => string
}

const startChild = (config: ChildConfig): Effect.Effect<Child, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const proc = spawn(
        process.execPath,
        // The parent's export conditions: under `npm run bench:processes` the children load dbpool compiled.
        [...conditionFlags(), "--import", tsxLoader, childPath, JSON.stringify(config)],
        { stdio: ["pipe", "pipe", "pipe"] }
      )
      let stderr = ""
      proc.stderr!.on("data", (chunk) => stderr = (stderr + String(chunk)).slice(-2000))
      const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]()
      const next = async (): Promise<Record<string, unknown>> => {
        for (;;) {
          const { done, value } = await lines.next()
          if (done === true) {
            throw new Error(`process ${config.index} ended: ${stderr.trim().split("\n").pop() ?? "no output"}`)
          }
          if (value.startsWith("{")) return JSON.parse(value) as Record<string, unknown>
        }
      }
      return {
        proc,
        next,
        send: (line: string) => proc.stdin!.write(line + "\n"),
        stderr: () => stderr.trim().split("\n").pop() ?? ""
      } satisfies Child
    }),
    (child) =>
      Effect.async<void>((resume) => {
        if (child.proc.exitCode !== null || child.proc.signalCode !== null) return resume(Effect.void)
        const timer = setTimeout(() => child.proc.kill("SIGKILL"), 10_000)
        child.proc.once("exit", () => {
          clearTimeout(timer)
          resume(Effect.void)
        })
        child.send("exit")
        child.proc.stdin!.end()
      })
  )

const fromPromise = <A>(f: () => Promise<A>) => Effect.tryPromise({ try: f, catch: (e) => e })

/** The server's sessions of `app`, every 50 ms, on one connection of the admin's (a reserved slot). */
const sampler = (cluster: PgCluster.PgCluster) =>
  Effect.gen(function*() {
    const client = yield* Effect.acquireRelease(
      fromPromise(async () => {
        const c = new Pg.Client({ connectionString: cluster.url, application_name: "dbpool-bench-sampler" })
        await c.connect()
        return c
      }),
      (c) => Effect.promise(() => c.end())
    )
    const samples: Array<Sample> = []
    const one = fromPromise(() =>
      client.query<{ open: number; busy: number }>(
        "SELECT count(*)::int AS open, (count(*) FILTER (WHERE state <> 'idle'))::int AS busy " +
          "FROM pg_stat_activity WHERE usename = $1 AND backend_type = 'client backend'",
        [role]
      )
    ).pipe(Effect.map((r) => samples.push(r.rows[0]!)), Effect.zipRight(Effect.sleep("50 millis")))
    return { samples, loop: Effect.forever(one) }
  })

interface Servers {
  readonly high: PgCluster.PgCluster
  readonly low: PgCluster.PgCluster
  readonly behind: PgCluster.PgCluster
  readonly bouncer: PgBouncer.PgBouncer
}

const makeServers = (options: { readonly lowMax: number; readonly bouncerPoolSize: number }) =>
  Effect.gen(function*() {
    // PgBouncer has a server of its own: the server sessions it keeps open must not take the low one's slots.
    const [high, low, behind] = yield* Effect.all([
      PgCluster.make({ maxConnections: 100 }),
      PgCluster.make({ maxConnections: options.lowMax }),
      PgCluster.make({ maxConnections: options.lowMax })
    ], { concurrency: "unbounded" })
    for (const cluster of [high, low, behind]) yield* cluster.sql(`CREATE ROLE ${role} LOGIN`)
    const bouncer = yield* PgBouncer.make({
      target: { host: behind.host, port: behind.port },
      poolMode: "transaction",
      defaultPoolSize: options.bouncerPoolSize,
      maxClientConn: 500,
      users: ["postgres", role]
    })
    return { high, low, behind, bouncer } satisfies Servers
  })

const urlOf = (servers: Servers, target: Processes.TargetId): string => {
  const at = target === "direct" ? servers.high : target === "pgbouncer" ? servers.bouncer : servers.low
  return `postgres://${role}@${at.host}:${at.port}/test`
}

interface Settings {
  readonly pool: number
  readonly workers: number
  readonly warmupMs: number
  readonly durationMs: number
}

/** N children on one target, their pools built (or not: `startFailures`). */
const startGroup = (servers: Servers, target: Processes.TargetId, n: number, settings: Settings) =>
  Effect.gen(function*() {
    const children = yield* Effect.forEach(Array.from({ length: n }, (_, i) => i), (index) =>
      startChild({
        index,
        url: urlOf(servers, target),
        applicationName,
        pool: settings.pool,
        workers: settings.workers,
        acquireTimeout: "2 seconds"
      }))
    const ready = yield* Effect.forEach(children, (c) => fromPromise(c.next), { concurrency: "unbounded" }).pipe(
      Effect.timeoutFail({
        duration: "120 seconds",
        onTimeout: () => new Error(`processes not ready within 120 s: ${children.map((c) => c.stderr()).join("; ")}`)
      })
    )
    const startFailures = ready.flatMap((r, i) => typeof r.error === "string" ? [`process ${i}: ${r.error}`] : [])
    return { target, children, startFailures }
  })

type Group = Effect.Effect.Success<ReturnType<typeof startGroup>>

/** One workload on every child of a group at once, the server sampled meanwhile: one round's row. */
const measure = (servers: Servers, group: Group, workload: Processes.Workload, settings: Settings) =>
  Effect.scoped(Effect.gen(function*() {
    const { children, target } = group
    const { loop, samples } = yield* sampler(
      target === "direct" ? servers.high : target === "pgbouncer" ? servers.behind : servers.low
    )
    const command: Command = { workload, warmupMs: settings.warmupMs, durationMs: settings.durationMs }
    for (const c of children) c.send(JSON.stringify(command))
    // Samples from the window only: not the warm-up, nor the children's check of prepared statements after it.
    yield* Effect.sleep(settings.warmupMs)
    // At PgBouncer: its clients of the role waiting for a server session (SHOW POOLS' cl_waiting).
    const waiting: Array<number> = []
    const waitingLoop = target !== "pgbouncer" ? Effect.never : Effect.forever(
      servers.bouncer.admin("SHOW POOLS").pipe(
        Effect.map((rows) =>
          waiting.push(rows.filter((r) => r.user === role).reduce((sum, r) => sum + Number(r.cl_waiting ?? 0), 0))
        ),
        Effect.ignore,
        Effect.zipRight(Effect.sleep("100 millis"))
      )
    )
    const sampling = yield* Effect.fork(
      Effect.race(Effect.all([loop, waitingLoop], { concurrency: 2 }), Effect.sleep(settings.durationMs))
    )
    const results = yield* Effect.forEach(children, (c) => fromPromise(c.next), { concurrency: "unbounded" })
    yield* Fiber.interrupt(sampling)
    return summarize(
      {
        target,
        processes: children.length,
        pool: settings.pool,
        workers: settings.workers,
        workload,
        startFailures: group.startFailures
      },
      results as unknown as ReadonlyArray<ChildResult>,
      samples,
      target === "pgbouncer" ? waiting : undefined
    )
  }))

export const run = (options: Processes.Options): Effect.Effect<Processes.Report, unknown> =>
  Effect.scoped(Effect.gen(function*() {
    const quick = options.quick ?? false
    const settings = {
      pool: options.pool ?? 10,
      workers: options.workers ?? 20,
      warmupMs: options.warmupMs ?? (quick ? 100 : 500),
      durationMs: options.durationMs ?? (quick ? 300 : 2_000)
    }
    const counts = options.counts ?? (quick ? [4] : [1, 2, 4, 8])
    const rounds = options.rounds ?? (quick ? 1 : 3)
    const bouncerPoolSize = options.bouncerPoolSize ?? 20
    const lowMaxConnections = options.lowMaxConnections ?? 40
    const log = options.log ?? (() => {})
    const startedAt = Date.now()
    const servers = yield* makeServers({ lowMax: lowMaxConnections, bouncerPoolSize })
    log(`processes: servers and PgBouncer up in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`)
    const labels = { bouncerPoolSize, lowMaxConnections, maxConnections: 100 }
    const rows: Array<Processes.Row> = []
    for (const n of counts) {
      // Every target's processes for this N stay up through the rounds (idle while another target runs), so
      // the targets alternate round by round and a change in the machine's load hits them alike.
      rows.push(
        ...yield* Effect.scoped(Effect.gen(function*() {
          const groups = yield* Effect.forEach(targets, (target) => startGroup(servers, target, n, settings))
          const perCase = new Map<string, Array<Processes.Row>>()
          for (let round = 1; round <= rounds; round++) {
            for (const group of groups) {
              for (const workload of workloads) {
                const row = yield* measure(servers, group, workload, settings)
                log(`round ${round}: ${caseLine(row, labels)}`)
                const key = `${group.target} ${workload}`
                perCase.set(key, [...(perCase.get(key) ?? []), row])
              }
            }
          }
          return [...perCase.values()].map(combine)
        }))
      )
    }
    return {
      quick,
      ...settings,
      rounds,
      bouncerPoolSize,
      maxConnections: 100,
      lowMaxConnections,
      rows,
      totalSeconds: (Date.now() - startedAt) / 1000
    }
  }))
