/**
 * The pool's runtime: `make` wires the state machine of state.ts to the
 * fibers and effects around it, one concern per file:
 *
 * - creation.ts: creator fibers, connection attempts, the circuit breaker's prober;
 * - housekeeping.ts: the waiters' timer, the sweeper with leak detection, health checks;
 * - acquisition.ts: `use` and `get`, from asking to giving back;
 * - events.ts: events, recorded only while someone listens, delivered in batches;
 * - stats.ts: the statistics' publication (`changes`), on a timer and on the release path;
 * - controller.ts: the adaptive sizing controller, when `sizing` is `PoolSizing.adaptive`;
 * - here: shutdown, and the `ResourcePool` record.
 *
 * Callers only ever touch the state in synchronous steps.
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { pipeArguments } from "effect/Pipeable"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as PoolConfig from "../PoolConfig.js"
import { PoolClosedError } from "../PoolError.js"
import type { ConnectError, PoolConfigError } from "../PoolError.js"
import type * as ResourcePool from "../ResourcePool.js"
import { makeAcquirer } from "./acquisition.js"
import type { Acquirer } from "./acquisition.js"
import * as configInternal from "./config.js"
import type { PoolContext } from "./context.js"
import { millis } from "./context.js"
import { makeController } from "./controller.js"
import type { Creation } from "./creation.js"
import { makeCreation } from "./creation.js"
import { Events } from "./events.js"
import { makeHousekeeping } from "./housekeeping.js"
import { heldLeases, LeaseImpl } from "./lease.js"
import { PoolMetrics } from "./metrics.js"
import * as group from "./poolGroup.js"
import { PoolState } from "./state.js"
import { StatsPublication } from "./stats.js"

export const TypeId: ResourcePool.TypeId = Symbol.for("@dbpool/core/ResourcePool") as ResourcePool.TypeId

export const isResourcePool = (u: unknown): u is ResourcePool.ResourcePool<unknown, unknown> =>
  typeof u === "object" && u !== null && TypeId in u

/** The state machine, and the context every part of the runtime shares. */
const makeContext = <A, E>(config: PoolConfig.PoolConfig, creation: () => Creation<A, E>) =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const leasesReturned = yield* Effect.makeLatch(false)
    const allClosed = yield* Effect.makeLatch(false)
    const state = new PoolState<A, E>(
      config.name,
      config.minConnections,
      config.maxConnections,
      millis(config.maxIdleTime),
      config.circuitBreakerThreshold,
      config.maxWaiting,
      {
        requestCreation: () => creation().request(),
        close: (conn, reason) => runFork(creation().close(conn, reason)),
        leasesReturned: () => leasesReturned.unsafeOpen(),
        allClosed: () => allClosed.unsafeOpen()
      }
    )
    const metrics = new PoolMetrics(config.name)
    const now = () => clock.unsafeCurrentTimeMillis()
    const ctx: PoolContext<A, E> = {
      name: config.name,
      config,
      state,
      events: new Events(),
      stats: yield* StatsPublication.make(() => state.snapshot(), metrics, millis(config.statsInterval), now),
      metrics,
      now,
      runFork: (effect) => runFork(effect),
      closedError: new PoolClosedError({ pool: config.name })
    }
    return { ctx, leasesReturned, allClosed }
  })

