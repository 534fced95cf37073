/**
 * The processes benchmark's pure half: what parent and children say to each other, how a child's error is
 * named, how the children's results and the server samples make a row, the flags, and the tables. No
 * driver is loaded here, so a child imports it at no cost.
 */
import type * as Processes from "../Processes.js"

/** What a child is told on its command line. */
export interface ChildConfig {
  readonly index: number
  readonly url: string
  readonly applicationName: string
  readonly pool: number
  readonly workers: number
  readonly acquireTimeout: string
}

/** One line on a child's stdin: run this workload now. */
export interface Command {
  readonly workload: Processes.Workload
  readonly warmupMs: number
  readonly durationMs: number
}

/** What a child prints after a command. */
export interface ChildResult {
  readonly type: "result"
  readonly workload: Processes.Workload
  readonly windowMs: number
  /** Milliseconds from asking to the result, of each operation that finished inside the window. */
  readonly latencies: ReadonlyArray<number>
  readonly errors: number
  /** Errors by {@link errorKind}. */
  readonly errorKinds: Readonly<Record<string, number>>
  /** The connections its pool held at the end of the window. */
  readonly connections: number
  /** Its pool's failed connection attempts since it started (`PoolStats.connectFailures`). */
  readonly connectFailures: number
  /** The most named prepared statements seen on one server session after the run (`null`: not checked). */
  readonly preparedOnServer: number | null
}

/** What the parent samples on the server while a command runs. */
export interface Sample {
  /** The application's sessions on the server (backends of the application's role). */
  readonly open: number
  /** Of them, those not idle (running a statement, or in a transaction). */
  readonly busy: number
}

export const tooManyConnections = "too many connections"

/**
 * A short name for an error: {@link tooManyConnections} if the server refused a connection for lack of
 * slots anywhere down the chain of causes (dbpool's `TooManyConnectionsError`, SQLSTATE 53300, or PgBouncer's
 * "no more connections allowed"), else the tags (or messages) of the chain, outermost first.
 */
export const errorKind = (error: unknown): string => {
  const names: Array<string> = []
  let e: unknown = error
  for (let depth = 0; depth < 6 && e !== undefined && e !== null; depth++) {
    const o = e as { _tag?: unknown; code?: unknown; message?: unknown; cause?: unknown }
    const message = typeof o.message === "string" ? o.message : String(e)
    if (
      o._tag === "TooManyConnectionsError" || o.code === "53300" ||
      /too many clients|no more connections/i.test(message)
    ) return tooManyConnections
    names.push(typeof o._tag === "string" ? o._tag : message.split("\n")[0]!.slice(0, 80))
    e = typeof e === "object" ? o.cause : undefined
  }
  return names.join(" / ")
}

const quantile = (sorted: ReadonlyArray<number>, q: number): number =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!

const median = (values: ReadonlyArray<number>): number => quantile([...values].sort((a, b) => a - b), 0.5)

/**
 * One row from what the children of a case printed and what was sampled on the server meanwhile:
 * operations per second over the window summed over the processes, p99 over every operation of every
 * process, errors summed (too many connections apart), the server sessions at their peak and median, and
 * (through PgBouncer) the most clients seen waiting there for a server session.
 */
export const summarize = (
  c: Pick<Processes.Row, "target" | "processes" | "pool" | "workers" | "workload" | "startFailures">,
  results: ReadonlyArray<ChildResult>,
  samples: ReadonlyArray<Sample>,
  waitingAtBouncer?: ReadonlyArray<number>
): Processes.Row => {
  const latencies = results.flatMap((r) => r.latencies).sort((a, b) => a - b)
  const errorKinds: Record<string, number> = {}
  for (const r of results) {
    for (const [kind, n] of Object.entries(r.errorKinds)) errorKinds[kind] = (errorKinds[kind] ?? 0) + n
  }
  const prepared = results.flatMap((r) => r.preparedOnServer === null ? [] : [r.preparedOnServer])
  const opsPerSecond = results.reduce((sum, r) => sum + r.latencies.length / (r.windowMs / 1000), 0)
  return {
    ...c,
    opsPerSecond,
    opsRange: [opsPerSecond, opsPerSecond],
    p99Ms: quantile(latencies, 0.99),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    tooManyConnections: errorKinds[tooManyConnections] ?? 0,
    errorKinds,
    server: {
      peakOpen: samples.length === 0 ? Number.NaN : Math.max(...samples.map((s) => s.open)),
      peakBusy: samples.length === 0 ? Number.NaN : Math.max(...samples.map((s) => s.busy)),
      medianBusy: median(samples.map((s) => s.busy))
    },
    connections: {
      fewest: results.length === 0 ? Number.NaN : Math.min(...results.map((r) => r.connections)),
      total: results.reduce((sum, r) => sum + r.connections, 0)
    },
    connectFailures: results.reduce((sum, r) => sum + r.connectFailures, 0),
    peakWaitingAtBouncer: waitingAtBouncer === undefined || waitingAtBouncer.length === 0
      ? null
      : Math.max(...waitingAtBouncer),
    preparedOnServer: prepared.length === 0 ? null : Math.max(...prepared)
  }
}

