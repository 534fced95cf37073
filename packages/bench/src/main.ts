/**
 * `npm run bench [-- flags]`: runs the overhead benchmark, the `SELECT 1`
 * benchmark, the memory benchmark and the scale benchmark, prints the tables
 * and the total time, and (for a full, unfiltered run, or with `--write`)
 * writes docs/benchmarks.md and docs/benchmarks.json.
 *
 * Flags: `--quick` (under a minute), `--duration=MS`, `--rounds=N`,
 * `--warmup=MS`,
 * `--global-warmup=MS`, `--sample-every=N`, `--cases=10/100,100/1000`,
 * `--only=dbpool.use,effect.Pool` (all of these for the overhead benchmark),
 * `--sql-duration=MS`, `--sql-rounds=N`, `--sql-cases=10/50,50/200`,
 * `--sql-workloads=select1,transaction` (default both),
 * `--memory-repetitions=N` (processes per figure; default `--rounds`, else 3),
 * `--memory-count=N` (connections, default 100),
 * `--scale-duration=MS`, `--scale-rounds=N` (default `--duration`, `--rounds`),
 * `--scale-parts=waiters,health,subscribers`, `--scale-fibers=100,10000` (the waiters rows),
 * `--pipeline-duration=MS`, `--pipeline-rounds=N`, `--sizing-seconds=N` (the sizing benchmark's curve),
 * `--skip=overhead,sql,pg,mysql,memory,scale,pipeline,sizing` (any of them; pg and mysql also
 * leave those databases out of the memory benchmark), `--write`, `--no-write`.
 * The processes benchmark runs on its own (`npm run bench:processes`); its
 * section of docs/benchmarks.md is kept when this rewrites the file.
 *
 * dbpool runs compiled (dist/esm, from `npm run build`), as its peers do: the
 * `bench` script builds, then starts tsx with `--conditions=@dbpool/dist`, and
 * the run stops at once if dbpool's packages resolved to their sources (see
 * internal/compiled.ts).
 */
import * as Effect from "effect/Effect"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import * as os from "node:os"
import { fileURLToPath } from "node:url"
import * as Compiled from "./internal/compiled.js"
import * as Memory from "./Memory.js"
import * as Overhead from "./Overhead.js"
import * as Pipeline from "./Pipeline.js"
import * as Processes from "./Processes.js"
import * as Report from "./Report.js"
import * as Scale from "./Scale.js"
import * as SelectOne from "./SelectOne.js"
import * as Sizing from "./Sizing.js"

// Before anything else: a run over the sources would charge dbpool for tsx's wrappers.
Compiled.assertCompiled()

