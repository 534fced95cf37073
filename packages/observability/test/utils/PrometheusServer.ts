/**
 * A real Prometheus (Debian's `prometheus` package) of the test's own: a generated configuration that
 * scrapes the given targets every second and loads the given rule files, a temporary data directory, a
 * spare port of 127.0.0.1; stopped and deleted when the scope closes. Queried through its HTTP API.
 */
import { SparePort } from "@dbpool/testing"
import { Data, Duration, Effect, Schedule } from "effect"
import type { Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

export class PrometheusError extends Data.TaggedError("PrometheusError")<{ readonly message: string }> {}

export interface Sample {
  readonly metric: Readonly<Record<string, string>>
  readonly value: number
}

export interface PrometheusServer {
  readonly url: string
  readonly logFile: string
  /** An instant query (`/api/v1/query`): the vector's samples. */
  readonly query: (promql: string) => Effect.Effect<ReadonlyArray<Sample>, PrometheusError>
}

const config = (targets: ReadonlyArray<string>, ruleFiles: ReadonlyArray<string>) =>
  [
    "global:",
    "  scrape_interval: 1s",
    "  scrape_timeout: 1s",
    "  evaluation_interval: 1s",
    "rule_files:",
    ...ruleFiles.map((f) => `  - ${JSON.stringify(f)}`),
    "scrape_configs:",
    "  - job_name: dbpool",
    "    static_configs:",
    `      - targets: ${JSON.stringify(targets)}`
  ].join("\n") + "\n"

const fetchJson = (url: string) =>
  Effect.tryPromise({
    try: async () => {
      const response = await fetch(url, { signal: AbortSignal.timeout(5000) })
      return { status: response.status, body: await response.text() }
    },
    catch: (cause) => new PrometheusError({ message: `GET ${url}: ${String(cause)}` })
  })

export const make = (options: {
  readonly targets: ReadonlyArray<string>
  readonly ruleFiles: ReadonlyArray<string>
}): Effect.Effect<PrometheusServer, PrometheusError, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "dbpool-prometheus-"))),
      (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
    )
    const port = yield* SparePort.get
    const configFile = Path.join(dir, "prometheus.yml")
    const logFile = Path.join(dir, "prometheus.log")
    Fs.writeFileSync(configFile, config(options.targets, options.ruleFiles))
    const log = Fs.openSync(logFile, "a")
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        ChildProcess.spawn("prometheus", [
          `--config.file=${configFile}`,
          `--storage.tsdb.path=${Path.join(dir, "data")}`,
          `--web.listen-address=127.0.0.1:${port}`,
          "--log.level=warn"
        ], { stdio: ["ignore", log, log] })
      ),
      (child) =>
        Effect.async<void>((resume) => {
          if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
          const kill = setTimeout(() => child.kill("SIGKILL"), 10_000)
          child.once("exit", () => {
            clearTimeout(kill)
            Fs.closeSync(log)
            resume(Effect.void)
          })
          child.kill("SIGTERM")
        })
    )
    const spawnError = yield* Effect.async<string | undefined>((resume) => {
      child.once("error", (e) => resume(Effect.succeed(e.message)))
      child.once("spawn", () => resume(Effect.succeed(undefined)))
    })
    if (spawnError !== undefined) {
      return yield* new PrometheusError({
        message: `cannot start prometheus (apt-get install prometheus): ${spawnError}`
      })
    }
    const url = `http://127.0.0.1:${port}`
    const tail = () => Fs.readFileSync(logFile, "utf8").slice(-1500)
    // Ready when /-/ready answers 200 (it answers 503 while the TSDB opens).
    yield* fetchJson(`${url}/-/ready`).pipe(
      Effect.filterOrFail((r) => r.status === 200, () => new PrometheusError({ message: "not ready" })),
      Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo(Duration.seconds(60)))),
      Effect.mapError(() => new PrometheusError({ message: `prometheus did not get ready in 60 s:\n${tail()}` }))
    )
    const query = (promql: string) =>
      Effect.flatMap(fetchJson(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`), ({ body, status }) => {
        const parsed = JSON.parse(body) as {
          status: string
          error?: string
          data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> }
        }
        if (status !== 200 || parsed.status !== "success") {
          return Effect.fail(new PrometheusError({ message: `query ${promql}: ${parsed.error ?? body}` }))
        }
        return Effect.succeed(parsed.data!.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) })))
      })
    return { url, logFile, query }
  })
