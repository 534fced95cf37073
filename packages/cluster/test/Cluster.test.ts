import { Cluster, ClusterError, ClusterEvent } from "@dbpool/cluster"
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Queue, Random, Schedule, TestClock } from "effect"
import { fakeConfigs, fakeNode, readNodes } from "./utils/FakeNodes.js"

const three = () => [fakeNode("p"), fakeNode("r1"), fakeNode("r2")] as const

describe("Cluster configuration", () => {
  const unbuilt = Effect.dieMessage("no pool may be built for an invalid configuration")
  const problem = (nodes: ReadonlyArray<Cluster.NodeConfig>, options?: Cluster.Options) =>
    Effect.map(
      Effect.flip(Cluster.make<never, never>(nodes, options)),
      (e) => ({ problem: e.problem, message: e.message })
    )

  it.scoped("refuses invalid node lists and options with a typed error, before building any pool", () =>
    Effect.gen(function*() {
      const node = (name: string, role: Cluster.Role, weight?: number): Cluster.NodeConfig => ({
        name,
        role,
        weight,
        pool: unbuilt
      })
      expect(yield* problem([])).toEqual({ problem: "NoNodes", message: "a cluster needs at least one node" })
      expect(yield* problem([node("a", "replica")])).toEqual({
        problem: "NoPrimary",
        message: "no node has the role \"primary\""
      })
      expect(yield* problem([node("a", "primary"), node("b", "primary")])).toEqual({
        problem: "SeveralPrimaries",
        message: "several primaries: a, b (set `writers` for several writable nodes)"
      })
      expect(yield* problem([node("a", "primary"), node("a", "replica")])).toEqual({
        problem: "DuplicateName",
        message: "two nodes are named \"a\""
      })
      expect(yield* problem([node("a", "primary"), node("b", "replica", 0)])).toEqual({
        problem: "InvalidOption",
        message: "node b: weight must be a finite number above 0, not 0"
      })
      expect(yield* problem([node("a", "primary")], { removeAfterFailures: 0 })).toEqual({
        problem: "InvalidOption",
        message: "removeAfterFailures must be a whole number of at least 1, not 0"
      })
      expect(yield* problem([node("a", "primary")], { selector: "fastest" as never })).toEqual({
        problem: "InvalidOption",
        message: "selector must be one of roundRobin, random, leastBusy, weighted, ordered, not \"fastest\""
      })
      expect(yield* problem([node("a", "primary")], { maxReplicaLag: "1 second" })).toEqual({
        problem: "InvalidOption",
        message: "maxReplicaLag needs replication (how to read positions)"
      })
      expect(yield* problem([node("a", "primary")], { maxReplicaLag: Infinity })).toEqual({
        problem: "InvalidOption",
        message: "maxReplicaLag must be a finite duration, not Infinity"
      })
      expect(yield* problem([node("a", "primary")], { failoverTimeout: Infinity })).toEqual({
        problem: "InvalidOption",
        message: "failoverTimeout must be a finite duration, not Infinity"
      })
      expect(yield* problem([node("a", "primary"), node("b", "primary")], { writers: "first" as never })).toEqual({
        problem: "InvalidOption",
        message: "writers must be one of roundRobin, random, leastBusy, weighted, ordered, not \"first\""
      })
      const error = yield* Effect.flip(Cluster.make<never, never>([]))
      expect(error).toBeInstanceOf(ClusterError.ClusterConfigError)
    }))
})

