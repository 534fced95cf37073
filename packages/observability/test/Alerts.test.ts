import { ResourcePool } from "@dbpool/core"
import type { PoolEvent } from "@dbpool/core/PoolEvent"
import { AlertRule, Alerts } from "@dbpool/observability"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Exit, Fiber, Metric, Ref, Scope, Stream, TestClock } from "effect"

const settle = Effect.repeatN(Effect.yieldNow(), 100)
let sequence = 0
const uniqueName = (label: string) => `alerts-${label}-${Date.now()}-${++sequence}`

/** A pool of plain objects whose connection attempts fail while `down` is set. */
const makePool = (config: ResourcePool.Options<unknown, string, never>["config"]) =>
  Effect.gen(function*() {
    const down = yield* Ref.make(false)
    const scope = yield* Scope.make()
    const pool = yield* ResourcePool.make({
      acquire: Effect.flatMap(Ref.get(down), (isDown) => isDown ? Effect.fail("down") : Effect.succeed({})),
      config
    }).pipe(Scope.extend(scope))
    return { pool, down, close: Scope.close(scope, Exit.void) }
  })

/** Alerts on the pool, with every event the callback gets kept in order, at the TestClock time it came. */
const watch = <A>(pool: ResourcePool.ResourcePool<A, string>, options: Alerts.Options = {}) =>
  Effect.gen(function*() {
    const seen = yield* Ref.make<Array<[number, PoolEvent]>>([])
    const alerts = yield* Alerts.make(pool, {
      ...options,
      onAlert: (event) =>
        Effect.flatMap(TestClock.currentTimeMillis, (t) =>
          Ref.update(seen, (all) => [...all, [t / 1000, event] as [number, PoolEvent]]))
    })
    return { alerts, seen: Ref.get(seen) }
  })

const raised = (pool: string, alert: string, severity: "warning" | "critical", value: number, summary: string) => ({
  _tag: "AlertRaised",
  pool,
  alert,
  severity,
  value,
  summary
})

