/**
 * The "dashboard open" condition of the overhead benchmark: @dbpool/dashboard
 * serves the pool (with the Prometheus exporter of @dbpool/observability on
 * `/metrics`), and another process, as a browser would, reads the page's feed
 * (`/events`) and scrapes `/metrics` every second. That process runs outside
 * this one so that only the server's own work is counted against the pool.
 */
import type { ResourcePool } from "@dbpool/core/ResourcePool"
import * as DashboardLayer from "@dbpool/dashboard/Dashboard"
import * as Prometheus from "@dbpool/observability/Prometheus"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as childProcess from "node:child_process"

// The page's side: the feed read as it comes, /metrics every second; "connected" once the feed answered.
const client = `
const url = process.argv[1]
const response = await fetch(url + "events")
const reader = response.body.getReader()
setInterval(() => fetch(url + "metrics").then((r) => r.text()).catch(() => {}), 1000)
let said = false
for (;;) {
  const { done } = await reader.read()
  if (done) break
  if (!said) { said = true; process.stdout.write("connected\\n") }
}
`

/** Serves `pool` and connects a reader of its feed, for the rest of the scope. */
export const watch = <A, E>(pool: ResourcePool<A, E>): Effect.Effect<void, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      DashboardLayer.layer({ pools: [pool], port: 0, metrics: Prometheus.scrape }).pipe(
        Layer.provide(Prometheus.layer())
      )
    )
    const { url } = Context.get(context, DashboardLayer.Dashboard)
    yield* Effect.acquireRelease(
      Effect.async<childProcess.ChildProcess, Error>((resume) => {
        const child = childProcess.spawn(process.execPath, ["--input-type=module", "-e", client, url], {
          stdio: ["ignore", "pipe", "inherit"]
        })
        child.stdout.once("data", () => resume(Effect.succeed(child)))
        child.once("exit", (code) => resume(Effect.fail(new Error(`the feed reader exited with ${code}`))))
      }),
      (child) => Effect.sync(() => child.kill())
    )
  })
