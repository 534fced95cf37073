/**
 * A real Prometheus (Debian's `prometheus` package) of the test's own: a generated configuration that
 * scrapes the given targets every second, evaluates the given rule files every second and sends alerts to
 * the given Alertmanagers; queried through its HTTP API.
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import * as Path from "node:path"
import * as Daemon from "./Daemon.js"

export interface Sample {
  readonly metric: Readonly<Record<string, string>>
  readonly value: number
}

export interface PrometheusServer extends Daemon.Daemon {
  /** An instant query (`/api/v1/query`): the vector's samples. */
  readonly query: (promql: string) => Effect.Effect<ReadonlyArray<Sample>, Daemon.DaemonError>
}

const config = (options: Options) =>
  [
    "global:",
    "  scrape_interval: 1s",
    "  scrape_timeout: 1s",
    "  evaluation_interval: 1s",
    "rule_files:",
    ...options.ruleFiles.map((f) => `  - ${JSON.stringify(f)}`),
    ...(options.alertmanagers?.length
      ? [
        "alerting:",
        "  alertmanagers:",
        "    - static_configs:",
        `        - targets: ${JSON.stringify(options.alertmanagers)}`
      ]
      : []),
    "scrape_configs:",
    "  - job_name: dbpool",
    "    static_configs:",
    `      - targets: ${JSON.stringify(options.targets)}`
  ].join("\n") + "\n"

export interface Options {
  /** host:port of each endpoint to scrape. */
  readonly targets: ReadonlyArray<string>
  readonly ruleFiles: ReadonlyArray<string>
  /** host:port of each Alertmanager to send alerts to. */
  readonly alertmanagers?: ReadonlyArray<string> | undefined
}

export const make = (options: Options): Effect.Effect<PrometheusServer, Daemon.DaemonError, Scope.Scope> =>
  Effect.gen(function*() {
    const daemon = yield* Daemon.make({
      name: "prometheus",
      command: "prometheus",
      aptPackage: "prometheus",
      setup: (dir, port) => ({
        files: { "prometheus.yml": config(options) },
        args: [
          `--config.file=${Path.join(dir, "prometheus.yml")}`,
          `--storage.tsdb.path=${Path.join(dir, "data")}`,
          `--web.listen-address=127.0.0.1:${port}`,
          "--log.level=warn"
        ]
      })
    })
    const query = (promql: string) =>
      Effect.flatMap(
        Daemon.get(`${daemon.url}/api/v1/query?query=${encodeURIComponent(promql)}`),
        ({ body, status }) => {
          const parsed = JSON.parse(body) as {
            status: string
            error?: string
            data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> }
          }
          if (status !== 200 || parsed.status !== "success") {
            return Effect.fail(new Daemon.DaemonError({ message: `query ${promql}: ${parsed.error ?? body}` }))
          }
          return Effect.succeed(parsed.data!.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) })))
        }
      )
    return { ...daemon, query }
  })
