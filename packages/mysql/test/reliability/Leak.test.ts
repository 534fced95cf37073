/**
 * Scenario 13 of docs/fault-scenarios.md on MariaDB, leak detection, against the main server (a user of the test's own,
 * so the server counts the pool's connections): a lease held past leakDetectionThreshold logs one warning
 * naming the span it was acquired in (with the stack of the acquisition), bumps `dbpool.connection.leaks` and
 * emits `LeakDetected`, once however long it is held; its return is logged; a lease given back in time
 * reports nothing.
 */
import { Reliability } from "@dbpool/testing"
import { expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, HashMap, Logger, Metric, Stream } from "effect"
import { describeDb, finish, lag, mainUser, makePool, target } from "./utils.js"

const { watchUnhandled } = Reliability

interface Captured {
  readonly level: string
  readonly message: string
  readonly annotations: Record<string, unknown>
  readonly at: number
}

const threshold = 250
const name = "my-leak"

describeDb("MariaDB: leak detection (scenario 13)", () => {
  it.live(
    "13. a lease held past the threshold: one warning with its span and stack, the metric once, the event once, " +
      "and its return logged; a lease given back in time reports nothing",
    () => {
      const logs: Array<Captured> = []
      const logger = Logger.make(({ annotations, logLevel, message }) => {
        const text = (Array.isArray(message) ? message : [message]).map(String).join(" ")
        if (text.includes("dbpool")) {
          logs.push({
            level: logLevel.label,
            message: text,
            annotations: Object.fromEntries(HashMap.toEntries(annotations)),
            at: performance.now()
          })
        }
      })
      return Effect.gen(function*() {
        const unhandled = yield* watchUnhandled
        const { count, user } = yield* mainUser
        const test = yield* makePool(target(3306, user), {
          name,
          minConnections: 1,
          maxConnections: 2,
          leakDetectionThreshold: threshold
        })
        const { pool } = test
        const events = yield* Effect.fork(
          Stream.runCollect(Stream.filter(pool.events, (e) => e._tag === "LeakDetected"))
        )
        yield* Effect.sleep("20 millis") // the events stream is running

        // Given back in time: nothing reported (held a tenth of the threshold, so that a loaded machine's stall
        // does not make it a leak: one of 100 ms did, on 2 busy cores).
        yield* pool.withConnection((conn) => Effect.zipRight(conn.sql`SELECT 1`, Effect.sleep(threshold / 10)))
        expect(logs.map((l) => l.message)).toEqual([])

        // Held three times the threshold, inside a span of the caller's.
        // The lease's own time is between the call and the callback's start (a borrow may be validated first).
        let acquiredAt = 0
        let connectionId = ""
        const asked = performance.now()
        const span = yield* pool.withConnection((conn) =>
          Effect.gen(function*() {
            acquiredAt = performance.now()
            connectionId = conn.id
            yield* conn.sql`SELECT 1`
            yield* Effect.sleep(threshold * 3)
            return yield* Effect.currentSpan
          })
        ).pipe(Effect.withSpan("checkout-handler"))
        const returned = performance.now()

        const warnings = logs.filter((l) => l.level === "WARN")
        expect(warnings.length).toBe(1)
        const warning = warnings[0]!
        expect(warning.message).toContain(`dbpool: connection ${connectionId} of pool "${name}" has been held for`)
        expect(warning.message).toContain("possible leak")
        expect(warning.message).toContain(
          `Acquired in span "checkout-handler" (trace ${span.traceId}, span ${span.spanId})`
        )
        // The stack of the acquisition (an Effect fiber's: the pool's frames under the runtime's, never the
        // caller's generator, which the span above names instead).
        expect(warning.message).toMatch(/Acquired at:\nError: lease acquired here\n\s+at /)
        expect(warning.annotations).toMatchObject({ traceId: span.traceId, spanId: span.spanId })
        // Reported while held, at the threshold (the pool's clock counts whole milliseconds: 5 ms of slack).
        console.log(
          `scenario 13: leak reported ${(warning.at - asked).toFixed(0)} ms after the call, ` +
            `${(warning.at - acquiredAt).toFixed(0)} ms after the callback started (threshold ${threshold} ms)`
        )
        expect(warning.at - asked).toBeGreaterThanOrEqual(threshold - 5)
        expect(warning.at - acquiredAt).toBeLessThan(threshold + lag.slack())

        // Its return is logged, once.
        const returns = logs.filter((l) => l.message.includes("reported as a possible leak, came back after"))
        expect(returns.length).toBe(1)
        expect(returns[0]!.level).toBe("INFO")
        expect(returns[0]!.message).toContain(`connection ${connectionId} of pool "${name}"`)
        const cameBack = Number(/came back after (\d+) ms/.exec(returns[0]!.message)![1])
        expect(cameBack).toBeGreaterThanOrEqual(threshold * 3)
        expect(cameBack).toBeLessThanOrEqual(returned - asked + 5)

        // The counter, tagged with the pool's name, bumped once.
        const snapshot = yield* Metric.snapshot
        const leaks = snapshot.filter((pair) =>
          pair.metricKey.name === "dbpool.connection.leaks" &&
          pair.metricKey.tags.some((tag) => tag.key === "db.client.connection.pool.name" && tag.value === name)
        )
        expect(leaks.map((pair) => (pair.metricState as unknown as { count: number }).count)).toEqual([1])

        expect(unhandled).toEqual([])
        yield* finish(test, count)
        // The events stream ends with the pool: one LeakDetected for the one lease.
        const leakEvents = Chunk.toReadonlyArray(yield* Fiber.join(events))
        expect(leakEvents.length).toBe(1)
        expect(leakEvents[0]).toMatchObject({ _tag: "LeakDetected", connectionId })
        expect((leakEvents[0] as { readonly heldTime: number }).heldTime).toBeGreaterThanOrEqual(threshold)
        expect(logs.filter((l) => l.level === "WARN").length).toBe(1)
      }).pipe(Effect.scoped, Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    },
    { timeout: 15_000 }
  )
})