export const make = <A, E = never, R = never>(
  options: ResourcePool.Options<A, E, R>
): Effect.Effect<ResourcePool.ResourcePool<A, E>, PoolConfigError | ConnectError<E>, R | Scope.Scope> =>
  Effect.gen(function*() {
    const config = yield* configInternal.make(options.config)
    const context = yield* Effect.context<R>()
    const scope = yield* Effect.scope
    // The state asks for creations and closes only once `make` has gone past the creation's construction.
    let creation: Creation<A, E> | undefined = undefined
    const { allClosed, ctx, leasesReturned } = yield* makeContext<A, E>(config, () => creation!)
    const { closedError, events, state, stats } = ctx
    // A pool in a group takes its permits from the group's budget before it asks for any creation.
    const leaveGroup = yield* group.join(config, state)
    creation = yield* makeCreation(ctx, {
      acquire: Effect.provide(options.acquire, context),
      release: options.release ?? (() => Effect.void),
      retryable: options.retryable ?? (() => true)
    })
    const housekeeping = makeHousekeeping(ctx, options.validate)
    const acquirer = makeAcquirer(ctx, housekeeping, {
      validates: options.validate !== undefined,
      isBroken: options.isBroken
    })

    // ---- background fibers ----------------------------------------------------
    const creators: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
    for (let i = 0; i < config.maxConnecting; i++) creators.push(yield* Effect.forkDaemon(creation.creator))
    // Stopped with the creators: a probe in flight is a creation.
    if (creation.prober !== undefined) creators.push(yield* Effect.forkDaemon(creation.prober))
    const background: Array<Fiber.RuntimeFiber<unknown, unknown>> = [
      yield* Effect.forkDaemon(housekeeping.sweeper),
      yield* Effect.forkDaemon(stats.publisher)
    ]
    if (housekeeping.healthChecks !== undefined) background.push(yield* Effect.forkDaemon(housekeeping.healthChecks))
    if (config.sizing?._tag === "Adaptive") {
      const controller = makeController(ctx, config.sizing)
      background.push(yield* Effect.forkDaemon(controller.run))
      for (const schedule of controller.schedules) background.push(yield* Effect.forkDaemon(schedule))
    }
    housekeeping.timer.restart()

    // ---- shutdown -----------------------------------------------------------------
    const shutdown = Effect.gen(function*() {
      if (state.closed) return
      for (const waiter of state.shutdown()) state.fail(waiter, closedError)
      // A connection held for its verdict (a statement being cancelled) is closed now, not at the verdict.
      yield* Fiber.interruptAll(Array.from(acquirer.held))
      // Interruptible inside: a scope's finalizers run uninterruptibly (a layer's teardown, Effect.scoped), and
      // there the timeout could not stop the wait, so a lease never given back held the shutdown forever.
      yield* Effect.interruptible(leasesReturned.await).pipe(Effect.timeout(config.shutdownTimeout), Effect.ignore)
      state.cutLeases()
      yield* Fiber.interruptAll(creators)
      state.abandonCreations()
      yield* allClosed.await
      yield* leaveGroup
      yield* Fiber.interruptAll(background)
      yield* housekeeping.timer.stop
      yield* stats.publish
      // Subscribers' streams end with the pool, each after what was recorded or published before.
      yield* events.shutdown
      yield* stats.end
    })
    yield* Scope.addFinalizer(scope, shutdown)

    // ---- warm-up: open the minimum before the pool is handed out ---------------
    yield* creation.warmUp
    yield* stats.publish
    return poolRecord(ctx, options.config, acquirer)
  })

/** The `ResourcePool` handed to the user. */
const poolRecord = <A, E>(
  ctx: PoolContext<A, E>,
  input: PoolConfig.Input | undefined,
  acquirer: Acquirer<A, E>
): ResourcePool.ResourcePool<A, E> => {
  const { config, events, now, state, stats } = ctx
  return {
    [TypeId]: TypeId,
    get config(): PoolConfig.PoolConfig {
      return { ...config, minConnections: state.min, maxConnections: state.max }
    },
    get: acquirer.get,
    use: acquirer.use,
    invalidate: (lease) =>
      Effect.sync(() => {
        if (lease instanceof LeaseImpl) lease.invalid = true
      }),
    hold: (lease, verdict) =>
      Effect.sync(() => {
        if (lease instanceof LeaseImpl && !lease.released) lease.verdict = verdict
      }),
    discard: (resource) =>
      Effect.sync(() => {
        state.discard(resource)
      }),
    stats: Effect.sync(() => state.snapshot()),
    changes: stats.changes,
    events: Stream.unwrapScoped(events.subscribe(true)),
    notices: Stream.unwrapScoped(events.subscribe(false)),
    leases: Effect.sync(() => heldLeases(state.open, now())),
    metrics: Effect.sync(() => {
      const t = now()
      return Array.from(state.open, (c): ResourcePool.ConnectionInfo => ({
        id: c.id,
        state: c.state,
        createdAt: c.createdAt,
        age: t - c.createdAt,
        idleTime: c.state === "idle" ? t - c.idleSince : 0,
        usageCount: c.usageCount,
        retireAt: c.retireAt,
        healthy: !c.unhealthy
      }))
    }),
    resize: (bounds) =>
      Effect.flatMap(
        configInternal.make({
          ...input,
          minConnections: bounds.min ?? state.min,
          maxConnections: bounds.max ?? state.max
        }),
        (checked) =>
          Effect.sync(() =>
            // Fixed sizing keeps exactly the minimum; an adaptive controller moves the target at its next tick.
            state.resize(
              checked.minConnections,
              checked.maxConnections,
              now(),
              config.sizing?._tag === "Adaptive" ? undefined : checked.minConnections
            )
          )
      ),
    pipe() {
      return pipeArguments(this, arguments)
    }
  }
}
