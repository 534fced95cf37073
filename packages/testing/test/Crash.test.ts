import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { alive } from "./utils/Clients.js"
import { until } from "./utils/Wait.js"

const packageDir = Path.resolve(import.meta.dirname, "..")

interface Report {
  readonly pids: ReadonlyArray<number>
  readonly dirs: ReadonlyArray<string>
}

/**
 * Runs test/fixtures/crash.ts with its own TMPDIR: it starts a PgCluster, a MariaServer and a PgBouncer,
 * prints their pids and directories, and dies in the given way without closing its scope.
 */
const crashChild = (how: string) =>
  Effect.gen(function*() {
    const tmp = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "dbpool-crashtest-"))
        Fs.chmodSync(dir, 0o755) // the servers' users must reach their directories inside
        return dir
      }),
      (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
    )
    const output = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = ChildProcess.spawn(process.execPath, ["--import", "tsx", "test/fixtures/crash.ts", how], {
          cwd: packageDir,
          env: { ...process.env, TMPDIR: tmp },
          stdio: ["ignore", "pipe", "pipe"]
        })
        let stdout = ""
        let stderr = ""
        child.stdout.on("data", (chunk: Buffer) => stdout += chunk.toString())
        child.stderr.on("data", (chunk: Buffer) => stderr += chunk.toString())
        const exited = new Promise<string>((resolve) =>
          child.on("close", (code, signal) => resolve(`${code ?? signal}`))
        )
        return { child, exited, stdout: () => stdout, stderr: () => stderr }
      }),
      ({ child }) => Effect.sync(() => child.kill("SIGKILL"))
    )
    const exit = yield* Effect.promise(() => output.exited).pipe(Effect.timeout("60 seconds"))
    const line = output.stdout().split("\n").find((l) => l.startsWith("{"))
    expect({ exit, stderr: line === undefined ? output.stderr().slice(-3000) : "" }).toEqual({
      exit: how === "throw" ? "1" : how,
      stderr: ""
    })
    const report = JSON.parse(line!) as Report
    expect(report.pids.every((pid) => pid > 0)).toBe(true)
    expect(report.dirs.every((dir) => dir.startsWith(tmp))).toBe(true)
    // The watchdogs (and, for "throw", the exit handler) stop the servers and remove every directory,
    // the templates' included.
    yield* until("the servers to stop", () => report.pids.every((pid) => !alive(pid)), 15_000)
    // (tsx keeps its cache in TMPDIR too)
    yield* until("the directories to go", () => Fs.readdirSync(tmp).every((name) => name.startsWith("tsx-")), 15_000)
  })

describe("a test process that dies without closing its scopes", () => {
  it.scopedLive(
    // (SIGTERM, what a test runner sends, takes the same path as SIGKILL: no exit handler runs)
    "leaves no server and no directory behind, whether killed (SIGKILL) or crashed (uncaught exception)",
    () =>
      Effect.all([crashChild("SIGKILL"), crashChild("throw")], {
        concurrency: "unbounded",
        discard: true
      }),
    90_000
  )
})