describe("Cluster routing", () => {
  it.scoped("statements go to the primary; reads outside a transaction to the replicas in turn", () =>
    Effect.gen(function*() {
      const [p, r1, r2] = three()
      const cluster = yield* Cluster.make(fakeConfigs([p, r1, r2]))
      const sql = cluster.sql
      expect(cluster.nodes.map((n) => [n.name, n.role])).toEqual([["p", "primary"], ["r1", "replica"], [
        "r2",
        "replica"
      ]])
      yield* sql`INSERT one`
      expect(yield* readNodes(cluster, 4)).toEqual(["r1", "r2", "r1", "r2"])
      // a transaction is the primary's, read or not, and so is every statement in it
      const inTransaction = yield* Cluster.read(sql.withTransaction(sql<{ node: string }>`SELECT in tx`))
      expect(inTransaction).toEqual([{ node: "p" }])
      expect(yield* Cluster.read(Cluster.onPrimary(sql<{ node: string }>`SELECT fresh`))).toEqual([{ node: "p" }])
      expect(p.ran).toEqual(["INSERT one", "BEGIN", "SELECT in tx", "COMMIT", "SELECT fresh"])
      expect(r1.ran).toEqual(["SELECT node", "SELECT node"])
      expect(r2.ran).toEqual(["SELECT node", "SELECT node"])
      // each node's own pool counts its own requests
      const stats = yield* Effect.forEach(cluster.nodes, (n) => n.pool.stats)
      expect(stats.map((s) => [s.name, s.successfulRequests])).toEqual([["p", 3], ["r1", 2], ["r2", 2]])
    }))

  it.scoped("the layer provides SqlClient: a program written against it reads from a replica", () =>
    Effect.gen(function*() {
      const [p, r1] = [fakeNode("p"), fakeNode("r1")]
      const program = Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const written = yield* sql<{ node: string }>`UPDATE x`
        const read = yield* Cluster.read(sql<{ node: string }>`SELECT x`)
        return [written[0]!.node, read[0]!.node]
      })
      expect(yield* Effect.provide(program, Cluster.layer(fakeConfigs([p, r1])))).toEqual(["p", "r1"])
    }))

  it.scoped("selectors: ordered, weighted (smooth), least busy, and a per-read override", () =>
    Effect.gen(function*() {
      const nodes = [fakeNode("p"), fakeNode("r1"), fakeNode("r2"), fakeNode("r3")]
      const cluster = yield* Cluster.make(fakeConfigs(nodes, [1, 3, 1, 1]), { selector: "weighted" })
      // weights 3, 1, 1: r1 gets three of every five, spread out
      expect(yield* readNodes(cluster, 10)).toEqual(["r1", "r2", "r1", "r3", "r1", "r1", "r2", "r1", "r3", "r1"])
      const ordered = yield* Cluster.readWith("ordered")(readNodes(cluster, 3))
      expect(ordered).toEqual(["r1", "r1", "r1"])
      // r1 and r2 each have a connection in use: the least busy is r3, then r1 and r2 tie (r1 first)
      const release = yield* Deferred.make<void>()
      const held = yield* Effect.forEach([1, 2], (i) =>
        Effect.fork(cluster.nodes[i]!.pool.withConnection(() => Deferred.await(release))))
      yield* Effect.yieldNow()
      const busy = yield* Effect.forEach(cluster.nodes, (n) =>
        n.pool.stats)
      expect(busy.map((s) => s.activeConnections)).toEqual([0, 1, 1, 0])
      expect(yield* Cluster.readWith("leastBusy")(readNodes(cluster, 2))).toEqual(["r3", "r3"])
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.joinAll(held)
      expect(yield* Cluster.readWith("leastBusy")(readNodes(cluster, 1))).toEqual(["r1"])
    }))

  it.scoped("random: every replica gets a fair share (seeded)", () =>
    Effect.gen(function*() {
      const nodes = [fakeNode("p"), fakeNode("r1"), fakeNode("r2"), fakeNode("r3")]
      const cluster = yield* Cluster.make(fakeConfigs(nodes), { selector: "random" })
      const picked = yield* Effect.withRandom(readNodes(cluster, 300), Random.make(42))
      const counts = ["r1", "r2", "r3"].map((name) => picked.filter((n) => n === name).length)
      expect(counts.reduce((a, b) => a + b)).toBe(300)
      for (const count of counts) expect(count).toBeGreaterThan(70)
    }))
})

