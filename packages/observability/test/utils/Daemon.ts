/**
 * A server program of the test's own (Prometheus, Alertmanager): a temporary directory, a spare port of
 * 127.0.0.1, started and awaited until its `/-/ready` answers 200, stopped (SIGTERM, then SIGKILL after
 * 10 s) and its directory deleted when the scope closes.
 */
import { SparePort } from "@dbpool/testing"
import { Data, Duration, Effect, Schedule } from "effect"
import type { Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

export class DaemonError extends Data.TaggedError("DaemonError")<{ readonly message: string }> {}

export interface Daemon {
  readonly url: string
  readonly logFile: string
}

export const get = (url: string, init?: RequestInit) =>
  Effect.tryPromise({
    try: async () => {
      const response = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) })
      return { status: response.status, body: await response.text() }
    },
    catch: (cause) => new DaemonError({ message: `${init?.method ?? "GET"} ${url}: ${String(cause)}` })
  })

const stop = (child: ChildProcess.ChildProcess, log: number) =>
  Effect.async<void>((resume) => {
    const done = () => {
      Fs.closeSync(log)
      resume(Effect.void)
    }
    if (child.exitCode !== null || child.signalCode !== null) return done()
    const kill = setTimeout(() => child.kill("SIGKILL"), 10_000)
    child.once("exit", () => {
      clearTimeout(kill)
      done()
    })
    child.kill("SIGTERM")
  })

export const make = (options: {
  readonly name: string
  readonly command: string
  /** The package that brings the command (in the error when it is missing). */
  readonly aptPackage: string
  /** The files to write in the directory (name → text), and the arguments, given both. */
  readonly setup: (dir: string, port: number) => {
    readonly files: Readonly<Record<string, string>>
    readonly args: ReadonlyArray<string>
  }
}): Effect.Effect<Daemon, DaemonError, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), `dbpool-${options.name}-`))),
      (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
    )
    const port = yield* SparePort.get
    const { args, files } = options.setup(dir, port)
    for (const [name, text] of Object.entries(files)) Fs.writeFileSync(Path.join(dir, name), text)
    const logFile = Path.join(dir, `${options.name}.log`)
    const log = Fs.openSync(logFile, "a")
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => ChildProcess.spawn(options.command, args, { stdio: ["ignore", log, log] })),
      (child) => stop(child, log)
    )
    const spawnError = yield* Effect.async<string | undefined>((resume) => {
      child.once("error", (e) => resume(Effect.succeed(e.message)))
      child.once("spawn", () => resume(Effect.succeed(undefined)))
    })
    if (spawnError !== undefined) {
      return yield* new DaemonError({
        message: `cannot start ${options.command} (apt-get install ${options.aptPackage}): ${spawnError}`
      })
    }
    const url = `http://127.0.0.1:${port}`
    // Ready when /-/ready answers 200 (Prometheus answers 503 while its TSDB opens).
    yield* get(`${url}/-/ready`).pipe(
      Effect.filterOrFail((r) => r.status === 200, () => new DaemonError({ message: "not ready" })),
      Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo(Duration.seconds(60)))),
      Effect.mapError(() =>
        new DaemonError({
          message: `${options.name} did not get ready in 60 s:\n${Fs.readFileSync(logFile, "utf8").slice(-1500)}`
        })
      )
    )
    return { url, logFile }
  })