const args = process.argv.slice(2)
const flag = (name: string): boolean => args.includes(`--${name}`)
const value = (name: string): string | undefined => {
  const prefix = `--${name}=`
  return args.find((a) => a.startsWith(prefix))?.slice(prefix.length)
}
const num = (name: string): number | undefined => {
  const v = value(name)
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: not a number: ${v}`)
  return n
}

const known = [
  "quick",
  "write",
  "no-write",
  "duration",
  "rounds",
  "warmup",
  "global-warmup",
  "sample-every",
  "cases",
  "only",
  "sql-duration",
  "sql-rounds",
  "sql-cases",
  "sql-workloads",
  "memory-repetitions",
  "memory-count",
  "scale-duration",
  "scale-rounds",
  "scale-parts",
  "scale-fibers",
  "pipeline-duration",
  "pipeline-rounds",
  "sizing-seconds",
  "skip"
]
for (const a of args) {
  const name = a.replace(/^--/, "").split("=")[0]!
  if (!a.startsWith("--") || !known.includes(name)) {
    throw new Error(`unknown argument ${a}; flags: --${known.join(", --")}`)
  }
}

const cases = value("cases")?.split(",").map((s): Overhead.Case => {
  const [size, fibers] = s.split("/").map(Number)
  if (!Number.isInteger(size) || !Number.isInteger(fibers)) throw new Error(`--cases: expected SIZE/FIBERS, got ${s}`)
  return { size: size!, fibers: fibers! }
})
const only = value("only")?.split(",").map((s) => {
  if (!Overhead.contenders.includes(s as Overhead.ContenderId)) {
    throw new Error(`--only: unknown contender ${s}; one of ${Overhead.contenders.join(", ")}`)
  }
  return s as Overhead.ContenderId
})
const sqlCases = value("sql-cases")?.split(",").map((s): SelectOne.Case => {
  const [size, workers] = s.split("/").map(Number)
  if (!Number.isInteger(size) || !Number.isInteger(workers)) {
    throw new Error(`--sql-cases: expected SIZE/WORKERS, got ${s}`)
  }
  return { size: size!, workers: workers! }
})
const sqlWorkloads = value("sql-workloads")?.split(",").map((s) => {
  if (!SelectOne.workloads.includes(s as SelectOne.Workload)) {
    throw new Error(`--sql-workloads: one of ${SelectOne.workloads.join(", ")}; got ${s}`)
  }
  return s as SelectOne.Workload
})
const scaleParts = value("scale-parts")?.split(",").map((s) => {
  const part = ["waiters", "health", "subscribers"].find((p) => p === s)
  if (part === undefined) throw new Error(`--scale-parts: waiters, health, subscribers; got ${s}`)
  return part as "waiters" | "health" | "subscribers"
})
const scaleFibers = value("scale-fibers")?.split(",").map((s) => {
  const n = Number(s)
  if (!Number.isInteger(n) || n < 1) throw new Error(`--scale-fibers: expected whole numbers, got ${s}`)
  return n
})
const skip = value("skip")?.split(",") ?? []
const parts = ["overhead", "sql", "pg", "mysql", "memory", "scale", "pipeline", "sizing"]
for (const s of skip) {
  if (!parts.includes(s)) throw new Error(`--skip: ${parts.join(", ")}; got ${s}`)
}
const quick = flag("quick")
const write = flag("write") || (!flag("no-write") && !quick && cases === undefined && only === undefined &&
  sqlCases === undefined && sqlWorkloads === undefined && skip.length === 0 &&
  scaleParts === undefined && scaleFibers === undefined &&
  value("duration") === undefined && value("rounds") === undefined)

const runStarted = Date.now()
const command = ["npm run bench", ...(args.length > 0 ? ["--", ...args] : [])].join(" ")
const loadBefore = os.loadavg()
const machineNow = (): Report.Machine => ({
  loadBefore,
  loadAfter: os.loadavg(),
  nproc: os.availableParallelism(),
  cpu: os.cpus()[0]?.model.trim() ?? "unknown CPU",
  node: process.version,
  platform: `${os.platform()} ${os.release()} ${os.arch()}`,
  date: new Date().toISOString()
})
const machine = machineNow()

console.log(`${command}: ${machine.nproc} CPUs, ${machine.cpu}, Node ${machine.node}`)
const overhead = skip.includes("overhead") ? undefined : await Effect.runPromise(Overhead.run({
  quick,
  durationMs: num("duration"),
  rounds: num("rounds"),
  warmupMs: num("warmup"),
  globalWarmupMs: num("global-warmup"),
  sampleEvery: num("sample-every"),
  cases,
  contenders: only,
  log: (c) => console.log(Report.caseLine(c))
}))

if (overhead !== undefined) {
  console.log(
    [
      "",
      "Throughput (ops/s (CPU µs/op), median of rounds):",
      Report.throughputTable(overhead),
      "",
      "Ratios (ops/s):",
      Report.ratioTable(overhead),
      "",
      "p99 acquire latency (µs):",
      Report.latencyTable(overhead),
      "",
      Report.fairnessTable(overhead),
      "",
      Report.bargingNotes(overhead),
      "",
      `${overhead.rounds} rounds × ${overhead.durationMs} ms, ${Math.round(overhead.totalSeconds)} s in all`,
      ""
    ].join("\n")
  )
}

const sql = skip.includes("sql") ? undefined : await Effect.runPromise(SelectOne.run({
  quick,
  durationMs: num("sql-duration"),
  rounds: num("sql-rounds"),
  cases: sqlCases,
  workloads: sqlWorkloads,
  databases: (["pg", "mysql"] as const).filter((d) => !skip.includes(d)),
  log: (line) => console.log(line)
}))

if (sql !== undefined) {
  console.log(
    [
      "",
      "SQL: queries (transactions)/s (p99 ms, client CPU µs per query), median of rounds:",
      SelectOne.table(sql),
      "",
      `${sql.rounds} rounds × ${sql.durationMs} ms, ${Math.round(sql.totalSeconds)} s in all`
    ].join("\n")
  )
}

const pipeline = skip.includes("pipeline") || skip.includes("pg") ? undefined : await Effect.runPromise(Pipeline.run({
  quick,
  durationMs: num("pipeline-duration"),
  rounds: num("pipeline-rounds"),
  log: (line) => console.log(line)
}))

if (pipeline !== undefined) {
  console.log(
    [
      "",
      "Pipelining: queries/s (p99 ms, client CPU µs/query), median of rounds:",
      Pipeline.table(pipeline),
      "",
      `${pipeline.rounds} rounds × ${pipeline.durationMs} ms, ${Math.round(pipeline.totalSeconds)} s in all`
    ].join("\n")
  )
}

const sizing = skip.includes("sizing") || skip.includes("pg") ? undefined : await Effect.runPromise(Sizing.run({
  // quick: a smoke run of every step (the full run's 20 s curve and 5 s idle are what the figures need)
  seconds: num("sizing-seconds") ?? (quick ? 1 : undefined),
  idleMs: quick ? 1000 : undefined,
  log: (line) => console.log(line)
}))

if (sizing !== undefined) {
  console.log(
    ["", "Adaptive sizing on PostgreSQL:", Sizing.table(sizing), "", `${Math.round(sizing.totalSeconds)} s in all`]
      .join(
        "\n"
      )
  )
}

const memory = skip.includes("memory") ? undefined : await Effect.runPromise(Memory.run({
  quick,
  repetitions: num("memory-repetitions") ?? num("rounds"),
  count: num("memory-count"),
  comparisons: Memory.comparisons.filter((c) => !skip.includes(c)),
  log: (line) => console.log(line)
}))

if (memory !== undefined) {
  console.log(
    [
      "",
      "Memory: heap per idle pooled connection beyond the driver's own, after GC:",
      Memory.table(memory),
      `${memory.repetitions} process(es) per figure, ${Math.round(memory.totalSeconds)} s in all`,
      ""
    ].join("\n")
  )
}

const scale = skip.includes("scale") ? undefined : await Effect.runPromise(Scale.run({
  quick,
  durationMs: num("scale-duration") ?? num("duration"),
  rounds: num("scale-rounds") ?? num("rounds"),
  parts: scaleParts,
  waiterFibers: scaleFibers,
  log: (line) => console.log(line)
}))

if (scale !== undefined) {
  console.log(["", "Scale:", Scale.tables(scale), "", `${Math.round(scale.totalSeconds)} s in all`, ""].join("\n"))
}

const totalSeconds = (Date.now() - runStarted) / 1000
console.log(`${command}: ${Math.round(totalSeconds)} s in total${quick ? " (quick mode: must stay under 60 s)" : ""}`)

if (write) {
  const docs = (file: string) => fileURLToPath(new URL(`../../../docs/${file}`, import.meta.url))
  const done = { ...machineNow(), date: machine.date }
  const sqlSection = sql === undefined ? [] : [
    "## `SELECT 1` and a transaction: queries per second and client CPU per query through each pool",
    "",
    "`workers` fibers (for the raw driver pools, as many plain async functions awaiting the driver) loop",
    "`SELECT 1` (or a transaction: BEGIN, three `SELECT ?` with a parameter, COMMIT, through `sql.withTransaction`",
    "for the Effect clients) through a pool of `pool` connections, opened before the round. Contenders run",
    "interleaved round by round; queries completing within the round count; p99 is per query, from asking to the",
    "result. CPU µs/query is the benchmark process's CPU time (`process.cpuUsage`, user + system) over the counted",
    "window divided by the queries completed in it. On MySQL, dbpool and @effect/sql-mysql2 run statements with",
    "mysql2's `execute` (the prepared protocol): raw mysql2 is shown with `execute` and with `query`.",
    `${sql.rounds} rounds of ${sql.durationMs} ms, medians over the rounds. pgbench runs a \`SELECT 1;\` script`,
    "with `-c workers -j 2 -T seconds`, simple and prepared protocol, for comparison with a C client.",
    "",
    SelectOne.table(sql),
    ""
  ]
  const overheadSection = overhead === undefined
    ? ["# Benchmarks", "", Compiled.note, ""]
    : [Report.markdown(overhead, done, command)]
  const pipelineSection = pipeline === undefined ? [] : [Pipeline.markdown(pipeline)]
  const sizingSection = sizing === undefined ? [] : [Sizing.markdown(sizing)]
  const memorySection = memory === undefined ? [] : [Memory.markdown(memory)]
  const scaleSection = scale === undefined ? [] : [Scale.markdown(scale)]
  // The processes benchmark runs on its own (`npm run bench:processes`): its section is kept.
  const processesSection = existsSync(docs("benchmarks.md"))
    ? Processes.sectionOf(readFileSync(docs("benchmarks.md"), "utf8"))
    : undefined
  const text = [
    ...overheadSection,
    ...sqlSection,
    ...pipelineSection,
    ...sizingSection,
    ...memorySection,
    ...scaleSection
  ]
    .join("\n")
  writeFileSync(
    docs("benchmarks.md"),
    processesSection === undefined ? text : Processes.replaceSection(text, processesSection)
  )
  writeFileSync(
    docs("benchmarks.json"),
    JSON.stringify(
      {
        command,
        machine: done,
        runSeconds: totalSeconds,
        ...overhead,
        selectOne: sql,
        pipeline,
        sizing,
        memory,
        scale
      },
      null,
      2
    ) +
      "\n"
  )
  console.log(`wrote ${docs("benchmarks.md")} and ${docs("benchmarks.json")}`)
}

if (overhead !== undefined && overhead.leaks.length > 0) {
  console.error(`LEAKS:\n${overhead.leaks.join("\n")}`)
  process.exitCode = 1
}
