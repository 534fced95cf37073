/**
 * A live dashboard for dbpool pools, on @effect/platform's HTTP server: the
 * page (`/`), the statistics as JSON (`/stats`), a server-sent event feed
 * (`/events`), the health routes (`/health/live`, `/health/ready`) and, when
 * given a scrape function, Prometheus metrics (`/metrics`).
 *
 * With a `Cluster` of @dbpool/cluster in the context the layer is built in, the
 * dashboard also shows the cluster: its nodes' pools join the given ones, the
 * page has a cluster section (each node's role, up or down and why, lag, the
 * statements routed to it), `/stats` has a `cluster` field (`ClusterStats`),
 * a node's `NodeDown` and `NodeUp` are events of its pool, and
 * `/health/ready` checks the cluster's primary but not its replicas (reads
 * fall back when a replica is down).
 *
 * Each pool's card shows its target (what it keeps open: `minConnections`, or the adaptive sizing's
 * target) and its ceiling (`maxConnections`, or less in a `PoolGroup`). A pool group, given or found in
 * the pools' `group` settings, has a section of its own: the budget, and each member's connections
 * against its floor and ceiling.
 *
 * @since 0.1.0
 */
import type * as PoolGroup from "@dbpool/core/PoolGroup"
import type * as HttpApp from "@effect/platform/HttpApp"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/dashboard.js"
import type { AlertInput, DashboardConfigError, PoolInput } from "./internal/source.js"

/**
 * What the dashboard reads of a pool. Every `ResourcePool` of @dbpool/core,
 * and so the `Pool` service of @dbpool/sql and its drivers, is one.
 *
 * @example
 * ```ts
 * import type * as Dashboard from "@dbpool/dashboard/Dashboard"
 * import type { ResourcePool } from "@dbpool/core/ResourcePool"
 *
 * declare const pool: ResourcePool<{ readonly socket: string }, Error>
 * const source: Dashboard.PoolSource = pool
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type { PoolSource } from "./internal/source.js"

/**
 * A pool given to the dashboard: the pool itself, or an effect that yields it
 * (a pool's service tag, such as `Pool.Pool` of @dbpool/sql).
 *
 * @example
 * ```ts
 * import type * as Dashboard from "@dbpool/dashboard/Dashboard"
 * import * as Pool from "@dbpool/sql/Pool"
 *
 * const pools: ReadonlyArray<Dashboard.PoolInput<Pool.Pool>> = [Pool.Pool]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type { PoolInput } from "./internal/source.js"

/**
 * In-process alerts the dashboard shows: the `Alerts` of @dbpool/observability
 * (or an effect that yields them, such as its `Alerts.Alerts` tag).
 *
 * @example
 * ```ts
 * import type * as Dashboard from "@dbpool/dashboard/Dashboard"
 * import { Alerts } from "@dbpool/observability"
 *
 * const alerts: ReadonlyArray<Dashboard.AlertInput<Alerts.Alerts>> = [Alerts.Alerts]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type { AlertInput, AlertSource } from "./internal/source.js"

/**
 * A dashboard given no pool, or two pools of one name.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Dashboard from "@dbpool/dashboard/Dashboard"
 *
 * const error = new Dashboard.DashboardConfigError({ field: "pools", reason: "is empty" })
 * const message = error.message // "Invalid dashboard configuration: pools is empty"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export { DashboardConfigError } from "./internal/source.js"

/**
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import type * as Dashboard from "@dbpool/dashboard/Dashboard"
 * import type { ResourcePool } from "@dbpool/core/ResourcePool"
 *
 * declare const primary: ResourcePool<string, Error>
 * declare const replica: ResourcePool<string, Error>
 * const options: Dashboard.Options = {
 *   pools: [primary, replica],
 *   port: 9187,
 *   token: Redacted.make("s3cret")
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<P = never, A = never, M = never> {
  /**
   * The pools shown, each under its name (`PoolConfig` `name`): names must differ. With a `Cluster` of
   * @dbpool/cluster in the context, its nodes' pools are shown after these (may then be empty).
   */
  readonly pools: ReadonlyArray<PoolInput<P>>
  /** Default: `DBPOOL_DASHBOARD_HOST`, else `127.0.0.1` (only this machine). */
  readonly host?: string | undefined
  /** Default: `DBPOOL_DASHBOARD_PORT`, else 9187; 0 picks a free port (see `Dashboard.url`). */
  readonly port?: number | undefined
  /**
   * When set, every request must carry it: `Authorization: Bearer <token>`, or
   * open the page once as `/?token=<token>` (it is then kept in a cookie).
   * Compared in constant time, never logged. Default: `DBPOOL_DASHBOARD_TOKEN`, else none.
   */
  readonly token?: Redacted.Redacted<string> | undefined
  /** How long `/health/ready` waits for a connection from each pool. Default 1 second. */
  readonly readyTimeout?: Duration.DurationInput | undefined
  /** How often the pools are sampled for the page. Default 500 millis. */
  readonly interval?: Duration.DurationInput | undefined
  /** How much of the past the charts show to a page that opens. Default 5 minutes. */
  readonly history?: Duration.DurationInput | undefined
  /**
   * Prometheus text for `/metrics`: `Prometheus.scrape` of @dbpool/observability (then the layer needs its
   * `Prometheus` exporter), or any scrape function. Without it the route answers 404.
   */
  readonly metrics?: Effect.Effect<string, unknown, M> | undefined
  /**
   * In-process alerts to show with each pool's events: the `Alerts` of @dbpool/observability (or its
   * `Alerts.Alerts` tag). Their `AlertRaised` and `AlertResolved` events appear under the pool they name.
   */
  readonly alerts?: ReadonlyArray<AlertInput<A>> | undefined
  /**
   * Pool groups (`PoolGroup` of @dbpool/core) to show: each group's budget, and what each member holds,
   * uses and waits for against its floor and ceiling. The groups the pools belong to (their `group`
   * setting) are shown without being given. `/stats` then has a `groups` field (`GroupStats`).
   */
  readonly groups?: ReadonlyArray<PoolGroup.PoolGroup> | undefined
  /** The page's title. Default "dbpool dashboard". */
  readonly title?: string | undefined
}

