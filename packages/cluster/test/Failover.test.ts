/**
 * Failover and several writers on fake nodes with the TestClock: which node takes writes, when that
 * changes, what a write sees meanwhile, and the events.
 */
import { Cluster, ClusterError, ClusterEvent } from "@dbpool/cluster"
import type { SqlError } from "@effect/sql/SqlError"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Either, Fiber, Queue, Random, Schedule, TestClock, Tracer } from "effect"
import {
  expectIdle,
  fakeConfigs,
  fakeNode,
  fakeReplication,
  readNodes,
  stopNode,
  writeNode
} from "./utils/FakeNodes.js"

const E = ClusterEvent.ClusterEvent

const failover = (options: Cluster.Options = {}): Cluster.Options => ({
  replication: fakeReplication,
  discovery: Schedule.spaced("1 second"),
  failoverTimeout: "5 seconds",
  probe: Schedule.spaced("1 hour"),
  ...options
})

/** The next event about the primary (node events are skipped). */
const nextPrimaryEvent = (events: Queue.Dequeue<ClusterEvent.ClusterEvent>): Effect.Effect<ClusterEvent.ClusterEvent> =>
  Effect.flatMap(
    Queue.take(events),
    (e) => e._tag === "NodeDown" || e._tag === "NodeUp" ? nextPrimaryEvent(events) : Effect.succeed(e)
  )

/** A tracer other than the built-in one: the pool's transactions then take @effect/sql's path. */
const recordingTracer = Tracer.make({
  span: (name, parent, context, links, startTime, kind) =>
    Effect.runSync(Effect.tracer).span(name, parent, context, links, startTime, kind),
  context: (f) => f()
})

const roles = (cluster: Cluster.Cluster) => cluster.nodes.map((node) => `${node.name}:${node.role}`)

