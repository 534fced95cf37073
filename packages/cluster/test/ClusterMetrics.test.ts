/**
 * The cluster's metrics in @dbpool/observability's Prometheus output, beside each node pool's own: every
 * series labelled with the node's name.
 */
import { Cluster, type Replication } from "@dbpool/cluster"
import { Prometheus } from "@dbpool/observability"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schedule, TestClock } from "effect"
import { fakeConfigs, fakeNode, readNodes } from "./utils/FakeNodes.js"

/** The scrape's lines that name `node`, histogram buckets left out. */
const lines = (text: string, node: string) =>
  text.split("\n").filter((l) => l.includes(`="${node}"`) && !l.includes("_bucket"))

describe("Cluster metrics in Prometheus", () => {
  it.scoped("routed statements per node and kind, fallbacks, reroutes, node up and replica lag, by node name", () =>
    Effect.gen(function*() {
      const id = `${process.pid}-${Date.now()}`
      const [p, r1, r2] = [fakeNode(`prom-p-${id}`), fakeNode(`prom-r1-${id}`), fakeNode(`prom-r2-${id}`)]
      let r1Behind = 250
      const replication: Replication.Replication = {
        primaryPosition: () => Effect.succeed("10"),
        replicaPosition: () => Effect.succeed({ position: "9", behindMillis: r1Behind }),
        atLeast: (a, b) => Number(a) >= Number(b)
      }
      const cluster = yield* Cluster.make(fakeConfigs([p, r1, r2]), {
        removeAfterFailures: 1,
        probe: Schedule.spaced("1 hour"),
        replication,
        maxReplicaLag: "1 second",
        lagSchedule: Schedule.spaced("1 second")
      })
      yield* cluster.sql`INSERT one`
      yield* cluster.sql`INSERT two`
      r2.down = true
      // r1; then r2 refuses a connection: that read runs again on r1, and r2 is down; then r1
      expect(yield* readNodes(cluster, 3)).toEqual([r1.name, r1.name, r1.name])
      // r1 measured over maxReplicaLag: no usable replica, the read falls back to the primary
      r1Behind = 2500
      yield* TestClock.adjust("1 second")
      expect(yield* readNodes(cluster, 1)).toEqual([p.name])
      yield* TestClock.adjust("1 millis")
      const text = yield* Effect.scoped(Effect.flatMap(Prometheus.make(), (prometheus) => prometheus.scrape))
      const label = (node: string) => `db_client_connection_pool_name="${node}"`
      expect(lines(text, p.name)).toEqual(expect.arrayContaining([
        `dbpool_cluster_statements_total{${label(p.name)},dbpool_cluster_statement_kind="write"} 2`,
        `dbpool_cluster_statements_total{${label(p.name)},dbpool_cluster_statement_kind="read"} 1`,
        `dbpool_cluster_fallbacks_total{${label(p.name)}} 1`,
        `dbpool_cluster_node_up{${label(p.name)}} 1`,
        // the node pool's own metrics carry the same name
        `db_client_connection_max{${label(p.name)}} 2`
      ]))
      expect(lines(text, r1.name)).toEqual(expect.arrayContaining([
        `dbpool_cluster_statements_total{${label(r1.name)},dbpool_cluster_statement_kind="read"} 3`,
        `dbpool_cluster_reroutes_total{${label(r1.name)}} 0`,
        `dbpool_cluster_node_up{${label(r1.name)}} 1`,
        `dbpool_cluster_replica_lag{${label(r1.name)}} 2.5`,
        `db_client_connection_max{${label(r1.name)}} 2`
      ]))
      expect(lines(text, r2.name)).toEqual(expect.arrayContaining([
        `dbpool_cluster_statements_total{${label(r2.name)},dbpool_cluster_statement_kind="read"} 1`,
        `dbpool_cluster_reroutes_total{${label(r2.name)}} 1`,
        `dbpool_cluster_node_up{${label(r2.name)}} 0`
      ]))
      expect(text).toContain("# TYPE dbpool_cluster_statements_total counter")
      expect(text).toContain("# TYPE dbpool_cluster_node_up gauge")
      expect(text).toContain("# UNIT dbpool_cluster_replica_lag s")
    }))
})