/**
 * The running dashboard: where it listens.
 *
 * @example
 * ```ts
 * import { Console, Effect } from "effect"
 * import * as Dashboard from "@dbpool/dashboard/Dashboard"
 *
 * const printAddress = Effect.flatMap(Dashboard.Dashboard, (d) => Console.log(`dashboard at ${d.url}`))
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export class Dashboard extends Context.Tag("@dbpool/dashboard/Dashboard")<Dashboard, {
  readonly host: string
  readonly port: number
  /** `http://host:port/` */
  readonly url: string
}>() {}

/**
 * The host, port and token read from the environment, as `layer` uses them
 * for the fields it is not given: `DBPOOL_DASHBOARD_HOST` (default
 * `127.0.0.1`), `DBPOOL_DASHBOARD_PORT` (default 9187) and
 * `DBPOOL_DASHBOARD_TOKEN` (optional, redacted).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Dashboard from "@dbpool/dashboard/Dashboard"
 *
 * const port = Effect.map(Dashboard.config, (c) => c.port)
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<{
  readonly host: string
  readonly port: number
  readonly token: Redacted.Redacted<string> | undefined
}> = Config.all({
  host: Config.withDefault(Config.string("DBPOOL_DASHBOARD_HOST"), "127.0.0.1"),
  port: Config.withDefault(Config.port("DBPOOL_DASHBOARD_PORT"), 9187),
  token: Config.map(
    Config.option(Config.redacted("DBPOOL_DASHBOARD_TOKEN")),
    (o) => o._tag === "Some" ? o.value : undefined
  )
})

/**
 * The dashboard as an HTTP application, to mount in a server of your own.
 * Its sampler of the pools runs in the scope. The token, if any, is checked
 * by the application itself.
 *
 * @example
 * ```ts
 * import { HttpServer } from "@effect/platform"
 * import { Effect, Layer } from "effect"
 * import * as Dashboard from "@dbpool/dashboard/Dashboard"
 * import type { ResourcePool } from "@dbpool/core/ResourcePool"
 *
 * declare const pool: ResourcePool<string, Error>
 * const served = Layer.unwrapScoped(Effect.map(Dashboard.httpApp({ pools: [pool] }), (app) => HttpServer.serve(app)))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const httpApp: <P = never, A = never, M = never>(
  options: Options<P, A, M>
) => Effect.Effect<HttpApp.Default, DashboardConfigError, P | A | M | Scope.Scope> = internal.httpApp

/**
 * Serves the dashboard on Node's HTTP server for as long as the layer lives,
 * on `host` and `port` (by default from `config`: 127.0.0.1 and 9187).
 *
 * @example
 * ```ts
 * import { Layer, Redacted } from "effect"
 * import * as Dashboard from "@dbpool/dashboard/Dashboard"
 * import * as Pool from "@dbpool/sql/Pool"
 * import { PgPool } from "@dbpool/pg"
 *
 * const PoolLive = PgPool.layer({ url: Redacted.make("postgres://postgres@127.0.0.1:5432/test") })
 * const DashboardLive = Dashboard.layer({ pools: [Pool.Pool], port: 9187 }).pipe(Layer.provide(PoolLive))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: <P = never, A = never, M = never>(
  options: Options<P, A, M>
) => Layer.Layer<Dashboard, ServeError | ConfigError.ConfigError | DashboardConfigError, P | A | M> = internal.layer
