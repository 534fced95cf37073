import { PoolError, ResourcePool } from "@dbpool/core"
import type { PoolConfig } from "@dbpool/core"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Exit, Fiber, Option, Ref, Scope, Stream, TestClock, Tracer } from "effect"
import { Events } from "../src/internal/events.js"
import * as FakeResource from "./utils/FakeResource.js"

/** A tracer whose spans get predictable ids: trace-1/span-1, trace-2/span-2, ... */
const countingTracer = () => {
  let n = 0
  return Tracer.make({
    span: (name, parent, context, links, startTime, kind) => {
      n++
      const span: Tracer.Span = {
        _tag: "Span",
        name,
        spanId: `span-${n}`,
        traceId: Option.isSome(parent) ? parent.value.traceId : `trace-${n}`,
        parent,
        context,
        status: { _tag: "Started", startTime },
        attributes: new Map(),
        links,
        sampled: true,
        kind,
        end: () => {},
        attribute: () => {},
        event: () => {},
        addLinks: () => {}
      }
      return span
    },
    context: (f) => f()
  })
}

const poolOf = (fake: FakeResource.FakeResource, size: number, extra: PoolConfig.Input = {}) =>
  ResourcePool.make({
    acquire: fake.acquire,
    release: fake.release,
    config: {
      name: "held",
      minConnections: size,
      maxConnections: size,
      acquireTimeout: "5 seconds",
      statsInterval: "1 day",
      ...extra
    }
  })

/** A fiber holding one connection until `done`, started under `wrap` (a span, a tracer). */
const holdOne = (
  pool: ResourcePool.ResourcePool<FakeResource.FakeConnection, string>,
  done: Deferred.Deferred<void>,
  wrap: <A, E, R>(e: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R> = (e) => e
) =>
  Effect.gen(function*() {
    const holder = yield* Effect.fork(wrap(pool.use(() => Deferred.await(done))))
    yield* FakeResource.settle
    return holder
  })

/** The ids of the connections lent out now. */
const activeIds = (pool: ResourcePool.ResourcePool<FakeResource.FakeConnection, string>) =>
  Effect.map(pool.metrics, (cs) => cs.filter((c) => c.state === "active").map((c) => c.id))

const timeoutOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(Fiber.join(fiber))
    expect(error).toBeInstanceOf(PoolError.PoolTimeoutError)
    return error as PoolError.PoolTimeoutError
  })