describe("Cluster health", () => {
  it.scoped("a replica that fails N times in a row is down (reads skip it), probed, and up again", () =>
    Effect.gen(function*() {
      const [p, r1, r2] = three()
      const cluster = yield* Cluster.make(fakeConfigs([p, r1, r2]), {
        removeAfterFailures: 2,
        probe: Schedule.spaced("10 seconds")
      })
      const events = yield* cluster.subscribe
      r1.down = true
      // r1 cannot lend a connection: each read picked for it runs again on r2, and counts against r1
      expect(yield* readNodes(cluster, 4)).toEqual(["r2", "r2", "r2", "r2"])
      const down = yield* Queue.take(events)
      expect(down._tag).toBe("NodeDown")
      expect((down as Extract<ClusterEvent.ClusterEvent, { _tag: "NodeDown" }>).node).toBe("r1")
      expect((down as Extract<ClusterEvent.ClusterEvent, { _tag: "NodeDown" }>).reason).toMatch(
        /^2 failures in a row: /
      )
      expect((yield* cluster.health).map((h) => [h.name, h.up])).toEqual([["p", true], ["r1", false], ["r2", true]])
      expect(yield* readNodes(cluster, 3)).toEqual(["r2", "r2", "r2"])

      // a probe while still down fails; the node stays down
      yield* TestClock.adjust("10 seconds")
      expect(yield* Queue.size(events)).toBe(0)
      r1.down = false
      yield* TestClock.adjust("10 seconds")
      expect(yield* Queue.take(events)).toEqual(ClusterEvent.ClusterEvent.NodeUp({ node: "r1", downFor: 20_000 }))
      const back = yield* readNodes(cluster, 4)
      expect(back.filter((n) => n === "r1").length).toBe(2)
      expect(back.filter((n) => n === "r2").length).toBe(2)
    }))

  it.scoped("a replica whose pool opens its circuit is down at the next published stats", () =>
    Effect.gen(function*() {
      const [p, r1, r2] = three()
      const cluster = yield* Cluster.make(
        fakeConfigs([p, r1, r2], [], { circuitBreakerThreshold: 1, statsInterval: "100 millis" }),
        { removeAfterFailures: 10, probe: Schedule.spaced("1 hour") }
      )
      const events = yield* cluster.subscribe
      r1.down = true
      // one failed connect opens r1's circuit; the read itself runs again on r2
      expect(yield* readNodes(cluster, 1)).toEqual(["r2"])
      expect((yield* cluster.nodes[1]!.pool.stats).circuitState).toBe("open")
      expect((yield* cluster.health)[1]!.up).toBe(true)
      yield* TestClock.adjust("100 millis")
      expect(yield* Queue.take(events)).toEqual(
        ClusterEvent.ClusterEvent.NodeDown({ node: "r1", reason: "circuit open" })
      )
      expect(yield* readNodes(cluster, 2)).toEqual(["r2", "r2"])
    }))

  it.scoped("no usable replica: reads fall back to the primary, or fail with NoReplicaError", () =>
    Effect.gen(function*() {
      const [p, r1, r2] = three()
      const fallback = yield* Cluster.make(fakeConfigs([p, r1, r2]), { removeAfterFailures: 1 })
      r1.down = true
      r2.down = true
      expect(yield* readNodes(fallback, 3)).toEqual(["p", "p", "p"])
      expect((yield* fallback.health).map((h) => h.up)).toEqual([true, false, false])

      const [q, s1] = [fakeNode("q"), fakeNode("s1")]
      const failing = yield* Cluster.make(fakeConfigs([q, s1]), { removeAfterFailures: 1, readFallback: "fail" })
      s1.down = true
      const error: SqlError = yield* Effect.flip(readNodes(failing, 1))
      expect(error.cause).toBeInstanceOf(ClusterError.NoReplicaError)
      expect((error.cause as ClusterError.NoReplicaError).skipped).toEqual([{ node: "s1", reason: "failed this read" }])
      const next: SqlError = yield* Effect.flip(readNodes(failing, 1))
      expect((next.cause as ClusterError.NoReplicaError).skipped[0]!.reason).toMatch(/^1 failures in a row: /)
      // writes still go to the primary
      expect(yield* failing.sql<{ node: string }>`INSERT y`).toEqual([{ node: "q" }])
    }))

  it.scoped("readYourWrites without replication: reads after a write in the session run on the primary", () =>
    Effect.gen(function*() {
      const [p, r1] = [fakeNode("p"), fakeNode("r1")]
      const cluster = yield* Cluster.make(fakeConfigs([p, r1]))
      const nodes = yield* Cluster.readYourWrites(Effect.gen(function*() {
        const before = yield* readNodes(cluster, 1)
        yield* cluster.sql`INSERT z`
        const after = yield* readNodes(cluster, 2)
        return [...before, ...after]
      }))
      expect(nodes).toEqual(["r1", "p", "p"])
      // outside the session, reads go to the replica
      expect(yield* readNodes(cluster, 1)).toEqual(["r1"])
    }))
})