describe("Failover: the primary is discovered", () => {
  it.scoped("at start: the node that takes writes is the primary, whatever the configuration says", () =>
    Effect.gen(function*() {
      const [p, r1, r2] = [fakeNode("p", false), fakeNode("r1", true), fakeNode("r2", false)]
      const cluster = yield* Cluster.make(fakeConfigs([p, r1, r2]), failover())
      expect(roles(cluster)).toEqual(["p:replica", "r1:primary", "r2:replica"])
      expect(cluster.primary.name).toBe("r1")
      expect(yield* writeNode(cluster)).toBe("r1")
      // reads go to the nodes that are not the primary
      expect(yield* readNodes(cluster, 2)).toEqual(["p", "r2"])
      expect([p.ran, r1.ran, r2.ran]).toEqual([["SELECT node"], ["INSERT w"], ["SELECT node"]])
      yield* expectIdle(cluster)
    }))

  it.scoped("the primary refuses a write as read-only: the write runs on the node promoted meanwhile", () =>
    Effect.gen(function*() {
      const [p, r1] = [fakeNode("p", true), fakeNode("r1", false)]
      // no scheduled discovery: only the refused write can tell
      const cluster = yield* Cluster.make(fakeConfigs([p, r1]), failover({ discovery: Schedule.stop }))
      const events = yield* cluster.subscribe
      expect(yield* writeNode(cluster)).toBe("p")
      p.writable = false
      r1.writable = true
      expect(yield* writeNode(cluster, "INSERT after")).toBe("r1")
      expect(p.ran).toEqual(["INSERT w"])
      expect(r1.ran).toEqual(["INSERT after"])
      expect([...(yield* Queue.takeAll(events))]).toEqual([E.PrimaryChanged({ from: "p", to: "r1" })])
      expect(roles(cluster)).toEqual(["p:replica", "r1:primary"])
      expect(yield* readNodes(cluster, 1)).toEqual(["p"])
      yield* expectIdle(cluster)
    }))

  it.scoped("the primary stops; no primary (PrimaryLost), writes wait; a replica is promoted: they run on it", () =>
    Effect.gen(function*() {
      const [p, r1] = [fakeNode("p", true), fakeNode("r1", false)]
      const cluster = yield* Cluster.make(fakeConfigs([p, r1]), failover())
      const events = yield* cluster.subscribe
      yield* stopNode(p)
      const waiting = yield* Effect.fork(
        Effect.forEach(["INSERT 1", "INSERT 2", "INSERT 3"], (sql) => writeNode(cluster, sql), {
          concurrency: "unbounded"
        })
      )
      yield* TestClock.adjust("10 millis")
      expect(yield* nextPrimaryEvent(events)).toEqual(E.PrimaryLost({ from: "p" }))
      expect(yield* cluster.currentPrimary).toBeUndefined()
      yield* TestClock.adjust("2 seconds")
      expect(waiting.unsafePoll()).toBeNull()
      r1.writable = true
      // a waiting write looks again every 100 ms
      yield* TestClock.adjust("100 millis")
      expect(yield* Fiber.join(waiting)).toEqual(["r1", "r1", "r1"])
      expect(yield* nextPrimaryEvent(events)).toEqual(E.PrimaryChanged({ from: "p", to: "r1" }))
      expect([...r1.ran].sort()).toEqual(["INSERT 1", "INSERT 2", "INSERT 3"])
      expect((yield* cluster.currentPrimary)?.name).toBe("r1")
      yield* expectIdle(cluster)
    }))

  it.scoped("no primary for failoverTimeout: the write fails with NoPrimaryError and ran nowhere", () =>
    Effect.gen(function*() {
      const [p, r1] = [fakeNode("p", true), fakeNode("r1", false)]
      const cluster = yield* Cluster.make(fakeConfigs([p, r1]), failover())
      p.writable = false
      const write = yield* Effect.fork(Effect.either(writeNode(cluster, "INSERT late")))
      yield* TestClock.adjust("4900 millis")
      expect(write.unsafePoll()).toBeNull()
      yield* TestClock.adjust("100 millis")
      const outcome = yield* Fiber.join(write)
      expect(Either.isLeft(outcome)).toBe(true)
      const error = (outcome as Either.Left<SqlError, string>).left
      expect(error.cause).toBeInstanceOf(ClusterError.NoPrimaryError)
      const cause = error.cause as ClusterError.NoPrimaryError
      expect(cause.waited).toBe(5000)
      expect(cause.message).toMatch(/^no primary took the write within 5000 ms: read-only$/)
      expect([p.ran, r1.ran]).toEqual([[], []])
      // a primary again: writes run
      r1.writable = true
      yield* TestClock.adjust("1 second")
      expect(yield* writeNode(cluster)).toBe("r1")
      yield* expectIdle(cluster)
    }))

  it.scoped("a write that lost its connection is not run again: it fails with its own error", () =>
    Effect.gen(function*() {
      const [p, r1] = [fakeNode("p", true), fakeNode("r1", false)]
      const cluster = yield* Cluster.make(fakeConfigs([p, r1]), failover())
      p.loseNext = 1
      const error: SqlError = yield* Effect.flip(writeNode(cluster, "INSERT maybe"))
      expect((error.cause as { _tag: string })._tag).toBe("ConnectionLostError")
      // it ran once (it may have committed), and only once
      expect(p.ran).toEqual(["INSERT maybe"])
      expect(r1.ran).toEqual([])
      expect(yield* writeNode(cluster, "INSERT next")).toBe("p")
      // the discovery the lost write started in the background ends
      yield* TestClock.adjust("10 millis")
      yield* expectIdle(cluster)
    }))

  it.scoped("promoted beside a primary that still takes writes: the highest term wins (SplitBrain), the other is fenced", () =>
    Effect.gen(function*() {
      const [p, r1, r2] = [fakeNode("p", true), fakeNode("r1", false), fakeNode("r2", false)]
      const cluster = yield* Cluster.make(fakeConfigs([p, r1, r2]), failover())
      const events = yield* cluster.subscribe
      r1.writable = true
      r1.term = 2
      // until the next discovery, p keeps the writes; the discovery every second finds r1
      expect(yield* writeNode(cluster, "INSERT before")).toBe("p")
      yield* TestClock.adjust("1 second")
      expect(yield* Queue.takeAll(events).pipe(Effect.map((c) => [...c]))).toEqual([
        E.SplitBrain({ writable: ["p", "r1"], primary: "r1" }),
        E.PrimaryChanged({ from: "p", to: "r1" })
      ])
      expect(yield* writeNode(cluster, "INSERT after")).toBe("r1")
      // p is fenced: no reads either, while it takes writes
      expect(yield* readNodes(cluster, 3)).toEqual(["r2", "r2", "r2"])
      // p turned into a standby: it is a replica again
      p.writable = false
      yield* TestClock.adjust("1 second")
      expect(yield* readNodes(cluster, 2)).toEqual(["p", "r2"])
      expect(p.ran).toEqual(["INSERT before", "SELECT node"])
      yield* expectIdle(cluster)
    }))

  it.scoped("an old primary too busy to answer keeps its last answer and term: the promoted node wins", () =>
    Effect.gen(function*() {
      const [p, r1] = [fakeNode("p", true), fakeNode("r1", false)]
      const cluster = yield* Cluster.make(fakeConfigs([p, r1]), failover())
      p.silent = true
      r1.writable = true
      r1.term = 2
      // the next discovery (at 0 or 1 s) waits 2 s for p's answer, then keeps p writable at term 1: r1's
      // term is higher
      yield* TestClock.adjust("1999 millis")
      expect((yield* cluster.currentPrimary)?.name).toBe("p")
      yield* TestClock.adjust("1001 millis")
      expect((yield* cluster.currentPrimary)?.name).toBe("r1")
      expect(yield* writeNode(cluster)).toBe("r1")
      // the checks that timed out were interrupted; p answers again: nothing is left lent
      p.silent = false
      yield* TestClock.adjust("2 seconds")
      yield* expectIdle(cluster)
    }))

  it.scoped("50 fibers write through a failover, some interrupted at random: every write typed, pools idle", () =>
    Effect.gen(function*() {
      const [p, r1] = [fakeNode("p", true), fakeNode("r1", false)]
      const cluster = yield* Cluster.make(fakeConfigs([p, r1], [], { maxConnections: 4 }), failover())
      const outcomes: Array<string> = []
      const record = (sql: string) =>
        Effect.flatMap(Effect.either(writeNode(cluster, sql)), (o) =>
          Effect.sync(() => {
            outcomes.push(o._tag === "Right" ? o.right : (o.left.cause as { _tag?: string })._tag ?? "untyped")
          }))
      const stopped = yield* Deferred.make<void>()
      // two writes each, then (once p has stopped) eight more
      const writer = (i: number) =>
        Effect.zipRight(
          Effect.zipRight(Effect.forEach([0, 1], (j) => record(`INSERT ${i}-${j}`)), Deferred.await(stopped)),
          Effect.forEach([2, 3, 4, 5, 6, 7, 8, 9], (j) => record(`INSERT ${i}-${j}`))
        )
      const fibers = yield* Effect.forEach(Array.from({ length: 50 }, (_, i) => i), (i) => Effect.fork(writer(i)))
      yield* Effect.repeat(Effect.yieldNow(), { until: () => outcomes.length >= 100 })
      yield* stopNode(p)
      yield* Deferred.succeed(stopped, undefined)
      yield* TestClock.adjust("10 millis")
      // interrupt a random fifth of the writers while they wait for a primary
      const interrupted = yield* Effect.filter(fibers, () => Effect.map(Random.nextIntBetween(0, 5), (n) => n === 0))
      yield* Effect.forEach(interrupted, Fiber.interrupt)
      yield* TestClock.adjust("1 second")
      r1.writable = true
      yield* TestClock.adjust("1 second")
      yield* Effect.forEach(fibers.filter((f) => !interrupted.includes(f)), Fiber.join)
      // each write ran on p before it stopped or on r1 after; none failed (none was running when p stopped)
      expect(outcomes.slice(0, 100)).toEqual(Array.from({ length: 100 }, () => "p"))
      expect(outcomes.slice(100).filter((o) => o !== "r1")).toEqual([])
      expect(outcomes.length).toBe(100 + 8 * (50 - interrupted.length))
      expect([p.ran.length, r1.ran.length]).toEqual([100, outcomes.length - 100])
      yield* expectIdle(cluster)
    }).pipe(Effect.withRandom(Random.make(7))))

  it.scoped("two writable nodes of the same term: neither takes writes until one is read-only", () =>
    Effect.gen(function*() {
      const [p, r1] = [fakeNode("p", true), fakeNode("r1", true)]
      const cluster = yield* Cluster.make(fakeConfigs([p, r1]), failover())
      const events = yield* cluster.subscribe
      // found at start (the SplitBrain event of then was before this subscription)
      expect(yield* cluster.currentPrimary).toBeUndefined()
      const write = yield* Effect.fork(writeNode(cluster))
      yield* TestClock.adjust("1 second")
      expect(write.unsafePoll()).toBeNull()
      p.writable = false
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(write)).toBe("r1")
      expect(yield* Queue.take(events)).toEqual(E.PrimaryChanged({ from: "p", to: "r1" }))
      expect(p.ran).toEqual([])
      yield* expectIdle(cluster)
    }))

  it.scoped("a transaction runs on the primary of the moment; one refused before its effect ran runs again", () =>
    Effect.gen(function*() {
      const [p, r1] = [fakeNode("p", true), fakeNode("r1", false)]
      const cluster = yield* Cluster.make(fakeConfigs([p, r1]), failover())
      const tx = cluster.sql.withTransaction(writeNode(cluster, "INSERT in tx"))
      // its BEGIN loses the connection: nothing of it ran, it runs again (on the same primary: after a poll)
      p.loseNext = 1
      const again = yield* Effect.fork(tx)
      yield* TestClock.adjust("100 millis")
      expect(yield* Fiber.join(again)).toBe("p")
      expect(p.ran).toEqual(["BEGIN", "BEGIN", "INSERT in tx", "COMMIT"])
      // lost after its effect started: not run again
      const lost = yield* Effect.flip(cluster.sql.withTransaction(Effect.zipRight(
        Effect.sync(() => {
          p.loseNext = 1
        }),
        writeNode(cluster, "INSERT in tx")
      )))
      expect((lost.cause as { _tag: string })._tag).toBe("ConnectionLostError")
      expect(p.ran.slice(4)).toEqual(["BEGIN", "INSERT in tx"])
      yield* stopNode(p)
      r1.writable = true
      let runs = 0
      const counted = cluster.sql.withTransaction(
        Effect.zipRight(Effect.sync(() => runs++), writeNode(cluster, "INSERT 2"))
      )
      expect(yield* counted).toBe("r1")
      expect(runs).toBe(1)
      expect(r1.ran).toEqual(["BEGIN", "INSERT 2", "COMMIT"])
      yield* expectIdle(cluster)
    }))

  // untraced: the pool's own transaction path; traced: @effect/sql's (a tracer is installed)
  for (const traced of [false, true]) {
    it.scoped(`a transaction begun READ WRITE on a demoted primary is refused at BEGIN: it runs once, on the new primary${traced ? " (traced)" : ""}`, () =>
      Effect.gen(function*() {
        const [p, r1] = [fakeNode("p", true), fakeNode("r1", false)]
        // no scheduled discovery: the cluster still takes p for the primary when the transaction starts
        const options = failover({
          discovery: Schedule.stop,
          replication: { ...fakeReplication, beginWrite: "BEGIN READ WRITE" }
        })
        const cluster = yield* Cluster.make(fakeConfigs([p, r1]), options)
        const events = yield* cluster.subscribe
        p.writable = false
        r1.writable = true
        let runs = 0
        const tx = cluster.sql.withTransaction(
          Effect.zipRight(Effect.sync(() => runs++), writeNode(cluster, "INSERT t"))
        )
        expect(yield* (traced ? Effect.withTracer(tx, recordingTracer) : tx)).toBe("r1")
        expect(runs).toBe(1)
        // p refused BEGIN READ WRITE (not recorded), then rolled the failed BEGIN back; nothing else reached it
        expect(p.ran).toEqual(["ROLLBACK"])
        expect(r1.ran).toEqual(["BEGIN READ WRITE", "INSERT t", "COMMIT"])
        expect(yield* Queue.take(events)).toEqual(E.PrimaryChanged({ from: "p", to: "r1" }))
        yield* expectIdle(cluster)
      }))
  }

  it.scoped("without beginWrite, the same transaction is refused at its first write, after its effect ran: not run again", () =>
    Effect.gen(function*() {
      const [p, r1] = [fakeNode("p", true), fakeNode("r1", false)]
      const cluster = yield* Cluster.make(fakeConfigs([p, r1]), failover({ discovery: Schedule.stop }))
      p.writable = false
      r1.writable = true
      let runs = 0
      const tx = cluster.sql.withTransaction(Effect.zipRight(Effect.sync(() => runs++), writeNode(cluster, "INSERT t")))
      const error = yield* Effect.flip(tx)
      expect((error.cause as { code?: string }).code).toBe("25006")
      expect(runs).toBe(1)
      expect(p.ran).toEqual(["BEGIN", "ROLLBACK"])
      expect(r1.ran).toEqual([])
      yield* expectIdle(cluster)
    }))
})

