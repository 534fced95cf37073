/**
 * A real Alertmanager (Debian's `prometheus-alertmanager`) of the test's own, routing every alert at once
 * (no grouping delay) to a webhook on 127.0.0.1 that keeps what it receives.
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import * as Http from "node:http"
import type * as Net from "node:net"
import * as Path from "node:path"
import * as Daemon from "./Daemon.js"

/** One alert of a webhook notification. */
export interface Notified {
  readonly status: string
  readonly labels: Readonly<Record<string, string>>
  readonly annotations: Readonly<Record<string, string>>
}

export interface Alertmanager extends Daemon.Daemon {
  /** host:port, for Prometheus' `alerting` configuration. */
  readonly target: string
  /** The alerts the webhook received so far, in order. */
  readonly received: Effect.Effect<ReadonlyArray<Notified>>
}

/** The webhook: collects the alerts of every notification posted to it. */
const webhook = Effect.acquireRelease(
  Effect.async<{ readonly server: Http.Server; readonly received: Array<Notified> }>((resume) => {
    const received: Array<Notified> = []
    const server = Http.createServer((req, res) => {
      let body = ""
      req.on("data", (chunk) => (body += chunk))
      req.on("end", () => {
        try {
          received.push(...(JSON.parse(body) as { alerts: Array<Notified> }).alerts)
        } catch {
          // not a notification: ignored
        }
        res.end()
      })
    })
    server.listen({ host: "127.0.0.1", port: 0 }, () => resume(Effect.succeed({ server, received })))
  }),
  ({ server }) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
)

const config = (hook: string) =>
  [
    "route:",
    "  receiver: webhook",
    "  group_by: [alertname, db_client_connection_pool_name]",
    "  group_wait: 0s",
    "  group_interval: 1s",
    "  repeat_interval: 1h",
    "receivers:",
    "  - name: webhook",
    "    webhook_configs:",
    `      - url: ${JSON.stringify(hook)}`
  ].join("\n") + "\n"

export const make: Effect.Effect<Alertmanager, Daemon.DaemonError, Scope.Scope> = Effect.gen(function*() {
  const { received, server } = yield* webhook
  const hook = `http://127.0.0.1:${(server.address() as Net.AddressInfo).port}/alerts`
  const daemon = yield* Daemon.make({
    name: "alertmanager",
    command: "prometheus-alertmanager",
    aptPackage: "prometheus-alertmanager",
    setup: (dir, port) => ({
      files: { "alertmanager.yml": config(hook) },
      args: [
        `--config.file=${Path.join(dir, "alertmanager.yml")}`,
        `--storage.path=${Path.join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        // No cluster: it would listen on 0.0.0.0:9094.
        "--cluster.listen-address=",
        "--log.level=warn"
      ]
    })
  })
  return { ...daemon, target: daemon.url.slice("http://".length), received: Effect.sync(() => [...received]) }
})
