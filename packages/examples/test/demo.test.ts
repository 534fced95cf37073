import * as Database from "@dbpool/examples/demo/Database"
import * as Demo from "@dbpool/examples/demo/Demo"
import * as Scenario from "@dbpool/examples/demo/Scenario"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type * as childProcess from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { mysqlIsUp, mysqlUrl, requireMysql } from "./utils/mysql.js"
import { postgresIsUp, postgresUrl, requirePostgres, serverConnections } from "./utils/postgres.js"
import { run } from "./utils/process.js"

const packageDir = path.resolve(import.meta.dirname, "..")
const rootDir = path.resolve(packageDir, "../..")
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dbpool-demo-test-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
const postgres = await postgresIsUp()
const mysql = await mysqlIsUp()

/** The SQLite files of `dir` this process still has open (from /proc/self/fd). */
const openDatabaseFiles = (): ReadonlyArray<string> =>
  fs.readdirSync("/proc/self/fd").flatMap((fd) => {
    try {
      const target = fs.readlinkSync(path.join("/proc/self/fd", fd))
      return target.startsWith(dir) ? [target] : []
    } catch {
      return []
    }
  })

/** Runs `npm start`'s program as a child process, as a user would (output to a pipe: not a terminal). */
const runDemo = (
  env: Record<string, string>,
  onOutput?: (stdout: string, child: childProcess.ChildProcess) => void,
  args: ReadonlyArray<string> = []
) =>
  run(
    process.execPath,
    ["--import", "tsx", "src/demo.ts", ...args],
    { cwd: packageDir, env: { ...process.env, ...env } },
    onOutput
  )

