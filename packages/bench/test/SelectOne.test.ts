import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Pg from "pg"
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

describe("SelectOne", () => {
  // Real time is the point: queries go to the servers CI starts (PostgreSQL and MariaDB).
  it.live(
    "runs every contender on both servers, interleaved, and every pool it opened is closed afterwards",
    () =>
      Effect.gen(function*() {
        const lines: Array<string> = []
        const report = yield* SelectOne.run({
          durationMs: 200,
          rounds: 2,
          cases: [{ size: 2, workers: 4 }],
          pgbench: false,
          log: (line) => lines.push(line)
        })
        expect(report.skipped).toEqual([])
        expect(report.cases.map((c) => `${c.database} ${c.workload} ${c.size}/${c.workers}`)).toEqual([
          "pg select1 2/4",
          "pg transaction 2/4",
          "mysql select1 2/4",
          "mysql transaction 2/4"
        ])
        for (const c of report.cases) {
          expect(c.failures).toEqual([])
          expect(c.contenders.map((x) => x.id)).toEqual(
            c.database === "pg" ? ["dbpool", "raw", "effect.sql"] : ["dbpool", "raw", "raw.query", "effect.sql"]
          )
          for (const x of c.contenders) {
            expect(x.rounds).toHaveLength(2)
            for (const r of x.rounds) {
              expect(r.errors).toBe(0)
              expect(r.queries).toBeGreaterThan(0)
              expect(r.p50).toBeLessThanOrEqual(r.p99)
              expect(r.cpuUsPerQuery).toBeGreaterThan(0)
            }
            expect(x.qps).toBeGreaterThan(0)
          }
        }
        expect(lines).toHaveLength(4)
        expect(report.pgbench).toEqual({ note: "pgbench not run (disabled)", runs: [] })
        const table = SelectOne.table(report)
        expect(table).toContain("dbpool / raw pg.Pool")
        expect(table).toContain("dbpool / @effect/sql-mysql2 MysqlClient")
        expect(table).toContain("dbpool / raw mysql2 pool query")
        expect(table).toContain("CPU dbpool / raw pg.Pool")
        expect(table).toContain("raw pg.Pool tx/s (p99 ms, CPU µs/tx)")
        expect(yield* Effect.promise(benchConnections)).toBe(0)
      }),
    30_000
  )

  it("the table shows a skipped server and a failed pgbench run as notes, never as figures", () => {
    const table = SelectOne.table({
      quick: true,
      durationMs: 1000,
      rounds: 1,
      startedAt: "2026-01-01T00:00:00.000Z",
      totalSeconds: 1,
      cases: [],
      skipped: ["mysql at 127.0.0.1:3306 does not answer (connect ECONNREFUSED): skipped"],
      pgbench: {
        note: "pgbench at /usr/bin/pgbench, median of 1 runs of 1 s",
        runs: [{
          workers: 50,
          clients: 50,
          protocol: "simple",
          seconds: 1,
          tps: undefined,
          latencyAvgMs: undefined,
          error: "boom"
        }]
      }
    })
    expect(table.split("\n")).toEqual([
      "- mysql at 127.0.0.1:3306 does not answer (connect ECONNREFUSED): skipped",
      "- pgbench at /usr/bin/pgbench, median of 1 runs of 1 s",
      "- pgbench -c 50 -M simple failed: boom"
    ])
  })
})
