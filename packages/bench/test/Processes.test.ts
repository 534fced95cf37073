/**
 * The processes benchmark's harness without servers: its flags, how the children's results and the server
 * samples make a row, how errors are named, and the table and section it writes. (The run itself is the
 * benchmark: `npm run bench:processes -- --quick`.)
 */
import { describe, expect, it } from "@effect/vitest"
import type { ChildResult } from "../src/internal/processesModel.js"
import { combine, errorKind, summarize, tooManyConnections } from "../src/internal/processesModel.js"
import * as Processes from "../src/Processes.js"

const result = (over: Partial<ChildResult>): ChildResult => ({
  type: "result",
  workload: "select1",
  windowMs: 2000,
  latencies: [],
  errors: 0,
  errorKinds: {},
  connections: 10,
  connectFailures: 0,
  preparedOnServer: null,
  ...over
})

const shape = {
  target: "direct-low",
  processes: 2,
  pool: 10,
  workers: 20,
  workload: "select1",
  startFailures: []
} as const

describe("Processes", () => {
  it("parses its flags, and names the flags when one is unknown or malformed", () => {
    expect(Processes.parseArgs(["--quick", "--counts=1,2,8", "--pool=5", "--bouncer-pool=15"])).toEqual({
      quick: true,
      write: false,
      rounds: undefined,
      durationMs: undefined,
      warmupMs: undefined,
      counts: [1, 2, 8],
      pool: 5,
      workers: undefined,
      bouncerPoolSize: 15,
      lowMaxConnections: undefined
    })
    expect(Processes.parseArgs(["--write", "--duration=3000", "--warmup=0", "--low-max=40", "--workers=20"]))
      .toMatchObject({ write: true, durationMs: 3000, warmupMs: 0, lowMaxConnections: 40, workers: 20 })
    expect(() => Processes.parseArgs(["--sql-rounds=3"])).toThrow(
      "unknown argument --sql-rounds=3; flags: --quick, --write, --rounds, --duration"
    )
    expect(() => Processes.parseArgs(["--counts=1,x"])).toThrow("--counts: expected whole numbers ≥ 1, got x")
    expect(() => Processes.parseArgs(["--pool=0"])).toThrow("--pool: expected a whole number ≥ 1, got 0")
  })

  it("names a refused connection 'too many connections' wherever it is down the chain, other errors by their tags", () => {
    const refused = { _tag: "TooManyConnectionsError", code: "53300", cause: new Error("sorry, too many clients") }
    expect(errorKind({ _tag: "SqlError", cause: { _tag: "ConnectError", cause: refused } })).toBe(tooManyConnections)
    expect(errorKind(new Error("FATAL: no more connections allowed (max_client_conn)"))).toBe(tooManyConnections)
    expect(errorKind({ _tag: "SqlError", cause: { _tag: "ConnectionLostError", cause: new Error("EPIPE") } }))
      .toBe("SqlError / ConnectionLostError / EPIPE")
    expect(errorKind({ _tag: "AcquireTimeoutError" })).toBe("AcquireTimeoutError")
  })

  it("sums throughput, errors and connections over the processes and takes p99 over every operation", () => {
    // Process 1: 100 operations of 1 ms; process 2: 97 of 2 ms and 3 of 50 ms, and errors. 200 in all,
    // sorted: p99 is the 198th (ceil(0.99 × 200)), the first of the 50 ms ones.
    const row = summarize(shape, [
      result({ latencies: Array.from({ length: 100 }, () => 1), preparedOnServer: 0 }),
      result({
        latencies: [...Array.from({ length: 97 }, () => 2), 50, 50, 50],
        errors: 7,
        errorKinds: { [tooManyConnections]: 5, AcquireTimeoutError: 2 },
        connections: 7,
        connectFailures: 12,
        preparedOnServer: 3
      })
    ], [{ open: 10, busy: 3 }, { open: 17, busy: 9 }, { open: 17, busy: 5 }])
    expect(row).toEqual({
      ...shape,
      opsPerSecond: 100, // 200 operations over 2 s
      opsRange: [100, 100],
      p99Ms: 50,
      errors: 7,
      tooManyConnections: 5,
      errorKinds: { [tooManyConnections]: 5, AcquireTimeoutError: 2 },
      server: { peakOpen: 17, peakBusy: 9, medianBusy: 5 },
      connections: { fewest: 7, total: 17 },
      connectFailures: 12,
      peakWaitingAtBouncer: null,
      preparedOnServer: 3
    })
  })

  it("combines rounds: medians of throughput and p99, the highest peaks, errors summed, the fewest connections", () => {
    const round = (ops: number, p99: number, busy: number, errors: number, fewest: number) =>
      summarize(shape, [
        result({
          windowMs: 1000,
          latencies: Array.from({ length: ops }, () => p99),
          errors,
          errorKinds: errors === 0 ? {} : { [tooManyConnections]: errors },
          connections: fewest,
          connectFailures: errors
        })
      ], [{ open: 10 + busy, busy }])
    const row = combine([round(100, 9, 4, 0, 10), round(300, 5, 2, 2, 8), round(200, 7, 6, 1, 9)])
    expect(row).toMatchObject({
      opsPerSecond: 200,
      opsRange: [100, 300],
      p99Ms: 7,
      errors: 3,
      tooManyConnections: 3,
      errorKinds: { [tooManyConnections]: 3 },
      server: { peakOpen: 16, peakBusy: 6, medianBusy: 4 },
      connections: { fewest: 8, total: 8 },
      connectFailures: 2,
      peakWaitingAtBouncer: null
    })
    const atBouncer = [{ ...row, peakWaitingAtBouncer: 3 }, { ...row, peakWaitingAtBouncer: 9 }]
    expect(combine(atBouncer).peakWaitingAtBouncer).toBe(9)
  })

  it("writes a table row per case with its notes, and replaces only its own section of docs/benchmarks.md", () => {
    const row = summarize(
      shape,
      [
        result({ latencies: [1, 1, 2, 4], errors: 3, errorKinds: { [tooManyConnections]: 3 }, connections: 0 }),
        result({ latencies: [1, 3], connections: 10, connectFailures: 4 })
      ],
      [{ open: 10, busy: 2 }],
      [0, 6, 2]
    )
    const report: Processes.Report = {
      quick: true,
      rounds: 1,
      durationMs: 2000,
      warmupMs: 100,
      pool: 10,
      workers: 20,
      bouncerPoolSize: 20,
      maxConnections: 100,
      lowMaxConnections: 40,
      rows: [row, {
        ...row,
        target: "pgbouncer",
        workload: "transaction",
        preparedOnServer: 0,
        errors: 0,
        tooManyConnections: 0,
        errorKinds: {}
      }],
      totalSeconds: 12
    }
    const table = Processes.table(report)
    expect(table.split("\n").slice(2, 4)).toEqual([
      "| direct (max_connections 40) | 2 × 10 = 20 | SELECT 1 (q/s) | 3 | 4.00 | 10 / 0 | 10 / 2 / 2 | 6 | 3 (3) | 4 |  |",
      "| PgBouncer, transaction mode, pool 20 (server max_connections 40) | 2 × 10 = 20 | transaction (tx/s) | 3 | 4.00 | " +
      "10 / 0 | 10 / 2 / 2 | 6 | 0 (0) | 4 | 0 |"
    ])
    expect(table).toContain("- direct (max_connections 40), 2 × 10, select1: errors by kind: too many connections: 3")
    const section = Processes.markdown(report, {
      command: "npm run bench:processes -- --quick",
      description: "Machine: test."
    })
    expect(section.startsWith(`${Processes.heading}\n`)).toBe(true)
    expect(section).toContain("Command: `npm run bench:processes -- --quick`")

    const docs = "# Benchmarks\n\n## Other\n\ntext\n"
    const once = Processes.replaceSection(docs, section)
    expect(once).toBe(`${docs}\n${section}`)
    const twice = Processes.replaceSection(
      once + "\n## After\n\nmore\n",
      "## More than one application process: N processes, direct and through PgBouncer\n\nnew\n"
    )
    expect(twice).toBe(`${docs}\n${Processes.heading}\n\nnew\n\n## After\n\nmore\n`)
    // What `npm run bench` keeps when it rewrites the file.
    expect(Processes.sectionOf(docs)).toBeUndefined()
    expect(Processes.sectionOf(once)).toBe(section)
    expect(Processes.sectionOf(twice)).toBe(`${Processes.heading}\n\nnew\n\n`)
  })
})
