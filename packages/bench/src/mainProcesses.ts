/**
 * `npm run bench:processes [-- flags]`: the processes benchmark alone (see Processes.ts): N application
 * processes × a dbpool pool, directly and through PgBouncer. Prints its table and, with `--write`, puts its
 * section into docs/benchmarks.md (replacing the previous one; the other sections are kept) and its rows
 * into docs/benchmarks-processes.json.
 *
 * Flags: `--quick` (N = 4 only, 1 round of 300 ms: under a minute), `--rounds=N`, `--duration=MS`, `--warmup=MS`,
 * `--counts=1,2,4,8`, `--pool=P`, `--workers=W`, `--bouncer-pool=N`, `--low-max=N`, `--write`.
 *
 * Like `npm run bench`, it builds first and runs dbpool compiled, in its children too.
 */
import * as Effect from "effect/Effect"
import { readFileSync, writeFileSync } from "node:fs"
import * as os from "node:os"
import { fileURLToPath } from "node:url"
import * as Compiled from "./internal/compiled.js"
import * as Processes from "./Processes.js"

Compiled.assertCompiled()

const args = process.argv.slice(2)
const options = Processes.parseArgs(args)
const command = ["npm run bench:processes", ...(args.length > 0 ? ["--", ...args] : [])].join(" ")
const loadBefore = os.loadavg()
const started = new Date()
const cpu = os.cpus()[0]?.model.trim() ?? "unknown CPU"
console.log(`${command}: ${os.availableParallelism()} CPUs, ${cpu}, Node ${process.version}`)

const report = await Effect.runPromise(Processes.run({ ...options, log: (line) => console.log(line) }))
const loadAfter = os.loadavg()
const load = (l: ReadonlyArray<number>) => l.map((x) => x.toFixed(1)).join(" / ")
const description = `Machine: ${os.availableParallelism()} CPUs (\`nproc\`), ${cpu}, Node ${process.version}, ` +
  `${os.platform()} ${os.release()} ${os.arch()}. Date: ${started.toISOString()}, ${
    Math.round(report.totalSeconds)
  } s ` +
  `in all. Load average (1/5/15 min): ${load(loadBefore)} before, ${load(loadAfter)} after. The children, ` +
  "PgBouncer and the three servers share these CPUs."

console.log(["", Processes.table(report), "", description].join("\n"))
console.log(
  `${command}: ${Math.round(report.totalSeconds)} s${options.quick ? " (quick mode: must stay under 60 s)" : ""}`
)

if (options.write) {
  const docs = (file: string) => fileURLToPath(new URL(`../../../docs/${file}`, import.meta.url))
  const section = Processes.markdown(report, { command, description })
  writeFileSync(docs("benchmarks.md"), Processes.replaceSection(readFileSync(docs("benchmarks.md"), "utf8"), section))
  writeFileSync(
    docs("benchmarks-processes.json"),
    JSON.stringify({ command, date: started.toISOString(), loadBefore, loadAfter, ...report }, null, 2) + "\n"
  )
  console.log(`wrote ${docs("benchmarks.md")} and ${docs("benchmarks-processes.json")}`)
}