describe("Alerts (in-process)", () => {
  it.scoped("raises DbPoolSaturated after callers waited a minute, DbPoolAcquireTimeouts at the timeout, and resolves them", () =>
    Effect.gen(function*() {
      const name = uniqueName("saturated")
      const { close, pool } = yield* makePool({
        name,
        minConnections: 1,
        maxConnections: 1,
        acquireTimeout: "2 minutes"
      })
      const { alerts, seen } = yield* watch(pool)
      const holder = yield* Effect.fork(pool.use(() => Effect.sleep("10 minutes")))
      yield* settle
      const waiter = yield* Effect.fork(pool.use(() => Effect.void))
      yield* settle
      // The stats show the waiter from the next publication (1 s): pending, raised a minute later.
      yield* TestClock.adjust("60 seconds")
      expect(yield* seen).toEqual([])
      yield* TestClock.adjust("1 second")
      expect(yield* seen).toEqual([
        [
          61,
          raised(
            name,
            "DbPoolSaturated",
            "warning",
            1,
            `Pool ${name}: callers waiting for a connection for over a minute (1 now)`
          )
        ]
      ])
      expect(yield* alerts.active).toEqual([{
        pool: name,
        alert: "DbPoolSaturated",
        severity: "warning",
        since: 61_000,
        value: 1
      }])
      // The waiter gives up at 2 minutes; the statistics show it at their next publication (statsInterval,
      // 1 s): saturation resolved, a timeout raised (for: 0), in rule order.
      yield* TestClock.adjust("59 seconds")
      expect((yield* Fiber.await(waiter))._tag).toBe("Failure")
      expect((yield* seen).length).toBe(1)
      yield* TestClock.adjust("1 second")
      expect((yield* seen).slice(1)).toEqual([
        [121, { _tag: "AlertResolved", pool: name, alert: "DbPoolSaturated", duration: 60_000 }],
        [
          121,
          raised(
            name,
            "DbPoolAcquireTimeouts",
            "critical",
            1,
            `Pool ${name}: acquisitions timed out (acquireTimeout) in the last 5 minutes: 1`
          )
        ]
      ])
      // The timeout (seen at 121 s) leaves the 5-minute window at 421 s.
      yield* TestClock.adjust("299 seconds")
      expect((yield* seen).length).toBe(3)
      yield* TestClock.adjust("1 second")
      expect((yield* seen).slice(3)).toEqual([
        [421, { _tag: "AlertResolved", pool: name, alert: "DbPoolAcquireTimeouts", duration: 300_000 }]
      ])
      expect(yield* alerts.active).toEqual([])
      yield* TestClock.adjust("3 minutes")
      yield* Fiber.join(holder)
      yield* close
    }))

  it.scoped("raises DbPoolCircuitOpen at once and DbPoolBelowMinimum after 5 minutes while the database is down", () =>
    Effect.gen(function*() {
      const name = uniqueName("circuit")
      const { close, down, pool } = yield* makePool({
        name,
        minConnections: 1,
        maxConnections: 2,
        maxRetries: 0,
        circuitBreakerThreshold: 1,
        circuitBreakerProbeInterval: "10 seconds"
      })
      const { alerts, seen } = yield* watch(pool)
      yield* Ref.set(down, true)
      // The one connection goes; reopening it fails and opens the circuit.
      yield* pool.use((lease) => pool.invalidate(lease))
      yield* settle
      yield* TestClock.adjust("1 second")
      expect((yield* seen).map(([t, e]) => [t, e._tag, (e as { alert: string }).alert])).toEqual([
        [1, "AlertRaised", "DbPoolCircuitOpen"]
      ])
      // Below the minimum since the connection went (0 s): raised 5 minutes later.
      yield* TestClock.adjust("298 seconds")
      expect((yield* seen).length).toBe(1)
      yield* TestClock.adjust("1 second")
      expect((yield* seen).slice(1)).toEqual([
        [
          300,
          raised(
            name,
            "DbPoolBelowMinimum",
            "warning",
            0,
            `Pool ${name}: 0 connections open, fewer than minConnections, for 5 minutes`
          )
        ]
      ])
      // Back up: the next probe connects, the circuit closes and the minimum is open again.
      yield* Ref.set(down, false)
      yield* TestClock.adjust("10 seconds")
      yield* settle
      yield* TestClock.adjust("1 second")
      const after = (yield* seen).slice(2).map(([, e]) => e)
      expect(after.map((e) => [e._tag, (e as { alert: string }).alert])).toEqual([
        ["AlertResolved", "DbPoolCircuitOpen"],
        ["AlertResolved", "DbPoolBelowMinimum"]
      ])
      expect(yield* alerts.active).toEqual([])
      yield* close
    }))

  it.scoped("raises DbPoolLeak when a lease outlives leakDetectionThreshold, and DbPoolSlowAcquire from the wait's quantile", () =>
    Effect.gen(function*() {
      const name = uniqueName("leak")
      const { close, pool } = yield* makePool({
        name,
        minConnections: 1,
        maxConnections: 1,
        acquireTimeout: "1 minute",
        leakDetectionThreshold: "10 seconds"
      })
      // A p99 above 1 s over a minute, raised at once: the shipped rule with a shorter window and no `for`.
      const rules = [
        ...AlertRule.defaults.filter((r) => r.name === "DbPoolLeak"),
        {
          ...AlertRule.defaults.find((r) => r.name === "DbPoolSlowAcquire")!,
          condition: AlertRule.Condition.SlowAcquire({ quantile: 0.99, seconds: 1, window: "1 minute" }),
          for: 0
        }
      ]
      const { seen } = yield* watch(pool, { rules })
      yield* settle // the first evaluation: the window's base, before any wait
      const holder = yield* Effect.fork(pool.use(() => Effect.sleep("20 seconds")))
      yield* settle
      const waiter = yield* Effect.fork(pool.use(() => Effect.void))
      yield* settle
      yield* TestClock.adjust("11 seconds")
      const leak = (yield* seen).map(([, e]) => e)
      expect(leak).toEqual([
        raised(
          name,
          "DbPoolLeak",
          "warning",
          1,
          `Pool ${name}: leases held longer than leakDetectionThreshold in the last 15 minutes: 1`
        )
      ])
      // The waiter gets the connection after 20 s: of the two waits (0 and 20 s), the 99th percentile lies in
      // the bucket (13.1072, 26.2144] s, interpolated as histogram_quantile does: 13.1072 + 13.1072 × 0.98.
      yield* TestClock.adjust("9 seconds")
      yield* Fiber.join(holder)
      yield* Fiber.join(waiter)
      yield* TestClock.adjust("1 second")
      const slow = (yield* seen).map(([, e]) => e).slice(1)
      expect(slow.length).toBe(1)
      expect(slow[0]).toMatchObject({ _tag: "AlertRaised", alert: "DbPoolSlowAcquire" })
      expect((slow[0] as { value: number }).value).toBeCloseTo(13.1072 + 13.1072 * 0.98, 9)
      // A minute without waits: no observation in the window, resolved.
      yield* TestClock.adjust("61 seconds")
      expect((yield* seen).map(([, e]) => e).slice(2).map((e) => e._tag)).toEqual(["AlertResolved"])
      yield* close
    }))

  it.scoped("raises DbPoolClusterNodeDown after a cluster's node was held down a minute (dbpool.cluster.node.up 0)", () =>
    Effect.gen(function*() {
      const name = uniqueName("node")
      const { close, pool } = yield* makePool({ name, minConnections: 0, maxConnections: 1 })
      const rules = AlertRule.defaults.filter((r) => r.name === "DbPoolClusterNodeDown")
      const { alerts, seen } = yield* watch(pool, { rules })
      // no cluster records the gauge for this pool yet: as `dbpool_cluster_node_up == 0` has no series, nothing
      yield* TestClock.adjust("2 minutes")
      expect(yield* seen).toEqual([])
      // what @dbpool/cluster records for its node's pool
      const up = Metric.gauge("dbpool.cluster.node.up").pipe(Metric.tagged("db.client.connection.pool.name", name))
      yield* Metric.set(up, 1)
      yield* TestClock.adjust("1 minute")
      expect(yield* seen).toEqual([])
      yield* Metric.set(up, 0)
      yield* TestClock.adjust("1 second") // the first evaluation that sees it down
      yield* TestClock.adjust("59 seconds")
      expect(yield* seen).toEqual([])
      yield* TestClock.adjust("1 second")
      expect(yield* seen).toEqual([[
        241,
        raised(
          name,
          "DbPoolClusterNodeDown",
          "warning",
          0,
          `Cluster node ${name}: down (failures in a row, or its circuit open) for over a minute`
        )
      ]])
      expect((yield* alerts.active).map((a) => a.alert)).toEqual(["DbPoolClusterNodeDown"])
      yield* Metric.set(up, 1)
      yield* TestClock.adjust("1 second")
      expect((yield* seen).map(([t, e]) => [t, e._tag])).toEqual([[241, "AlertRaised"], [242, "AlertResolved"]])
      expect(yield* alerts.active).toEqual([])
      yield* close
    }))

  it.scoped("puts the alerts among the pool's events (withAlerts), and stops with the pool", () =>
    Effect.gen(function*() {
      const name = uniqueName("events")
      const { close, pool } = yield* makePool({
        name,
        minConnections: 1,
        maxConnections: 1,
        acquireTimeout: "5 seconds"
      })
      const rules = AlertRule.defaults.filter((r) => r.name === "DbPoolAcquireTimeouts")
      const alerts = yield* Alerts.make(pool, { rules })
      const events = yield* Alerts.withAlerts(pool, alerts).pipe(
        Stream.filter((e) => e._tag === "AcquireTimedOut" || e._tag === "AlertRaised"),
        Stream.take(2),
        Stream.runCollect,
        Effect.fork
      )
      yield* settle
      const holder = yield* Effect.fork(pool.use(() => Effect.sleep("1 minute")))
      yield* settle
      const late = yield* Effect.fork(pool.use(() => Effect.void))
      yield* settle
      yield* TestClock.adjust("6 seconds")
      yield* Fiber.await(late)
      expect(Chunk.toArray(yield* Fiber.join(events)).map((e) => e._tag)).toEqual(["AcquireTimedOut", "AlertRaised"])
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(holder)
      yield* close
      // The pool's statistics ended, and the evaluation with them: the alert raised at the publication after
      // the timeout (6 s) stays as it was, though its window has passed.
      expect(yield* alerts.active).toEqual([
        { pool: name, alert: "DbPoolAcquireTimeouts", severity: "critical", since: 6000, value: 1 }
      ])
    }))

  it.scoped("refuses invalid rules with an AlertRuleError before watching", () =>
    Effect.gen(function*() {
      const { close, pool } = yield* makePool({ name: uniqueName("invalid"), minConnections: 0, maxConnections: 1 })
      const rule = { ...AlertRule.defaults[0]!, for: Duration.infinity }
      const error = yield* Effect.flip(Alerts.make(pool, { rules: [rule] }))
      expect(error.message).toBe("alert rule DbPoolSaturated: for must be finite")
      yield* close
    }))
})
