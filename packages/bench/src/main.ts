/**
 * `npm run bench [-- flags]`: runs the overhead benchmark, prints the tables,
 * and (for a full, unfiltered run, or with `--write`) writes
 * docs/benchmarks.md and docs/benchmarks.json.
 *
 * Flags: `--quick` (under a minute), `--duration=MS`, `--rounds=N`,
 * `--warmup=MS`,
 * `--global-warmup=MS`, `--sample-every=N`, `--cases=10/100,100/1000`,
 * `--only=dbpool.use,effect.Pool`, `--write`, `--no-write`.
 */
import * as Effect from "effect/Effect"
import { writeFileSync } from "node:fs"
import * as os from "node:os"
import { fileURLToPath } from "node:url"
import * as Overhead from "./Overhead.js"
import * as Report from "./Report.js"

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
  "only"
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
const quick = flag("quick")
const write = flag("write") || (!flag("no-write") && !quick && cases === undefined && only === undefined &&
  value("duration") === undefined && value("rounds") === undefined)

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
const report = await Effect.runPromise(Overhead.run({
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

console.log(
  [
    "",
    "Throughput (ops/s, median of rounds):",
    Report.throughputTable(report),
    "",
    "p99 acquire latency (µs):",
    Report.latencyTable(report),
    "",
    Report.fairnessTable(report),
    "",
    `${report.rounds} rounds × ${report.durationMs} ms, ${Math.round(report.totalSeconds)} s in all`
  ].join("\n")
)

if (write) {
  const docs = (file: string) => fileURLToPath(new URL(`../../../docs/${file}`, import.meta.url))
  const done = { ...machineNow(), date: machine.date }
  writeFileSync(docs("benchmarks.md"), Report.markdown(report, done, command))
  writeFileSync(docs("benchmarks.json"), JSON.stringify({ command, machine: done, ...report }, null, 2) + "\n")
  console.log(`wrote ${docs("benchmarks.md")} and ${docs("benchmarks.json")}`)
}

if (report.leaks.length > 0) {
  console.error(`LEAKS:\n${report.leaks.join("\n")}`)
  process.exitCode = 1
}