describe("Several writers (multi-master)", () => {
  const writers = (nodes: ReturnType<typeof fakeNode>[], selector: Cluster.Options["writers"], options = {}) =>
    Cluster.make(
      fakeConfigs(nodes, [], {}, nodes.map((n) => n.name.startsWith("w") ? "primary" : "replica")),
      { writers: selector, removeAfterFailures: 1, probe: Schedule.spaced("1 second"), ...options }
    )

  it.scoped("a writer that refuses BEGIN READ WRITE is down; the transaction runs once on another", () =>
    Effect.gen(function*() {
      const [w1, w2] = [fakeNode("w1", false), fakeNode("w2")]
      const cluster = yield* writers([w1, w2], "ordered", {
        replication: { ...fakeReplication, beginWrite: "BEGIN READ WRITE" }
      })
      const events = yield* cluster.subscribe
      let runs = 0
      const tx = cluster.sql.withTransaction(Effect.zipRight(Effect.sync(() => runs++), writeNode(cluster, "INSERT t")))
      expect(yield* tx).toBe("w2")
      expect(runs).toBe(1)
      expect([w1.ran, w2.ran]).toEqual([["ROLLBACK"], ["BEGIN READ WRITE", "INSERT t", "COMMIT"]])
      expect(yield* Queue.take(events)).toEqual(E.NodeDown({ node: "w1", reason: "read-only" }))
      expect((yield* cluster.health).map((h) => [h.name, h.up])).toEqual([["w1", false], ["w2", true]])
      yield* expectIdle(cluster)
    }))

  it.scoped("writes are balanced by the selector; reads go to the replicas", () =>
    Effect.gen(function*() {
      const nodes = [fakeNode("w1"), fakeNode("w2"), fakeNode("w3"), fakeNode("r1")]
      const cluster = yield* writers(nodes, "roundRobin")
      const written = yield* Effect.forEach(Array.from({ length: 6 }), () => writeNode(cluster))
      expect(written).toEqual(["w1", "w2", "w3", "w1", "w2", "w3"])
      expect(yield* readNodes(cluster, 2)).toEqual(["r1", "r1"])
      expect(roles(cluster)).toEqual(["w1:primary", "w2:primary", "w3:primary", "r1:replica"])
      yield* expectIdle(cluster)
    }))

  it.scoped("a down writer is skipped (its refused write runs on another), probed and back", () =>
    Effect.gen(function*() {
      const [w1, w2, w3] = [fakeNode("w1"), fakeNode("w2"), fakeNode("w3")]
      const cluster = yield* writers([w1, w2, w3], "roundRobin")
      const events = yield* cluster.subscribe
      w2.down = true
      const written = yield* Effect.forEach(Array.from({ length: 6 }), () => writeNode(cluster))
      // the write picked for w2 was refused before it ran: it ran on the next pick (w1); w2 is down from then on
      expect(written).toEqual(["w1", "w1", "w3", "w1", "w3", "w1"])
      expect((yield* Queue.take(events))._tag).toBe("NodeDown")
      w2.down = false
      yield* TestClock.adjust("1 second")
      expect(yield* Queue.take(events)).toEqual(E.NodeUp({ node: "w2", downFor: 1000 }))
      const back = yield* Effect.forEach(Array.from({ length: 3 }), () => writeNode(cluster))
      expect([...back].sort()).toEqual(["w1", "w2", "w3"])
      yield* expectIdle(cluster)
    }))

  it.scoped("weighted writers: each gets its share (fairness over 400 writes)", () =>
    Effect.gen(function*() {
      const nodes = [fakeNode("w1"), fakeNode("w2")]
      const cluster = yield* Cluster.make(fakeConfigs(nodes, [3, 1], {}, ["primary", "primary"]), {
        writers: "weighted"
      })
      const written = yield* Effect.forEach(Array.from({ length: 400 }), () => writeNode(cluster))
      expect([written.filter((n) => n === "w1").length, written.filter((n) => n === "w2").length]).toEqual([300, 100])
      yield* expectIdle(cluster)
    }))

  it.scoped("a read-only writer is down until it takes writes again; with none, NoPrimaryError", () =>
    Effect.gen(function*() {
      const [w1, w2] = [fakeNode("w1"), fakeNode("w2")]
      const cluster = yield* writers([w1, w2], "ordered", {
        replication: fakeReplication,
        failoverTimeout: "2 seconds"
      })
      w1.writable = false
      expect(yield* writeNode(cluster)).toBe("w2")
      yield* stopNode(w2)
      const failed = yield* Effect.fork(Effect.flip(writeNode(cluster)))
      // the probe of w1 checks that it takes writes: it does not, it stays down
      yield* TestClock.adjust("2 seconds")
      const error = (yield* Fiber.join(failed)) as SqlError
      expect(error.cause).toBeInstanceOf(ClusterError.NoPrimaryError)
      expect((error.cause as ClusterError.NoPrimaryError).message).toMatch(/^no writer took the write within 2000 ms/)
      w1.writable = true
      yield* TestClock.adjust("1 second")
      expect(yield* writeNode(cluster)).toBe("w1")
      yield* expectIdle(cluster)
    }))
})
