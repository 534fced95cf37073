import * as Effect from "effect/Effect"
import * as SelectOne from "./SelectOne.js"
const db = (process.env.DB ?? "pg") as SelectOne.Database
const wl = (process.env.WL ?? "select1") as SelectOne.Workload
const ids = (process.env.IDS ?? "dbpool").split(",") as Array<SelectOne.ContenderId>
const report = await Effect.runPromise(SelectOne.run({
  durationMs: Number(process.env.DUR ?? 5000), rounds: Number(process.env.ROUNDS ?? 1), cases: [{ size: 10, workers: 50 }],
  databases: [db], workloads: [wl], contenders: ids, pgbench: false, log: console.log
}))
console.log(SelectOne.table(report))
