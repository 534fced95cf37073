/**
 * A cluster of @dbpool/cluster in the dashboard's context: its nodes' pools are shown with the given ones,
 * `/stats` and the feed carry its nodes (role, up or down, lag, routed counts), its NodeDown is a notice of
 * the node's pool, and a replica down does not make the service unready.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeCluster, postgresUp, workload } from "./utils/cluster.js"
import { fakePool, feed, getJson, serve } from "./utils/serve.js"

const ci = process.env.CI !== undefined && process.env.CI !== "" && process.env.CI !== "false"
const up = await postgresUp()

describe("Dashboard with a cluster in the context", () => {
  it.live("shows the cluster's nodes beside the pools: /stats, the feed, notices and readiness", (ctx) => {
    if (!up) {
      const message = "PostgreSQL does not answer at 127.0.0.1:5432"
      if (ci) throw new Error(`${message}; CI must run this test: start it with \`npm run test:env\``)
      console.warn(`${message}: skipping`)
      ctx.skip(message)
    }
    return Effect.gen(function*() {
      const { cluster, context, names } = yield* makeCluster("dash")
      const other = yield* fakePool({ name: `dash-other-${process.pid}`, minConnections: 1, maxConnections: 2 })
      const { url } = yield* Effect.provide(serve({ pools: [other], interval: "50 millis" }), context)
      const events = yield* feed(`${url}events`)
      yield* workload(cluster)

      const { json, status } = yield* getJson(`${url}stats`)
      expect(status).toBe(200)
      // the given pool first, then the nodes' pools
      expect(json.pools.map((p: any) => p.name)).toEqual([other.config.name, names.primary, names.replica, names.dead])
      expect(json.cluster.primary).toBe(names.primary)
      expect(json.cluster.nodes.map((n: any) => [n.name, n.role, n.up, n.reads, n.writes, n.fallbacks, n.rerouted]))
        .toEqual([
          [names.primary, "primary", true, 0, 1, 0, 0],
          [names.replica, "replica", true, 4, 0, 0, 0],
          [names.dead, "replica", false, 1, 0, 0, 1]
        ])
      expect(json.cluster.nodes[2].reason).toMatch(/^1 failures in a row: /)
      expect([json.cluster.reads, json.cluster.writes, json.cluster.rerouted, json.cluster.nodesUp]).toEqual([
        5,
        1,
        1,
        2
      ])
      // each node's pool stats, as its own pool tells them
      expect(json.cluster.nodes[1].pool.successfulRequests).toBe(4)
      expect(json.pools[2].stats.successfulRequests).toBe(4)

      // the feed: a sample with the cluster (the nodes without their pool stats, which are in the pools' points)
      const sampled = yield* events.next((e, d) => e === "sample" && d.sample.cluster?.reads === 5)
      expect(sampled.data.sample.cluster.nodes.map((n: any) => [n.name, n.up, n.reads, n.rerouted])).toEqual([
        [names.primary, true, 0, 0],
        [names.replica, true, 4, 0],
        [names.dead, false, 1, 1]
      ])
      expect(sampled.data.sample.cluster.nodes[0].pool).toBeUndefined()
      // NodeDown came before the page opened: a later page gets it with the notices kept
      const second = yield* feed(`${url}events`)
      const hello = yield* second.next((e) => e === "hello")
      expect(hello.data.notices.filter((n: any) => n.event._tag === "NodeDown").map((n: any) => n.pool)).toEqual([
        names.dead
      ])

      // a replica down is not the service down: readiness checks the given pools and the primary
      const ready = yield* getJson(`${url}health/ready`)
      expect(ready.status).toBe(200)
      expect(ready.json.pools.map((p: any) => p.name)).toEqual([other.config.name, names.primary])
    }).pipe(Effect.scoped)
  }, 30_000)

  it.live("without a cluster, /stats has no cluster and the pools are the given ones", () =>
    Effect.gen(function*() {
      const pool = yield* fakePool({ name: `dash-alone-${process.pid}`, minConnections: 0, maxConnections: 1 })
      const { url } = yield* serve({ pools: [pool] })
      const { json } = yield* getJson(`${url}stats`)
      expect(json.pools.map((p: any) => p.name)).toEqual([pool.config.name])
      expect("cluster" in json).toBe(false)
    }).pipe(Effect.scoped))
})