describe("PoolTimeoutError: who holds the connections", () => {
  it.effect("lists the leases held longest first, with how long, and the acquiring span under a tracer", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      const done = yield* Deferred.make<void>()
      yield* Effect.gen(function*() {
        const pool = yield* poolOf(fake, 2)
        const tracer = countingTracer()
        const traced = <A, E, R>(e: Effect.Effect<A, E, R>) =>
          e.pipe(Effect.withSpan("checkout"), Effect.withTracer(tracer))
        const first = yield* holdOne(pool, done, traced)
        const [firstId] = yield* activeIds(pool)
        yield* TestClock.adjust("1 second")
        const second = yield* holdOne(pool, done)
        const secondId = (yield* activeIds(pool)).find((id) => id !== firstId)!
        yield* TestClock.adjust("1 second")
        const waiter = yield* Effect.fork(pool.use(() => Effect.void))
        yield* FakeResource.settle
        yield* TestClock.adjust("5 seconds")
        const error = yield* timeoutOf(waiter)
        expect(error.leases).toEqual([
          {
            connectionId: firstId,
            acquiredAt: 0,
            heldFor: 7000,
            usageCount: 1,
            span: { name: "checkout", traceId: "trace-1", spanId: "span-1" },
            callSite: undefined
          },
          {
            connectionId: secondId,
            acquiredAt: 1000,
            heldFor: 6000,
            usageCount: 1,
            span: undefined,
            callSite: undefined
          }
        ])
        expect(error.message).toBe(
          `Timed out after 5s waiting for a connection from pool "held" (2 in use, 0 idle, 0 being opened, ` +
            `1 waiting, max 2); held longest: ${firstId} for 7000 ms (span "checkout"), ${secondId} for 6000 ms`
        )
        yield* Deferred.succeed(done, undefined)
        yield* Fiber.join(first)
        yield* Fiber.join(second)
      }).pipe(Effect.ensuring(Deferred.succeed(done, undefined)), Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))

  it.effect("without a tracer or leak detection nothing is recorded but the times; the message names three", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      const done = yield* Deferred.make<void>()
      yield* Effect.gen(function*() {
        const pool = yield* poolOf(fake, 4)
        const holders: Array<Fiber.RuntimeFiber<void, unknown>> = []
        const ids: Array<string> = []
        for (let i = 0; i < 4; i++) {
          // A span with the built-in tracer (no tracer installed): not recorded.
          holders.push(yield* holdOne(pool, done, Effect.withSpan("untraced")))
          ids.push((yield* activeIds(pool)).find((id) => !ids.includes(id))!)
          yield* TestClock.adjust("250 millis")
        }
        const waiter = yield* Effect.fork(pool.use(() => Effect.void))
        yield* FakeResource.settle
        yield* TestClock.adjust("5 seconds")
        const error = yield* timeoutOf(waiter)
        expect(error.leases.map((l) => [l.connectionId, l.heldFor, l.span, l.callSite])).toEqual([
          [ids[0], 6000, undefined, undefined],
          [ids[1], 5750, undefined, undefined],
          [ids[2], 5500, undefined, undefined],
          [ids[3], 5250, undefined, undefined]
        ])
        expect(error.message).toContain(
          `; held longest: ${ids[0]} for 6000 ms, ${ids[1]} for 5750 ms, ${ids[2]} for 5500 ms, and 1 more`
        )
        yield* Deferred.succeed(done, undefined)
        yield* Fiber.joinAll(holders)
      }).pipe(Effect.ensuring(Deferred.succeed(done, undefined)), Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))

  it.effect("under leak detection each lease carries its call site and its span, even without a tracer", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      const done = yield* Deferred.make<void>()
      yield* Effect.gen(function*() {
        const pool = yield* poolOf(fake, 1, { leakDetectionThreshold: "1 minute" })
        const holder = yield* holdOne(pool, done, Effect.withSpan("report"))
        const waiter = yield* Effect.fork(pool.use(() => Effect.void))
        yield* FakeResource.settle
        yield* TestClock.adjust("5 seconds")
        const error = yield* timeoutOf(waiter)
        expect(error.leases).toHaveLength(1)
        const [lease] = error.leases
        expect(lease!.heldFor).toBe(5000)
        expect(lease!.span?.name).toBe("report")
        expect(lease!.callSite).toMatch(/^Error: lease acquired here\n {4}at /)
        yield* Deferred.succeed(done, undefined)
        yield* Fiber.join(holder)
      }).pipe(Effect.ensuring(Deferred.succeed(done, undefined)), Effect.scoped)
      yield* FakeResource.expectNoLeak(fake)
    }))

  it.effect("a caller who times out while nothing is lent (the pool cannot connect) gets an empty list", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      yield* Effect.gen(function*() {
        const pool = yield* ResourcePool.make({
          acquire: fake.acquire,
          release: fake.release,
          config: { name: "empty", minConnections: 0, maxConnections: 1, acquireTimeout: "1 second" }
        })
        yield* Ref.set(fake.createMode, { _tag: "hang" })
        const waiter = yield* Effect.fork(pool.use(() => Effect.void))
        yield* FakeResource.settle
        yield* TestClock.adjust("1 second")
        const error = yield* timeoutOf(waiter)
        expect(error.leases).toEqual([])
        expect(error.message).not.toContain("held longest")
      }).pipe(Effect.scoped)
      yield* TestClock.adjust("1 minute")
    }))

  it.effect("pool.leases lists the holders now; pool.notices has every event but the two of each acquisition", () =>
    Effect.gen(function*() {
      const fake = yield* FakeResource.make
      const done = yield* Deferred.make<void>()
      const scope = yield* Scope.make()
      const pool = yield* poolOf(fake, 1).pipe(Scope.extend(scope))
      const [id] = (yield* pool.metrics).map((c) => c.id)
      const tags = (stream: Stream.Stream<{ readonly _tag: string }>) =>
        Effect.fork(Stream.runCollect(Stream.map(stream, (e) => e._tag)))
      const notices = yield* tags(pool.notices)
      yield* FakeResource.settle
      expect(yield* pool.leases).toEqual([])
      const holder = yield* holdOne(pool, done)
      yield* TestClock.adjust("2 seconds")
      expect(yield* pool.leases).toEqual([
        { connectionId: id, acquiredAt: 0, heldFor: 2000, usageCount: 1, span: undefined, callSite: undefined }
      ])
      const everything = yield* tags(pool.events)
      yield* FakeResource.settle
      const waiter = yield* Effect.fork(pool.use(() => Effect.void))
      yield* FakeResource.settle
      yield* TestClock.adjust("5 seconds")
      yield* Effect.flip(Fiber.join(waiter))
      yield* Deferred.succeed(done, undefined)
      yield* Fiber.join(holder)
      yield* Scope.close(scope, Exit.void)
      expect(Chunk.toReadonlyArray(yield* Fiber.join(notices))).toEqual(["AcquireTimedOut", "ConnectionClosed"])
      expect(Chunk.toReadonlyArray(yield* Fiber.join(everything))).toEqual([
        "AcquireTimedOut",
        "ConnectionReleased",
        "ConnectionClosed"
      ])
      yield* FakeResource.expectNoLeak(fake)
    }))

  it.effect("a subscriber of pool.notices alone leaves the two events of every acquisition unrecorded", () =>
    Effect.gen(function*() {
      const events = new Events()
      const flags = () => [events.listening, events.listeningAll]
      expect(flags()).toEqual([false, false])
      const notices = yield* Scope.make()
      yield* events.subscribe(false).pipe(Scope.extend(notices))
      expect(flags()).toEqual([true, false])
      const everything = yield* Scope.make()
      yield* events.subscribe(true).pipe(Scope.extend(everything))
      expect(flags()).toEqual([true, true])
      yield* Scope.close(everything, Exit.void)
      expect(flags()).toEqual([true, false])
      yield* Scope.close(notices, Exit.void)
      expect(flags()).toEqual([false, false])
    }))
})
