/**
 * A real Prometheus scrapes the exporter's standalone endpoint while two pools of the program run; what its
 * HTTP API answers is compared with the pools' own statistics, and the shipped rules file raises an alert
 * when a pool is exhausted, which a real Alertmanager delivers to a webhook. Needs Debian's `prometheus`
 * and `prometheus-alertmanager` (scripts/test-env.sh installs them); never skipped.
 */
import { ResourcePool } from "@dbpool/core"
import type { PoolStats } from "@dbpool/core/PoolStats"
import { Prometheus } from "@dbpool/observability"
import { SparePort } from "@dbpool/testing"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Layer, Schedule } from "effect"
import { fileURLToPath } from "node:url"
import * as Alertmanager from "./utils/Alertmanager.js"
import * as PrometheusServer from "./utils/PrometheusServer.js"

const rulesFile = fileURLToPath(new URL("../prometheus/dbpool.rules.yml", import.meta.url))
const poolLabel = "db_client_connection_pool_name"

/** The pool's series as Prometheus has them now, by a short name. */
const seriesOf = (prometheus: PrometheusServer.PrometheusServer, pool: string) =>
  Effect.map(
    prometheus.query(`{job="dbpool", ${poolLabel}="${pool}"}`),
    (samples) =>
      Object.fromEntries(
        samples
          .filter((s) => !("le" in s.metric))
          .map((s) => [
            s.metric.__name__ + (s.metric.db_client_connection_state ? `{${s.metric.db_client_connection_state}}` : ""),
            s.value
          ])
      ) as Record<string, number>
  )

/** What the series must read for these stats (the gauges, the counters, the histograms' counts). */
const expected = (s: PoolStats, leaks: number) => ({
  "db_client_connection_count{idle}": s.idleConnections,
  "db_client_connection_count{used}": s.activeConnections,
  "db_client_connection_max": s.maxConnections,
  "db_client_connection_idle_min": s.minConnections,
  "db_client_connection_pending_requests": s.waitingRequests,
  "db_client_connection_timeouts_total": s.timeouts,
  "dbpool_circuit_open": s.circuitState === "open" ? 1 : 0,
  "dbpool_connection_leaks_total": leaks,
  "db_client_connection_wait_time_count": s.successfulRequests,
  "db_client_connection_use_time_count": s.successfulRequests - s.activeConnections,
  "db_client_connection_create_time_count": s.connectionsCreated
})

/**
 * Polls `read` until `done` holds (Prometheus scrapes every second and evaluates rules every second: how
 * soon depends on the machine's load, so the bound is generous and only a failure waits for it).
 */
const eventually = <A, E>(what: string, read: Effect.Effect<A, E>, done: (a: A) => boolean) =>
  Effect.gen(function*() {
    let last: A | undefined
    const attempt = Effect.flatMap(read, (a) => {
      last = a
      return done(a) ? Effect.succeed(a) : Effect.fail("not yet" as const)
    })
    return yield* attempt.pipe(
      Effect.retry(Schedule.spaced("250 millis").pipe(Schedule.upTo(Duration.seconds(90)))),
      Effect.catchAll(() => Effect.dieMessage(`${what}: still not after 90 s; last read ${JSON.stringify(last)}`))
    )
  })

const sameAs = (want: Record<string, number>) => (got: Record<string, number>) =>
  Object.entries(want).every(([k, v]) => got[k] === v)