/**
 * The rounds of one case as one row: medians of throughput, p99 and median busy sessions; the peaks'
 * highest; errors summed over the rounds; the fewest connections a process held in any round.
 */
export const combine = (rounds: ReadonlyArray<Processes.Row>): Processes.Row => {
  const errorKinds: Record<string, number> = {}
  for (const r of rounds) {
    for (const [kind, n] of Object.entries(r.errorKinds)) errorKinds[kind] = (errorKinds[kind] ?? 0) + n
  }
  const prepared = rounds.flatMap((r) => r.preparedOnServer === null ? [] : [r.preparedOnServer])
  const sum = (f: (r: Processes.Row) => number) => rounds.reduce((total, r) => total + f(r), 0)
  return {
    ...rounds[0]!,
    opsPerSecond: median(rounds.map((r) => r.opsPerSecond)),
    opsRange: [Math.min(...rounds.map((r) => r.opsRange[0])), Math.max(...rounds.map((r) => r.opsRange[1]))],
    p99Ms: median(rounds.map((r) => r.p99Ms)),
    errors: sum((r) => r.errors),
    tooManyConnections: sum((r) => r.tooManyConnections),
    errorKinds,
    server: {
      peakOpen: Math.max(...rounds.map((r) => r.server.peakOpen)),
      peakBusy: Math.max(...rounds.map((r) => r.server.peakBusy)),
      medianBusy: median(rounds.map((r) => r.server.medianBusy))
    },
    connections: {
      fewest: Math.min(...rounds.map((r) => r.connections.fewest)),
      total: Math.min(...rounds.map((r) => r.connections.total))
    },
    connectFailures: Math.max(...rounds.map((r) => r.connectFailures)),
    peakWaitingAtBouncer: rounds.some((r) => r.peakWaitingAtBouncer !== null)
      ? Math.max(...rounds.map((r) => r.peakWaitingAtBouncer ?? 0))
      : null,
    preparedOnServer: prepared.length === 0 ? null : Math.max(...prepared)
  }
}

const flags = ["quick", "write", "rounds", "duration", "warmup", "counts", "pool", "workers", "bouncer-pool", "low-max"]

/**
 * The benchmark's flags: `--quick`, `--write`, `--rounds=N`, `--duration=MS`, `--warmup=MS`, `--counts=1,2,4,8`,
 * `--pool=P`, `--workers=W`, `--bouncer-pool=N`, `--low-max=N`. Anything else throws, naming the flags.
 */
export const parseArgs = (args: ReadonlyArray<string>): Processes.Options & { readonly write: boolean } => {
  const value = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
  const whole = (name: string, min: number): number | undefined => {
    const v = value(name)
    if (v === undefined) return undefined
    const n = Number(v)
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected a whole number ≥ ${min}, got ${v}`)
    return n
  }
  for (const a of args) {
    const name = a.replace(/^--/, "").split("=")[0]!
    if (!a.startsWith("--") || !flags.includes(name)) {
      throw new Error(`unknown argument ${a}; flags: --${flags.join(", --")}`)
    }
  }
  const counts = value("counts")?.split(",").map((s) => {
    const n = Number(s)
    if (!Number.isInteger(n) || n < 1) throw new Error(`--counts: expected whole numbers ≥ 1, got ${s}`)
    return n
  })
  return {
    quick: args.includes("--quick"),
    write: args.includes("--write"),
    rounds: whole("rounds", 1),
    durationMs: whole("duration", 1),
    warmupMs: whole("warmup", 0),
    counts,
    pool: whole("pool", 1),
    workers: whole("workers", 1),
    bouncerPoolSize: whole("bouncer-pool", 1),
    lowMaxConnections: whole("low-max", 5)
  }
}