describe("the demo (npm start)", () => {
  it("runs 20 workers to the end, prints a plain line per update and a clean summary, and exits 0", async () => {
    const file = path.join(dir, "child.db")
    const { code, stderr, stdout } = await runDemo({ DATABASE_URL: `sqlite:${file}` })
    expect(stderr).toBe("")
    expect(code).toBe(0)
    const lines = stdout.split("\n")
    expect(lines[0]).toBe(`dbpool demo: 20 workers × 100 queries on SQLite file ${file}`)
    // Not a terminal: no cursor movement, one line per update, the last at 100%.
    expect(stdout).not.toContain("\x1b[")
    const updates = lines.filter((line) => /^\[\s*\d+\.\d s\]/.test(line))
    expect(updates.length).toBeGreaterThanOrEqual(2)
    expect(updates[updates.length - 1]).toMatch(/^\[\s*\d+\.\d s\] 100%  2000\/2000 queries .* \| errors 0$/)
    expect(lines).toContain("Summary")
    expect(stdout).toMatch(
      /queries {7}2,000 by 20 workers in \d+\.\d\d s \(\d[\d,]* q\/s\): 2,840 statements, 400 transactions committed, 40 rolled back on purpose/
    )
    expect(stdout).toContain("  errors        0\n")
    expect(stdout).toContain(
      "balances sum to 100,000 (expected 100,000); 1200 events (expected 1200); 0 rows left by rolled-back transactions"
    )
    expect(stdout).toContain(`  data          SQLite file ${file}: tables demo_accounts and demo_events`)
    // Nothing leaked: every connection the pool opened was closed.
    const [, created, closed] = /connections {3}(\d+) created, (\d+) closed/.exec(stdout)!
    expect(Number(created)).toBeGreaterThanOrEqual(2)
    expect(closed).toBe(created)
  }, 120_000)

  it("serves the dashboard while it runs and prints its address; with --keep, stays open until Ctrl-C", async () => {
    const file = path.join(dir, "keep.db")
    let url: string | undefined
    let stats: { readonly status: number; readonly pools: ReadonlyArray<string> } | undefined
    let asked = false
    const { code, stderr, stdout } = await runDemo({ DATABASE_URL: `sqlite:${file}` }, (out, child) => {
      url ??= /^dashboard: (http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(out)?.[1]
      if (asked || url === undefined || !out.includes("Ctrl-C to stop")) return
      asked = true
      // Kept open after the scenario: the dashboard still answers, then Ctrl-C ends the program.
      fetch(`${url}stats`).then(async (response) => {
        const body = await response.json() as { pools: ReadonlyArray<{ name: string }> }
        stats = { status: response.status, pools: body.pools.map((p) => p.name) }
      }).finally(() => child.kill("SIGINT"))
    }, ["--keep"])
    expect(stderr).toBe("")
    expect(stdout.split("\n")[1]).toMatch(/^dashboard: http:\/\/127\.0\.0\.1:\d+\/$/)
    expect(stats).toEqual({ status: 200, pools: ["demo"] })
    const kept = stdout.indexOf(
      "\nThe scenario is done; the pool and the dashboard stay open under a light load. Ctrl-C to stop.\n"
    )
    expect(kept).toBeGreaterThan(0)
    expect(stdout).toContain(" 2000/2000 queries")
    expect(stdout).toMatch(/\nStopped: closing the pool\.\n$/)
    expect(code).toBe(130)
  }, 120_000)

  it("DATABASE_URL=sqlite:./file is the file in the directory npm start was run in, not the workspace's", async () => {
    // As a user would: `npm start` from a directory of their own (npm runs the demo from the workspace).
    const userDir = fs.mkdtempSync(path.join(dir, "user-"))
    const { code, stderr, stdout } = await run("npm", ["--prefix", rootDir, "start"], {
      cwd: userDir,
      env: { ...process.env, DATABASE_URL: "sqlite:./relative.db", INIT_CWD: undefined }
    })
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" })
    const file = path.join(userDir, "relative.db")
    expect(stdout).toContain(`dbpool demo: 20 workers × 100 queries on SQLite file ${file}\n`)
    expect(fs.existsSync(file)).toBe(true)
    expect(fs.existsSync(path.join(packageDir, "relative.db"))).toBe(false)
  }, 120_000)

  it.effect("resolves a relative sqlite:<file> against the directory it is given; an absolute one as it is", () =>
    Effect.gen(function*() {
      const base = fs.mkdtempSync(path.join(dir, "base-"))
      const relative = yield* Database.fromUrl("sqlite:./sub/r.db", { maxConnections: 1 }, base)
      const plain = yield* Database.fromUrl("sqlite:p.db", { maxConnections: 1 }, base)
      const absolute = yield* Database.fromUrl(`sqlite:${path.join(dir, "a.db")}`, { maxConnections: 1 }, base)
      expect([relative.where, plain.where, absolute.where]).toEqual([
        `SQLite file ${path.join(base, "sub", "r.db")}`,
        `SQLite file ${path.join(base, "p.db")}`,
        `SQLite file ${path.join(dir, "a.db")}`
      ])
    }))

  it("runs the same against PostgreSQL when DATABASE_URL names it, and leaves no connection open", async (ctx) => {
    requirePostgres(postgres, ctx)
    const { code, stderr, stdout } = await runDemo({ DATABASE_URL: postgresUrl })
    expect(stderr).toBe("")
    expect(code).toBe(0)
    expect(stdout.split("\n")[0]).toBe(`dbpool demo: 20 workers × 100 queries on PostgreSQL at ${postgresUrl}`)
    expect(stdout).toMatch(/queries {7}2,000 by 20 workers in .*: 2,840 statements, 400 transactions committed/)
    expect(stdout).toContain("  errors        0\n")
    expect(stdout).toContain(
      "balances sum to 100,000 (expected 100,000); 1200 events (expected 1200); 0 rows left by rolled-back transactions"
    )
    const [, created, closed] = /connections {3}(\d+) created, (\d+) closed/.exec(stdout)!
    expect(closed).toBe(created)
    expect(await serverConnections("dbpool-demo")).toBe(0)
  }, 120_000)

  it("stops on Ctrl-C: says how far it got, closes the pool, and exits 130", async (ctx) => {
    requirePostgres(postgres, ctx)
    let sent = false
    const { code, stderr, stdout } = await runDemo({ DATABASE_URL: postgresUrl }, (out, child) => {
      if (!sent && /\] +\d+%  [1-9]\d*\/2000 queries/.test(out)) {
        sent = true
        child.kill("SIGINT")
      }
    })
    expect(sent).toBe(true)
    expect(stderr).toBe("")
    expect(code).toBe(130)
    expect(stdout).toMatch(/\nInterrupted after \d+ of 2000 queries: closing the pool\.\n$/)
    expect(stdout).not.toContain("Summary")
    expect(await serverConnections("dbpool-demo")).toBe(0)
  }, 120_000)

  it("runs the same against MySQL/MariaDB when DATABASE_URL names it", async (ctx) => {
    requireMysql(mysql, ctx)
    const { code, stderr, stdout } = await runDemo({ DATABASE_URL: mysqlUrl })
    expect(stderr).toBe("")
    expect(code).toBe(0)
    expect(stdout.split("\n")[0]).toBe(`dbpool demo: 20 workers × 100 queries on MySQL/MariaDB at ${mysqlUrl}`)
    expect(stdout).toMatch(/queries {7}2,000 by 20 workers in .*: 2,840 statements, 400 transactions committed/)
    expect(stdout).toContain("  errors        0\n")
    expect(stdout).toContain(
      "balances sum to 100,000 (expected 100,000); 1200 events (expected 1200); 0 rows left by rolled-back transactions"
    )
    const [, created, closed] = /connections {3}(\d+) created, (\d+) closed/.exec(stdout)!
    expect(closed).toBe(created)
  }, 120_000)

  it("refuses a URL whose password it would otherwise print, showing it as ***", async () => {
    const { code, stderr, stdout } = await runDemo({ DATABASE_URL: "oracle://app:s3cret@127.0.0.1:1521/test" })
    expect(code).toBe(1)
    expect(stdout).toBe("")
    expect(stderr).toBe(
      "The demo cannot run: DATABASE_URL=oracle://app:***@127.0.0.1:1521/test: unknown scheme \"oracle\"; " +
        "use postgres://, mysql:// or sqlite:<file> (or no DATABASE_URL)\n"
    )
    expect(openDatabaseFiles()).toEqual([])
  }, 60_000)

  it("reports a server that is not there within seconds, with the driver's cause, and exits 1", async () => {
    const started = Date.now()
    const { code, stderr, stdout } = await runDemo({ DATABASE_URL: "postgres://app:s3cret@127.0.0.1:1/test" })
    expect(code).toBe(1)
    expect(stdout).toBe("dbpool demo: 20 workers × 100 queries on PostgreSQL at postgres://app:***@127.0.0.1:1/test\n")
    expect(stderr).toBe(
      "The demo cannot run: Cannot connect (pool \"demo\", 3 attempts): " +
        "Cannot reach the PostgreSQL server at 127.0.0.1:1 (ECONNREFUSED): connect ECONNREFUSED 127.0.0.1:1\n"
    )
    // Three refused attempts 200 ms and 400 ms apart (jittered), plus Node's start: well under the 35 s default.
    expect(Date.now() - started).toBeLessThan(30_000)
  }, 60_000)

  it.live(
    "at a small scale, does exactly the scenario's work and closes every connection",
    () =>
      Effect.gen(function*() {
        const out: Array<string> = []
        const summary = yield* Demo.run({
          ...Scenario.defaults,
          workers: 4,
          queriesPerWorker: 50,
          pause: "0 millis",
          url: `sqlite:${path.join(dir, "small.db")}`,
          tty: true,
          write: (text) => out.push(text)
        })
        expect({
          queries: summary.queries,
          statements: summary.statements,
          committed: summary.committed,
          rolledBack: summary.rolledBack,
          errors: summary.errors,
          outcome: summary.outcome
        }).toEqual({
          // per worker: 20 inserts, 19 selects, 10 transfers (3 statements), 1 rollback (2 statements)
          queries: 200,
          statements: 284,
          committed: 40,
          rolledBack: 4,
          errors: 0,
          outcome: { totalBalance: 100_000, expectedBalance: 100_000, rolledBackRowsFound: 0, events: 120 }
        })
        // On a terminal the status is redrawn in place.
        expect(out.slice(2).every((text) => text.startsWith("\x1b[2F\x1b[2K"))).toBe(true)
        expect(summary.stats.totalConnections).toBe(0)
        expect(summary.stats.connectionsClosed.closed).toBe(summary.stats.connectionsCreated)
        expect(openDatabaseFiles()).toEqual([])
      }),
    60_000
  )

  it.effect("rejects an unknown scheme, naming the ones it knows, before opening anything", () =>
    Effect.gen(function*() {
      const unknown = yield* Effect.flip(
        Demo.run({ ...Scenario.defaults, url: "oracle://x", tty: false, write: () => {} })
      )
      expect(unknown.message).toBe(
        `DATABASE_URL=oracle://x: unknown scheme "oracle"; use postgres://, mysql:// or sqlite:<file> (or no DATABASE_URL)`
      )
      expect(openDatabaseFiles()).toEqual([])
    }))
})
