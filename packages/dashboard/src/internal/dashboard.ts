/**
 * Wiring: the pools, their sampler, the HTTP application, Node's server.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServer from "@effect/platform/HttpServer"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as http from "node:http"
import type * as Dashboard from "../Dashboard.js"
import { config, Dashboard as DashboardTag } from "../Dashboard.js"
import * as App from "./app.js"
import * as Auth from "./auth.js"
import * as Sampler from "./sampler.js"
import { type DashboardConfigError, findCluster, gather, gatherAlerts, gatherGroups } from "./source.js"

const appWith = <P, A, M>(options: Dashboard.Options<P, A, M>, token: Dashboard.Options["token"]) =>
  Effect.gen(function*() {
    // A cluster of the context (@dbpool/cluster): its nodes' pools are shown with the given ones.
    const cluster = Option.getOrUndefined(yield* findCluster)
    const pools = yield* gather(options.pools, cluster?.nodes.map((node) => node.pool) ?? [])
    // Ready: the pools given, and a cluster's primary; a replica down is not the service down (reads fall back).
    const given = pools.slice(0, options.pools.length)
    const ready = [
      ...given,
      ...pools.slice(given.length).filter((pool) =>
        cluster?.nodes.some((node) => node.role === "primary" && node.pool === pool)
      )
    ]
    const alerts = yield* gatherAlerts(options.alerts)
    // The scrape may need services of the layer's context (the Prometheus exporter of @dbpool/observability).
    const context = yield* Effect.context<M>()
    const metrics = options.metrics === undefined ? undefined : Effect.provide(options.metrics, context)
    const interval = Duration.decode(options.interval ?? "500 millis")
    const history = Duration.decode(options.history ?? "5 minutes")
    const sampler = yield* Sampler.make(pools, {
      interval,
      keep: Math.max(1, Math.ceil(Duration.toMillis(history) / Math.max(1, Duration.toMillis(interval)))),
      alerts,
      cluster,
      groups: gatherGroups(options.groups, pools)
    })
    return App.make({
      sampler,
      guard: Auth.make(token),
      ready,
      readyTimeout: Duration.decode(options.readyTimeout ?? "1 second"),
      metrics,
      title: options.title ?? "dbpool dashboard"
    })
  })

export const httpApp = <P = never, A = never, M = never>(
  options: Dashboard.Options<P, A, M>
): Effect.Effect<HttpApp.Default, DashboardConfigError, P | A | M | Scope.Scope> => appWith(options, options.token)

export const layer = <P = never, A = never, M = never>(options: Dashboard.Options<P, A, M>) =>
  Layer.unwrapScoped(Effect.gen(function*() {
    const env = yield* config
    const host = options.host ?? env.host
    const port = options.port ?? env.port
    const app = yield* appWith(options, options.token ?? env.token)
    const server = NodeHttpServer.layer(() => http.createServer(), { host, port })
    const address = Layer.effect(
      DashboardTag,
      HttpServer.addressWith((address) => {
        const actual = address._tag === "TcpAddress" ? address.port : port
        const shown = host.includes(":") ? `[${host}]` : host
        return Effect.succeed({ host, port: actual, url: `http://${shown}:${actual}/` })
      })
    )
    return Layer.merge(HttpServer.serve(app), address).pipe(Layer.provide(server))
  }))
