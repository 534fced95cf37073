import { Cluster, ClusterError, ClusterStats, type Replication } from "@dbpool/cluster"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Metric, MetricState, Schedule, Stream, TestClock } from "effect"
import { fakeConfigs, fakeNode, readNodes } from "./utils/FakeNodes.js"

/** Node names unique to one test: metrics live in one registry for the whole process. */
let run = 0
const nodes = (...names: ReadonlyArray<string>) => {
  run++
  return names.map((name) => fakeNode(`${name}-${process.pid}-${run}`))
}

/** A metric's state in the registry, found by name and labels (the node's name, and the kind). */
const metricState = (name: string, node: string, kind?: "read" | "write") =>
  Effect.map(Metric.snapshot, (pairs) =>
    pairs.find((pair) =>
      pair.metricKey.name === name &&
      pair.metricKey.tags.some((t) => t.key === "db.client.connection.pool.name" && t.value === node) &&
      (kind === undefined || pair.metricKey.tags.some((t) => t.key === ClusterStats.kindAttribute && t.value === kind))
    )?.metricState)

const counted = (name: string, node: string, kind?: "read" | "write") =>
  Effect.map(metricState(name, node, kind), (state) => MetricState.isCounterState(state) ? state.count : undefined)

const gauge = (name: string, node: string) =>
  Effect.map(metricState(name, node), (state) => MetricState.isGaugeState(state) ? state.value : undefined)

const counts = (stats: ClusterStats.ClusterStats) =>
  stats.nodes.map((n) => ({ reads: n.reads, writes: n.writes, fallbacks: n.fallbacks, rerouted: n.rerouted }))

