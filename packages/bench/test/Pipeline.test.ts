import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Pg from "pg"
import * as Pipeline from "../src/Pipeline.js"
import * as SelectOne from "../src/SelectOne.js"

const benchConnections = async (): Promise<number> => {
  const client = new Pg.Client({ host: "127.0.0.1", port: 5432, user: "postgres", database: "test" })
  await client.connect()
  try {
    const r = await client.query<{ n: string }>(
      "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1",
      [SelectOne.applicationName]
    )
    return Number(r.rows[0]!.n)
  } finally {
    await client.end()
  }
}

describe("Pipeline", () => {
  // Real time is the point: queries go to the PostgreSQL server CI starts, through a proxy of the run's own.
  it.live(
    "runs every contender through the proxy and direct, and every pool it opened is closed afterwards",
    () =>
      Effect.gen(function*() {
        const lines: Array<string> = []
        const report = yield* Pipeline.run({
          durationMs: 200,
          rounds: 1,
          cases: [{ latencyMs: 1, size: 2, workers: 8 }, { latencyMs: 0, size: 2, workers: 8 }],
          log: (line) => lines.push(line)
        })
        expect(report.cases.map((c) => `${c.latencyMs} ${c.size}/${c.workers}`)).toEqual(["1 2/8", "0 2/8"])
        for (const c of report.cases) {
          expect(c.failures).toEqual([])
          expect(c.contenders.map((x) => x.id)).toEqual(["raw", "dbpool", "dbpool.pipeline"])
          for (const x of c.contenders) {
            expect(x.qps).toBeGreaterThan(0)
            expect(x.cpuPerQueryUs).toBeGreaterThan(0)
          }
        }
        expect(lines).toHaveLength(2)
        const table = Pipeline.table(report)
        expect(table).toContain("| proxy, +1 ms each way | 2 / 8 |")
        expect(table).toContain("| direct | 2 / 8 |")
        expect(Pipeline.markdown(report)).toContain("## Pipelining")
        // Pools and proxies are closed with their round: nothing of the benchmark is left on the server.
        let left = yield* Effect.promise(benchConnections)
        for (let i = 0; i < 100 && left > 0; i++) {
          yield* Effect.sleep("20 millis")
          left = yield* Effect.promise(benchConnections)
        }
        expect(left).toBe(0)
      }),
    60_000
  )
})