describe("Prometheus (a real server)", () => {
  it.live(
    "scrapes every pool, labelled by name, with the values the pools report, and fires an alert",
    () =>
      Effect.gen(function*() {
        const id = `${process.pid}-${Date.now()}`
        const orders = `prom-orders-${id}`
        const replica = `prom-replica-${id}`
        const port = yield* SparePort.get
        yield* Layer.build(Prometheus.layerServer({ port }))
        const alertmanager = yield* Alertmanager.make
        const prometheus = yield* PrometheusServer.make({
          targets: [`127.0.0.1:${port}`],
          ruleFiles: [rulesFile],
          alertmanagers: [alertmanager.target]
        })

        let opened = 0
        const ordersPool = yield* ResourcePool.make({
          acquire: Effect.sync(() => ({ id: ++opened })),
          config: {
            name: orders,
            minConnections: 2,
            maxConnections: 3,
            acquireTimeout: "10 minutes",
            statsInterval: "100 millis"
          }
        })
        const replicaPool = yield* ResourcePool.make({
          acquire: Effect.sync(() => ({ id: ++opened })),
          config: {
            name: replica,
            minConnections: 0,
            maxConnections: 1,
            acquireTimeout: "300 millis",
            statsInterval: "100 millis"
          }
        })

        // Some traffic, then the orders pool exhausted: three holders and one caller waiting.
        yield* Effect.forEach(Array.from({ length: 20 }), () => ordersPool.use(() => Effect.sleep("1 millis")), {
          concurrency: 5
        })
        const release = yield* Deferred.make<void>()
        const holders = yield* Effect.forEach(
          [1, 2, 3],
          () => Effect.fork(ordersPool.use(() => Deferred.await(release)))
        )
        const waiter = yield* Effect.fork(ordersPool.use(() => Effect.void))
        yield* eventually(
          "the orders pool exhausted",
          ordersPool.stats,
          (s) => s.activeConnections === 3 && s.waitingRequests === 1
        )
        const ordersStats = yield* ordersPool.stats
        const ordersSeries = yield* eventually(
          "Prometheus has the orders pool's values",
          seriesOf(prometheus, orders),
          sameAs(expected(ordersStats, 0))
        )
        console.log(`prometheus: {${poolLabel}="${orders}"} = ${JSON.stringify(ordersSeries)}`)
        expect(ordersSeries).toMatchObject({
          "db_client_connection_count{idle}": 0,
          "db_client_connection_count{used}": 3,
          "db_client_connection_max": 3,
          "db_client_connection_idle_min": 2,
          "db_client_connection_pending_requests": 1,
          "db_client_connection_timeouts_total": 0,
          "db_client_connection_wait_time_count": 23
        })
        // The saturation alert is pending (its `for` is a minute).
        const saturated = yield* eventually(
          "DbPoolSaturated pending",
          prometheus.query(`ALERTS{alertname="DbPoolSaturated", ${poolLabel}="${orders}"}`),
          (samples) => samples.length === 1
        )
        expect(saturated[0]!.metric).toMatchObject({ alertstate: "pending", severity: "warning" })

        // The replica pool: its one connection held, a caller gives up after acquireTimeout, once Prometheus has
        // seen the counter at 0 (increase() needs the counter before and after).
        const replicaHolder = yield* Effect.fork(replicaPool.use(() => Deferred.await(release)))
        yield* eventually(
          "Prometheus has the replica pool's timeouts at 0",
          seriesOf(prometheus, replica),
          (s) => s["db_client_connection_timeouts_total"] === 0 && s["db_client_connection_count{used}"] === 1
        )
        const late = yield* Effect.exit(replicaPool.use(() => Effect.void))
        expect(Exit.isFailure(late)).toBe(true)
        const replicaStats = yield* replicaPool.stats
        expect(replicaStats.timeouts).toBe(1)
        const replicaSeries = yield* eventually(
          "Prometheus has the replica pool's values",
          seriesOf(prometheus, replica),
          sameAs(expected(replicaStats, 0))
        )
        console.log(`prometheus: {${poolLabel}="${replica}"} = ${JSON.stringify(replicaSeries)}`)
        const alerts = yield* eventually(
          "DbPoolAcquireTimeouts firing",
          prometheus.query(`ALERTS{alertname="DbPoolAcquireTimeouts", alertstate="firing"}`),
          (samples) => samples.some((s) => s.metric[poolLabel] === replica)
        )
        console.log(`prometheus: ALERTS = ${JSON.stringify(alerts.map((a) => a.metric))}`)
        // Only the pool that timed out.
        expect(alerts.map((a) => a.metric[poolLabel])).toEqual([replica])
        expect(alerts[0]!.metric).toMatchObject({
          alertname: "DbPoolAcquireTimeouts",
          severity: "critical",
          job: "dbpool"
        })

        // Alertmanager received it from Prometheus and notified the webhook.
        const notified = yield* eventually(
          "the webhook notified of DbPoolAcquireTimeouts",
          alertmanager.received,
          (alerts) => alerts.some((a) => a.labels.alertname === "DbPoolAcquireTimeouts")
        )
        const notification = notified.find((a) => a.labels.alertname === "DbPoolAcquireTimeouts")!
        console.log(`alertmanager: webhook got ${JSON.stringify(notification)}`)
        expect(notification).toMatchObject({
          status: "firing",
          labels: { [poolLabel]: replica, severity: "critical" },
          // increase() extrapolates (1.289 once here); the summary rounds it.
          annotations: { summary: `Pool ${replica}: acquisitions timed out (acquireTimeout) in the last 5 minutes: 1` }
        })

        yield* Deferred.succeed(release, undefined)
        yield* Fiber.joinAll([...holders, waiter, replicaHolder])
      }).pipe(Effect.scoped),
    180_000
  )
})