describe("Cluster stats", () => {
  it.scoped("counts each routed statement on the node it went to, by kind; transactions are not routed", () =>
    Effect.gen(function*() {
      const [p, r1, r2] = nodes("p", "r1", "r2")
      const cluster = yield* Cluster.make(fakeConfigs([p!, r1!, r2!]))
      const sql = cluster.sql
      yield* sql`INSERT one`
      yield* readNodes(cluster, 5)
      yield* Cluster.read(Cluster.onPrimary(sql`SELECT fresh`))
      yield* sql.withTransaction(sql`UPDATE in tx`)
      const stats = yield* cluster.stats
      expect(stats.primary).toBe(p!.name)
      expect(stats.nodes.map((n) => [n.name, n.role, n.up])).toEqual([
        [p!.name, "primary", true],
        [r1!.name, "replica", true],
        [r2!.name, "replica", true]
      ])
      expect(counts(stats)).toEqual([
        { reads: 0, writes: 2, fallbacks: 0, rerouted: 0 },
        { reads: 3, writes: 0, fallbacks: 0, rerouted: 0 },
        { reads: 2, writes: 0, fallbacks: 0, rerouted: 0 }
      ])
      expect([stats.reads, stats.writes, stats.fallbacks, stats.rerouted, stats.nodesUp]).toEqual([5, 2, 0, 0, 3])
      // each node's pool statistics, taken with the rest: the transaction is in the primary's
      expect(stats.nodes.map((n) => [n.pool.name, n.pool.successfulRequests])).toEqual([
        [p!.name, 3],
        [r1!.name, 3],
        [r2!.name, 2]
      ])
      // the same counts as metrics, labelled with the node's name
      expect(yield* counted(ClusterStats.metricNames.statements, p!.name, "write")).toBe(2)
      expect(yield* counted(ClusterStats.metricNames.statements, p!.name, "read")).toBe(0)
      expect(yield* counted(ClusterStats.metricNames.statements, r1!.name, "read")).toBe(3)
      expect(yield* counted(ClusterStats.metricNames.statements, r2!.name, "read")).toBe(2)
      expect(yield* gauge(ClusterStats.metricNames.nodeUp, r2!.name)).toBe(1)
    }))

  it.scoped("counts reads run again elsewhere and reads that fell back to the primary; a node down is 0", () =>
    Effect.gen(function*() {
      const [p, r1, r2] = nodes("p", "r1", "r2")
      const cluster = yield* Cluster.make(fakeConfigs([p!, r1!, r2!]), {
        removeAfterFailures: 1,
        probe: Schedule.spaced("1 hour")
      })
      r1!.down = true
      r2!.down = true
      // neither replica can lend a connection: the read runs again on the next, then on the primary; each
      // replica is down after that one failure, and the next reads go straight to the primary
      expect(yield* readNodes(cluster, 3)).toEqual([p!.name, p!.name, p!.name])
      const stats = yield* cluster.stats
      expect(counts(stats)).toEqual([
        { reads: 3, writes: 0, fallbacks: 3, rerouted: 0 },
        { reads: 1, writes: 0, fallbacks: 0, rerouted: 1 },
        { reads: 1, writes: 0, fallbacks: 0, rerouted: 1 }
      ])
      expect(stats.nodes.map((n) => [n.up, n.failures, n.reason?.startsWith("1 failures in a row")])).toEqual([
        [true, 0, undefined],
        [false, 1, true],
        [false, 1, true]
      ])
      expect(stats.nodesUp).toBe(1)
      expect(yield* counted(ClusterStats.metricNames.fallbacks, p!.name)).toBe(3)
      expect(yield* counted(ClusterStats.metricNames.reroutes, r1!.name)).toBe(1)
      expect(yield* counted(ClusterStats.metricNames.reroutes, r2!.name)).toBe(1)
      // the gauges follow the NodeDown events
      yield* TestClock.adjust("1 millis")
      expect(yield* gauge(ClusterStats.metricNames.nodeUp, p!.name)).toBe(1)
      expect(yield* gauge(ClusterStats.metricNames.nodeUp, r1!.name)).toBe(0)
      expect(yield* gauge(ClusterStats.metricNames.nodeUp, r2!.name)).toBe(0)
    }))

  it.scoped("changes: the current stats, then each change seen on the interval or at a NodeDown / NodeUp", () =>
    Effect.gen(function*() {
      const [p, r1] = nodes("p", "r1")
      const cluster = yield* Cluster.make(fakeConfigs([p!, r1!], [], { statsInterval: "1 second" }), {
        removeAfterFailures: 1,
        probe: Schedule.spaced("10 seconds")
      })
      const seen: Array<ClusterStats.ClusterStats> = []
      const follower = yield* Effect.fork(Stream.runForEach(cluster.changes, (s) => Effect.sync(() => seen.push(s))))
      yield* TestClock.adjust("1 millis")
      expect(seen.map((s) => [s.reads, s.nodesUp])).toEqual([[0, 2]])
      yield* readNodes(cluster, 2)
      // nothing until the interval
      expect(seen.length).toBe(1)
      yield* TestClock.adjust("1 second")
      expect(seen.map((s) => [s.reads, s.nodesUp])).toEqual([[0, 2], [2, 2]])
      // a NodeDown publishes at once
      r1!.down = true
      yield* readNodes(cluster, 1)
      yield* TestClock.adjust("1 millis")
      expect(seen.at(-1)!.nodes[1]!.up).toBe(false)
      // the read that fell back to the primary was still in flight then: the next tick shows it done
      yield* TestClock.adjust("1 second")
      expect(seen.at(-1)!.nodes.map((n) => [n.reads, n.pool.activeConnections])).toEqual([[1, 0], [3, 0]])
      const settled = seen.length
      // no change: nothing published on the next ticks
      yield* TestClock.adjust("2 seconds")
      expect(seen.length).toBe(settled)
      r1!.down = false
      yield* TestClock.adjust("8 seconds")
      expect(seen.at(-1)!.nodes[1]!.up).toBe(true)
      expect(seen.at(-1)!.nodesUp).toBe(2)
      yield* Fiber.interrupt(follower)
    }))

  it.scoped("lag: each replica's measured lag in the stats and in dbpool.cluster.replica.lag (seconds)", () =>
    Effect.gen(function*() {
      const [p, r1, r2] = nodes("p", "r1", "r2")
      // positions as numbers; r1 has replayed everything, r2 is 1.5 s behind
      const behind = new Map([[r1!.name, undefined], [r2!.name, 1500]])
      const replication: Replication.Replication = {
        primaryPosition: () => Effect.succeed("10"),
        replicaPosition: (sql) =>
          Effect.map(sql<{ node: string }>`SELECT position`, (rows) => {
            const millis = behind.get(rows[0]!.node)
            return { position: millis === undefined ? "10" : "7", behindMillis: millis }
          }),
        atLeast: (a, b) => Number(a) >= Number(b)
      }
      const cluster = yield* Cluster.make(fakeConfigs([p!, r1!, r2!]), {
        replication,
        maxReplicaLag: "1 second",
        lagSchedule: Schedule.spaced("100 millis")
      })
      yield* TestClock.adjust("1 millis")
      const stats = yield* cluster.stats
      expect(stats.nodes.map((n) => [n.lagMillis, n.position])).toEqual([
        [undefined, undefined],
        [0, "10"],
        [1500, "7"]
      ])
      expect(yield* gauge(ClusterStats.metricNames.replicaLag, r1!.name)).toBe(0)
      expect(yield* gauge(ClusterStats.metricNames.replicaLag, r2!.name)).toBe(1.5)
      // r2 is over the bound: reads go to r1 only
      expect(yield* readNodes(cluster, 3)).toEqual([r1!.name, r1!.name, r1!.name])
      behind.set(r2!.name, 200)
      yield* TestClock.adjust("100 millis")
      expect(yield* gauge(ClusterStats.metricNames.replicaLag, r2!.name)).toBe(0.2)
      expect((yield* cluster.stats).nodes[2]!.lagMillis).toBe(200)
    }))

  it.scoped("a node whose pool is named otherwise fails the cluster's start with ClusterConfigError", () =>
    Effect.gen(function*() {
      const [p, x] = nodes("p", "x")
      const [primary, other] = fakeConfigs([p!, x!])
      const error = (yield* Effect.flip(
        Cluster.make([primary!, { ...other!, name: "replica-1" }])
      )) as ClusterError.ClusterConfigError
      expect(error).toBeInstanceOf(ClusterError.ClusterConfigError)
      expect(error.problem).toBe("InvalidOption")
      expect(error.message).toBe(
        `node replica-1: its pool is named "${x!.name}"; name it after the node ` +
          `(Pool.make(connector, { name: "replica-1" })) so that its statistics and metrics carry the node's name`
      )
    }))
})
