/**
 * The pool's runtime: the fibers and effects around the state machine of
 * state.ts. Creation runs in a bounded set of creator fibers fed by a `Queue`;
 * housekeeping (retirement sweep, health checks, waiters' deadlines, stats
 * publication) runs in fibers of its own; callers only ever touch the state in
 * synchronous steps.
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { pipeArguments } from "effect/Pipeable"
import * as Queue from "effect/Queue"
import * as Runtime from "effect/Runtime"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type * as Tracer from "effect/Tracer"
import type * as PoolConfig from "../PoolConfig.js"
import { ConnectError, PoolClosedError, PoolExhaustedError, PoolTimeoutError } from "../PoolError.js"
import type { PoolConfigError, PoolError } from "../PoolError.js"
import { PoolEvent } from "../PoolEvent.js"
import type { CloseReason, PoolStats } from "../PoolStats.js"
import type * as ResourcePool from "../ResourcePool.js"
import * as configInternal from "./config.js"
import { Events } from "./events.js"
import { PoolMetrics, poolNameAttribute } from "./metrics.js"
import { Conn, PoolState, Waiter } from "./state.js"
import type { PoolWaiter } from "./state.js"

export const TypeId: ResourcePool.TypeId = Symbol.for("@dbpool/core/ResourcePool") as ResourcePool.TypeId

export const isResourcePool = (u: unknown): u is ResourcePool.ResourcePool<unknown, unknown> =>
  typeof u === "object" && u !== null && TypeId in u

/** The last value of the statistics' SubscriptionRef: the pool closed. */
const poolClosed = Symbol.for("@dbpool/core/PoolClosed")
type PoolClosed = typeof poolClosed

class LeaseImpl<A> implements ResourcePool.Lease<A> {
  released = false
  invalid = false
  /** Where it was acquired (stack and the caller's span), kept only while leak detection is on. */
  acquiredStack: string | undefined = undefined
  acquiredSpan: Tracer.AnySpan | undefined = undefined
  leakReported = false
  readonly resource: A
  readonly id: string
  readonly createdAt: number
  readonly usageCount: number
  constructor(readonly conn: Conn<A>, readonly acquiredAt: number) {
    this.resource = conn.resource
    this.id = conn.id
    this.createdAt = conn.createdAt
    this.usageCount = conn.usageCount
  }
}

/**
 * How one connection attempt failed. "Interrupted": `acquire` ended with an interruption of its own
 * (nobody interrupted it), a failed attempt like any other.
 */
type Attempt<E> =
  | { readonly _tag: "Failed"; readonly error: E }
  | { readonly _tag: "Timeout" }
  | { readonly _tag: "Interrupted"; readonly cause: Cause.Cause<never> }

type Restore = <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>

/**
 * One `use` from asking to giving back. Its single exit handler both returns the lease and, for a caller
 * interrupted while waiting, takes its waiter out of the queue: a canceler on the wait itself would wrap
 * every wait in an interruption handler of its own, which under contention costs more than the pool.
 */
class Acquisition<A, E> {
  waiter: PoolWaiter<A, E> | undefined = undefined
  lease: LeaseImpl<A> | undefined = undefined
}

/** Effect's own tracer, in place when no tracer is installed: then no span is worth its cost. */
const builtInTracer = Effect.runSync(Effect.tracer)

const describeSpan = (span: Tracer.AnySpan): string =>
  span._tag === "Span"
    ? `span "${span.name}" (trace ${span.traceId}, span ${span.spanId})`
    : `external span (trace ${span.traceId}, span ${span.spanId})`

const defaultIsBroken = (cause: Cause.Cause<unknown>): boolean => Cause.isDie(cause) || Cause.isInterrupted(cause)

const millis = (d: Duration.Duration): number => Duration.isFinite(d) ? Duration.toMillis(d) : Number.POSITIVE_INFINITY

/** The sweeper never sleeps longer than this, whatever the settings. */
const maxSweepSleep = 60 * 60 * 1000

const sameStats = (a: PoolStats, b: PoolStats): boolean => {
  for (const key in a) {
    const k = key as keyof PoolStats
    if (k === "connectionsClosed") {
      for (const r in a.connectionsClosed) {
        const reason = r as CloseReason
        if (a.connectionsClosed[reason] !== b.connectionsClosed[reason]) return false
      }
    } else if (a[k] !== b[k]) return false
  }
  return true
}

export const make = <A, E = never, R = never>(
  options: ResourcePool.Options<A, E, R>
): Effect.Effect<ResourcePool.ResourcePool<A, E>, PoolConfigError | ConnectError<E>, R | Scope.Scope> =>
  Effect.gen(function*() {
    const config = yield* configInternal.make(options.config)
    const context = yield* Effect.context<R>()
    const scope = yield* Effect.scope
    const clock = yield* Effect.clock
    const random = yield* Effect.random
    const runtime = yield* Effect.runtime<never>()
    const runFork = Runtime.runFork(runtime)
    const now = () => clock.unsafeCurrentTimeMillis()

    const name = config.name
    const acquireTimeoutMillis = millis(config.acquireTimeout)
    const validateAfterIdleMillis = millis(config.validateAfterIdle)
    const lifetimeMillis = millis(config.maxLifetime)
    const jitterMillis = millis(config.lifetimeJitter)
    const refillPauseMillis = Math.max(millis(config.retryInterval), 1000)
    const sweepCap = Math.min(millis(config.maxIdleTime), lifetimeMillis - jitterMillis, maxSweepSleep)
    const acquire = Effect.provide(options.acquire, context)
    const releaseResource = options.release ?? (() => Effect.void)
    const validate = options.validate
    const retryable = options.retryable ?? (() => true)
    const isBroken = options.isBroken ?? defaultIsBroken
    const metrics = new PoolMetrics(name)
    const closedError = new PoolClosedError({ pool: name })
    // Only callers who wait get a span; capturing a stack trace per span would double its cost.
    const spanOptions = { attributes: { [poolNameAttribute]: name }, captureStackTrace: false } as const

    const events = new Events()

    // ---- the state machine and what it asks of us ---------------------------
    const requests = yield* Queue.unbounded<void>()
    const leasesReturned = yield* Effect.makeLatch(false)
    const allClosed = yield* Effect.makeLatch(false)

    const closeConnection = (conn: Conn<A>, reason: CloseReason) =>
      releaseResource(conn.resource).pipe(
        Effect.timeout(config.connectTimeout),
        Effect.catchAllCause((cause) =>
          Effect.logWarning(`dbpool: closing connection ${conn.id} of pool "${name}" failed`, cause)
        ),
        Effect.zipRight(Effect.suspend(() => {
          state.closeDone(conn, reason, now())
          return events.emit(() => PoolEvent.ConnectionClosed({ connectionId: conn.id, reason }))
        }))
      )

    const state: PoolState<A, E> = new PoolState<A, E>(
      name,
      config.minConnections,
      config.maxConnections,
      millis(config.maxIdleTime),
      config.circuitBreakerThreshold,
      config.maxWaiting,
      {
        requestCreation: () => requests.unsafeOffer(undefined),
        close: (conn, reason) => runFork(closeConnection(conn, reason)),
        leasesReturned: () => leasesReturned.unsafeOpen(),
        allClosed: () => allClosed.unsafeOpen()
      }
    )
    // Ends with `poolClosed`, which ends every `changes` stream: cheaper per delivery than racing each pull
    // against the pool's closing (Stream.interruptWhen tripled it, measured).
    const statsRef = yield* SubscriptionRef.make<PoolStats | PoolClosed>(state.snapshot())

    // ---- creation: maxConnecting creator fibers serve the request queue -----
    const retrySchedule: Schedule.Schedule<unknown, unknown> = config.retrySchedule ??
      Schedule.exponential(config.retryInterval).pipe(
        Schedule.jittered,
        Schedule.intersect(Schedule.recurs(config.maxRetries))
      )
    let sequence = 0
    let warming = false
    const warmedUp = yield* Effect.makeLatch(false)
    const circuitBreakerOn = Number.isFinite(config.circuitBreakerThreshold)
    /** Open while the circuit is: wakes the creations waiting to retry, and the prober. */
    const circuitLatch = yield* Effect.makeLatch(false)

    const connectError = (failure: Attempt<E>, attempts: number) =>
      new ConnectError<E>({
        pool: name,
        attempts,
        reason: failure._tag === "Timeout" ? "timeout" : "failed",
        cause: failure._tag === "Failed"
          ? failure.error
          : failure._tag === "Interrupted"
          ? Cause.squash(failure.cause) as E
          : undefined,
        timeout: failure._tag === "Timeout" ? config.connectTimeout : undefined
      })

    // Each attempt runs `acquire` alone in a fiber of its own, and the creator waits for that fiber with
    // connectTimeout. Whatever stops the wait (the timeout, or shutdown stopping the creator), the fiber's
    // outcome is still there to look at: a connection that opened at that very moment is used or closed,
    // never lost. (A timeout wrapped around `acquire` itself would drop a value that arrives as it fires.)
    const closeQuietly = (resource: A) =>
      releaseResource(resource).pipe(
        Effect.timeout(config.connectTimeout),
        Effect.catchAllCause((cause) =>
          Effect.logWarning(`dbpool: closing a connection opened during shutdown of pool "${name}" failed`, cause)
        )
      )
    const attemptOnce: Effect.Effect<A, Attempt<E>> = Effect.mapError(
      acquire,
      (error): Attempt<E> => ({ _tag: "Failed", error })
    )
    const timedOut: Exit.Exit<A, Attempt<E>> = Exit.fail({ _tag: "Timeout" })
    const attemptInFiber = (restore: Restore): Effect.Effect<Exit.Exit<A, Attempt<E>>> =>
      // Forked from an uninterruptible region, the attempt would inherit it and could not be stopped.
      Effect.flatMap(Effect.forkDaemon(Effect.interruptible(attemptOnce)), (fiber) =>
        restore(
          Effect.timeoutTo(Fiber.await(fiber), {
            duration: config.connectTimeout,
            // An attempt that ended interrupted, though we did not interrupt it, interrupted itself.
            onSuccess: (exit) =>
              Effect.succeed(
                Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)
                  ? Exit.fail<Attempt<E>>({ _tag: "Interrupted", cause: exit.cause as Cause.Cause<never> })
                  : exit
              ),
            onTimeout: () => Effect.map(Fiber.interrupt(fiber), (exit) => Exit.isSuccess(exit) ? exit : timedOut)
          })
        ).pipe(
          Effect.flatten,
          Effect.onInterrupt(() =>
            Effect.flatMap(Fiber.interrupt(fiber), (exit) =>
              Exit.isSuccess(exit) ? closeQuietly(exit.value) : Effect.void)
          )
        ))

    /**
     * Opens one connection: attempts on the retry schedule until one succeeds, the schedule ends, the
     * error is not retryable, or the pool closes. Runs uninterruptibly but for the waits (`restore`), so a
     * connection once opened is always either counted or closed.
     */
    const openConnection = (restore: Restore): Effect.Effect<Conn<A>, ConnectError<E>> =>
      Effect.gen(function*() {
        const driver = yield* Schedule.driver(retrySchedule)
        const start = now()
        let attempts = 0
        while (true) {
          attempts++
          const exit = yield* attemptInFiber(restore)
          if (Exit.isSuccess(exit)) {
            const r = yield* random.next
            const createdAt = now()
            metrics.createTime.update((createdAt - start) / 1000)
            const conn = new Conn(
              `${name}-${++sequence}`,
              exit.value,
              createdAt,
              createdAt + lifetimeMillis - r * jitterMillis,
              attempts,
              createdAt - start
            )
            return conn
          }
          const failureOption = Cause.failureOption(exit.cause)
          if (failureOption._tag === "None") return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
          const failure = failureOption.value
          // Known at once, so that a caller timing out while retries go on is told why.
          const error = connectError(failure, attempts)
          const opened = state.attemptFailed(error, now())
          yield* events.emit(() =>
            PoolEvent.ConnectFailed({
              attempt: attempts,
              cause: failure._tag === "Timeout"
                ? "timeout"
                : failure._tag === "Failed"
                ? failure.error
                : Cause.squash(failure.cause)
            })
          )
          if (opened) yield* circuitOpened(error)
          // While the circuit is open only probes connect, one attempt each.
          if (state.closed || state.circuitOpen || (failure._tag === "Failed" && !retryable(failure.error))) {
            return yield* Effect.fail(error)
          }
          // A creation waiting to retry when the circuit opens makes no further attempt, and fails at once.
          const delay = circuitBreakerOn
            ? Effect.raceFirst(driver.next(failure), circuitLatch.await)
            : driver.next(failure)
          const next = yield* Effect.either(restore(delay))
          if (next._tag === "Left" || state.circuitOpen) return yield* Effect.fail(error)
        }
      })

    /** Tells the state how a creation ended (a probe is one too), then subscribers. */
    const settleCreation = (exit: Exit.Exit<Conn<A>, ConnectError<E>>): Effect.Effect<unknown> => {
      const t = now()
      let event: Effect.Effect<unknown> = Effect.void
      if (Exit.isSuccess(exit)) {
        const conn = exit.value
        const closedCircuit = state.created(conn, t)
        event = events.emit(() =>
          PoolEvent.ConnectionCreated({ connectionId: conn.id, createTime: conn.createTime, attempts: conn.attempts })
        )
        if (closedCircuit) event = Effect.zipRight(event, circuitClosed(t, "a connection was opened"))
      } else if (!Cause.isInterruptedOnly(exit.cause)) {
        const failure = Cause.failureOption(exit.cause)
        const error = failure._tag === "Some"
          ? failure.value
          : new ConnectError<E>({ pool: name, attempts: 1, reason: "failed", cause: Cause.squash(exit.cause) as E })
        state.creationFailed(error, t, t + refillPauseMillis)
      }
      if (warming && state.pending === 0) warmedUp.unsafeOpen()
      return event
    }

    const serveOneRequest = Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(
        restore(Queue.take(requests)),
        // A request dropped when the circuit opened is skipped: the state no longer counts it.
        () => state.startCreation() ? Effect.flatMap(Effect.exit(openConnection(restore)), settleCreation) : Effect.void
      )
    )

    // ---- circuit breaker: announce its transitions, probe while it is open ------
    const probeEvery = config.circuitBreakerSchedule === undefined
      ? `every ${Duration.format(config.circuitBreakerProbeInterval)}`
      : "on circuitBreakerSchedule"
    const circuitOpened = (error: ConnectError<E>): Effect.Effect<void> => {
      circuitLatch.unsafeOpen()
      const failures = state.consecutiveFailures
      const log = Effect.logWarning(
        `dbpool: pool "${name}" opened its circuit breaker after ${failures} consecutive failed connection ` +
          `attempts: acquisitions that need a new connection fail at once until a probe connects (one attempt ` +
          `${probeEvery}). Last error: ${error.message}`
      )
      return events.after(
        log,
        () => PoolEvent.CircuitOpened({ failures, cause: error.reason === "timeout" ? "timeout" : error.cause })
      )
    }
    const circuitClosed = (t: number, why: string): Effect.Effect<void> => {
      circuitLatch.unsafeClose()
      const duration = t - state.circuitOpenedAt
      const log = Effect.logInfo(
        `dbpool: pool "${name}" closed its circuit breaker after ${duration} ms: ${why}; connecting as usual again`
      )
      return events.after(log, () => PoolEvent.CircuitClosed({ duration }))
    }

    /** One probe: a creation made while the circuit is open, so it makes a single attempt. */
    const probeOnce = Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(Effect.exit(openConnection(restore)), settleCreation)
    )
    const probeSchedule: Schedule.Schedule<unknown, unknown> = config.circuitBreakerSchedule ??
      Schedule.spaced(config.circuitBreakerProbeInterval)
    /** Sleeps until the circuit opens, then probes on a fresh run of the schedule until it closes. */
    const prober = Effect.gen(function*() {
      while (true) {
        yield* circuitLatch.await
        const opening = state.circuitOpenings
        const driver = yield* Schedule.driver(probeSchedule)
        while (state.circuitOpen && state.circuitOpenings === opening) {
          const tick = yield* Effect.either(driver.next(undefined))
          if (!state.circuitOpen || state.circuitOpenings !== opening) break
          if (tick._tag === "Left") {
            const t = now()
            if (state.probesEnded(t)) yield* circuitClosed(t, "its probe schedule ended")
            break
          }
          if (state.beginProbe()) yield* probeOnce
        }
      }
    })

    // ---- waiters' deadlines: one timer for all (deadlines grow in queue order) --
    const timeoutError = () =>
      new PoolTimeoutError({
        pool: name,
        timeout: config.acquireTimeout,
        stats: state.snapshot(),
        lastConnectError: state.lastConnectError
      })
    /** The metric of a timed-out acquisition, and its event when someone listens. */
    const acquireTimedOut = (waitTime: number): PoolEvent | undefined => {
      metrics.timeouts.update(1)
      return events.listening ? PoolEvent.AcquireTimedOut({ waitTime }) : undefined
    }
    const expireWaiters = (t: number) =>
      Effect.suspend(() => {
        const expired: Array<PoolWaiter<A, E>> = []
        for (let w = state.waiters.head; w !== undefined && w.deadline <= t; w = w.next) expired.push(w)
        const timedOut: Array<PoolEvent> = []
        for (const w of expired) {
          state.fail(w, timeoutError())
          const event = acquireTimedOut(t - w.enqueuedAt)
          if (event !== undefined) timedOut.push(event)
        }
        return events.emitAll(timedOut)
      })
    // The timer never needs waking when a waiter arrives: every new deadline is at least
    // acquireTimeout away, and the timer never sleeps longer than that.
    let timerWakeAt = 0
    const timer = Effect.suspend(() => {
      const head = state.waiters.head
      const t = now()
      if (head !== undefined && head.deadline <= t) return expireWaiters(t)
      timerWakeAt = head === undefined ? t + acquireTimeoutMillis : head.deadline
      return Effect.sleep(timerWakeAt - t)
    }).pipe(Effect.forever)
    let timerFiber: Fiber.RuntimeFiber<unknown, unknown> | undefined
    /** Only a waiter put back at the front (failed validation on borrow) can be due before the timer wakes. */
    const restartTimer = () => {
      const previous = timerFiber
      timerFiber = runFork(timer)
      if (previous !== undefined) runFork(Fiber.interrupt(previous))
    }

    // ---- retirement sweep: idle past maxIdleTime, old past maxLifetime ------
    // ---- leak detection: a lease held past leakDetectionThreshold is reported once -----
    const leakMillis = config.leakDetectionThreshold === undefined ? undefined : millis(config.leakDetectionThreshold)
    /** Reports the leases due; returns when the next one can be due. */
    const detectLeaks = (t: number): { readonly next: number; readonly report: Effect.Effect<void> } => {
      if (leakMillis === undefined) return { next: Number.POSITIVE_INFINITY, report: Effect.void }
      let next = t + leakMillis // a lease acquired from now on is due no earlier
      const reports: Array<Effect.Effect<void>> = []
      for (const conn of state.open) {
        const lease = conn.lease as LeaseImpl<A> | undefined
        if (lease === undefined || lease.released || lease.leakReported) continue
        const due = lease.acquiredAt + leakMillis
        if (due > t) {
          next = Math.min(next, due)
          continue
        }
        lease.leakReported = true
        metrics.leaks.update(1)
        const heldTime = t - lease.acquiredAt
        const span = lease.acquiredSpan
        const warning = Effect.logWarning(
          `dbpool: connection ${lease.id} of pool "${name}" has been held for ${heldTime} ms, longer than ` +
            `leakDetectionThreshold (${Duration.format(config.leakDetectionThreshold!)}): possible leak. ` +
            (span === undefined ? "" : `Acquired in ${describeSpan(span)}. `) +
            `Acquired at:\n${lease.acquiredStack ?? "(unknown)"}`
        )
        // The acquiring trace's ids as log annotations, so a log backend links the warning to the trace.
        reports.push(
          span === undefined ? warning : Effect.annotateLogs(warning, { traceId: span.traceId, spanId: span.spanId })
        )
        if (events.listening) {
          reports.push(events.emit(() => PoolEvent.LeakDetected({ connectionId: lease.id, heldTime })))
        }
      }
      return { next, report: reports.length === 0 ? Effect.void : Effect.all(reports, { discard: true }) }
    }

    const sweeper = Effect.suspend(() => {
      const t = now()
      const next = state.sweep(t)
      const leaks = detectLeaks(t)
      return Effect.zipRight(leaks.report, Effect.sleep(Math.max(1, Math.min(next - t, leaks.next - t, sweepCap))))
    }).pipe(Effect.forever)

    // ---- health checks ------------------------------------------------------
    /** "interrupted": the checking fiber itself was interrupted, so the connection's state is unknown. */
    type Verdict = "healthy" | "unhealthy" | "interrupted"
    const validationMillis = millis(config.validationTimeout)
    const runValidation = (resource: A, limitMillis = validationMillis): Effect.Effect<Verdict> =>
      validate === undefined ?
        Effect.succeed("healthy") :
        // Interruptible inside, whatever the caller's region, so that the timeout can stop a hung check.
        // The check's own outcome is taken as a value inside the timeout: a `validate` that ends with an
        // interruption of its own is a failed check; only the caller's interruption makes "interrupted".
        Effect.interruptible(Effect.exit(validate(resource))).pipe(
          Effect.timeoutFail({ duration: Math.max(0, limitMillis), onTimeout: () => "timeout" as const }),
          Effect.exit,
          Effect.map((exit): Verdict =>
            Exit.isSuccess(exit)
              ? Exit.isSuccess(exit.value) ? "healthy" : "unhealthy"
              : Cause.isInterruptedOnly(exit.cause)
              ? "interrupted"
              : "unhealthy"
          )
        )

    const checkIdle = (conn: Conn<A>) =>
      Effect.uninterruptible(Effect.gen(function*() {
        if (!state.takeForCheck(conn)) return
        yield* events.emit(() => PoolEvent.HealthCheckStarted({ connectionId: conn.id }))
        const start = now()
        const healthy = (yield* runValidation(conn.resource)) === "healthy"
        const end = now()
        state.checked(conn, healthy, end)
        yield* events.emit(() =>
          PoolEvent.HealthCheckCompleted({ connectionId: conn.id, healthy, duration: end - start })
        )
      }))

    const healthChecks = Effect.gen(function*() {
      const driver = yield* Schedule.driver(config.healthCheckSchedule ?? Schedule.spaced(config.healthCheckInterval))
      while (true) {
        yield* driver.next(undefined)
        // Oldest idle first; a connection borrowed meanwhile is skipped.
        for (const conn of state.idle.slice()) yield* checkIdle(conn)
      }
    }).pipe(Effect.catchAll(() => Effect.void))

    // ---- stats publication: coalesced, only when something changed ---------
    let published = state.snapshot()
    let statsEnded = false
    const publishStats = Effect.suspend(() => {
      if (statsEnded) return Effect.void
      const s = state.snapshot()
      metrics.publish(s)
      if (sameStats(s, published)) return Effect.void
      published = s
      return SubscriptionRef.set(statsRef, s)
    })
    const publisher = Effect.sleep(config.statsInterval).pipe(Effect.zipRight(publishStats), Effect.forever)

    // ---- acquisition ----------------------------------------------------------
    const leaseOf = (conn: Conn<A>, start: number, t: number): Effect.Effect<LeaseImpl<A>, PoolError<E>> => {
      const lease = state.lend(conn, t - start, (conn) => new LeaseImpl(conn, t))
      // Handed over just before shutdown cut it: the pool closed under this caller.
      if (lease === undefined) return Effect.fail(closedError)
      if (leakMillis !== undefined) lease.acquiredStack = new Error("lease acquired here").stack
      metrics.waitTime.update((t - start) / 1000)
      const leased = events.after(
        Effect.succeed(lease),
        () => PoolEvent.ConnectionAcquired({ connectionId: conn.id, waitTime: t - start })
      )
      if (leakMillis === undefined) return leased
      return Effect.zipRight(
        Effect.map(Effect.option(Effect.currentSpan), (span) => {
          if (span._tag === "Some") lease.acquiredSpan = span.value
        }),
        leased
      )
    }

    /** The caller's waiter is already queued (by `state.request`): here its fiber waits for the outcome. */
    const wait = (
      restore: Restore,
      waiter: PoolWaiter<A, E>,
      start: number,
      op: Acquisition<A, E>
    ): Effect.Effect<LeaseImpl<A>, PoolError<E>> => {
      // No canceler: the Acquisition's exit handler cancels this waiter if the caller is interrupted.
      const waiting = Effect.async<Conn<A>, PoolError<E>>((resume) => {
        if (waiter.outcome !== undefined) resume(waiter.outcome)
        else waiter.resume = resume
      })
      const traced = Effect.withFiberRuntime<Conn<A>, PoolError<E>>((fiber) =>
        fiber.currentTracer === builtInTracer
          ? restore(waiting)
          : restore(waiting).pipe(Effect.withSpan("dbpool.acquire", spanOptions))
      )
      return Effect.flatMap(traced, (conn) => {
        // Received: from here the lease, not the waiter, answers for the connection.
        op.waiter = undefined
        return leaseOf(conn, start, now())
      })
    }

    /** A connection idle for longer than `validateAfterIdle` is checked before it is lent. */
    const checkOnBorrow = (
      restore: Restore,
      conn: Conn<A>,
      start: number,
      deadline: number,
      op: Acquisition<A, E>
    ): Effect.Effect<LeaseImpl<A>, PoolError<E>> => {
      const checkStart = now()
      state.beginBorrowCheck(conn)
      // acquireTimeout covers the check too: one cut short by the caller's deadline counts as failed,
      // and the retry below then fails the caller with PoolTimeoutError.
      const limit = Math.min(validationMillis, deadline - checkStart)
      const check = Effect.flatMap(runValidation(conn.resource, limit), (verdict) => {
        const t = now()
        if (!state.endBorrowCheck(conn, verdict === "healthy", t)) return Effect.fail(closedError)
        if (events.listening) {
          const healthy = verdict === "healthy"
          const duration = t - checkStart
          runFork(events.emit(() => PoolEvent.HealthCheckCompleted({ connectionId: conn.id, healthy, duration })))
        }
        if (verdict === "healthy") return leaseOf(conn, start, t)
        if (verdict === "interrupted") {
          state.cancelDuringCheck(conn, t)
          return Effect.interrupt
        }
        state.release(conn, t, "unhealthy")
        return take(restore, start, deadline, true, op)
      })
      return events.before(() => PoolEvent.HealthCheckStarted({ connectionId: conn.id }), check)
    }

    const take = (
      restore: Restore,
      start: number,
      deadline: number,
      retrying: boolean,
      op: Acquisition<A, E>
    ): Effect.Effect<LeaseImpl<A>, PoolError<E>> => {
      if (retrying) {
        // Back from a failed check on borrow: the pool may have closed, or the time run out, meanwhile.
        if (state.closed) {
          state.refuseClosed()
          return Effect.fail(closedError)
        }
        const t = now()
        if (t >= deadline) {
          const error = timeoutError()
          state.countFailure(error)
          const event = acquireTimedOut(t - start)
          return events.before(() => event!, Effect.fail(error))
        }
      }
      const t = now()
      const decision = state.request(start, deadline, retrying, t)
      if (decision === undefined) {
        return Effect.fail(
          new PoolExhaustedError({ pool: name, waiting: state.waiters.length, maxWaiting: config.maxWaiting })
        )
      }
      if (decision instanceof Waiter) {
        op.waiter = decision
        // Only a waiter put back in arrival order (failed validation on borrow) can be due before the timer wakes.
        if (retrying && deadline < timerWakeAt) restartTimer()
        return wait(restore, decision, start, op)
      }
      const conn = decision
      if (
        validate !== undefined &&
        t - conn.idleSince >= validateAfterIdleMillis &&
        t - conn.lastValidatedAt >= validateAfterIdleMillis
      ) return checkOnBorrow(restore, conn, start, deadline, op)
      return leaseOf(conn, start, t)
    }

    const acquireLease = (
      restore: Restore,
      op: Acquisition<A, E>
    ): Effect.Effect<LeaseImpl<A>, PoolError<E>> =>
      Effect.suspend(() => {
        if (!state.arrive()) return Effect.fail(closedError)
        const start = now()
        return take(restore, start, start + acquireTimeoutMillis, false, op)
      })

    const releaseLease = (lease: LeaseImpl<A>, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (lease.released) return Effect.void
        lease.released = true
        const t = now()
        const broken = lease.invalid || (exit._tag === "Failure" && isBroken(exit.cause))
        metrics.useTime.update((t - lease.acquiredAt) / 1000)
        state.release(lease.conn, t, broken ? "broken" : undefined)
        const returned = lease.leakReported ?
          Effect.logInfo(
            `dbpool: connection ${lease.id} of pool "${name}", reported as a possible leak, came back after ` +
              `${t - lease.acquiredAt} ms`
          ) :
          Effect.void
        return events.after(
          returned,
          () => PoolEvent.ConnectionReleased({ connectionId: lease.id, useTime: t - lease.acquiredAt })
        )
      })

    // ---- background fibers and shutdown ---------------------------------------
    const creators: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
    for (let i = 0; i < config.maxConnecting; i++) {
      creators.push(yield* Effect.forkDaemon(Effect.forever(serveOneRequest)))
    }
    // Stopped with the creators: a probe in flight is a creation.
    if (circuitBreakerOn) creators.push(yield* Effect.forkDaemon(prober))
    const background: Array<Fiber.RuntimeFiber<unknown, unknown>> = [
      yield* Effect.forkDaemon(sweeper),
      yield* Effect.forkDaemon(publisher)
    ]
    if (validate !== undefined) background.push(yield* Effect.forkDaemon(healthChecks))
    restartTimer()

    const shutdown = Effect.gen(function*() {
      if (state.closed) return
      for (const waiter of state.shutdown()) state.fail(waiter, closedError)
      // Interruptible inside: a scope's finalizers run uninterruptibly (a layer's teardown, Effect.scoped), and
      // there the timeout could not stop the wait, so a lease never given back held the shutdown forever.
      yield* Effect.interruptible(leasesReturned.await).pipe(Effect.timeout(config.shutdownTimeout), Effect.ignore)
      state.cutLeases()
      yield* Fiber.interruptAll(creators)
      state.abandonCreations()
      yield* allClosed.await
      yield* Fiber.interruptAll(timerFiber === undefined ? background : [...background, timerFiber])
      yield* publishStats
      // Subscribers' streams end with the pool: the events' with their PubSub, the statistics' at the marker.
      yield* events.shutdown
      statsEnded = true
      yield* SubscriptionRef.set(statsRef, poolClosed)
    })
    yield* Scope.addFinalizer(scope, shutdown)

    // ---- warm-up: open the minimum before the pool is handed out ---------------
    if (config.minConnections > 0) {
      warming = true
      state.ensureCapacity(now())
      yield* warmedUp.await
      warming = false
      if (state.open.size === 0 && state.lastConnectError !== undefined) {
        return yield* Effect.fail(state.lastConnectError)
      }
    }
    if (state.armCircuit(now())) yield* circuitOpened(state.lastConnectError!)
    yield* publishStats

    const currentConfig = (): PoolConfig.PoolConfig => ({
      ...config,
      minConnections: state.min,
      maxConnections: state.max
    })

    const pool: ResourcePool.ResourcePool<A, E> = {
      [TypeId]: TypeId,
      get config() {
        return currentConfig()
      },
      get: Effect.uninterruptibleMask((restore) => {
        const op = new Acquisition<A, E>()
        const acquired = Effect.onExit(acquireLease(restore, op), (exit) => {
          // Interrupted while waiting (or served just as it was): out of the queue, any connection back.
          if (exit._tag === "Failure" && op.waiter !== undefined) state.cancel(op.waiter, now())
          return Effect.void
        })
        return Effect.flatMap(acquired, (lease) =>
          // Scope.addFinalizerExit, not Effect.addFinalizer: the latter captures the fiber's context for
          // the finalizer, which doubled the cost of a scoped acquisition.
          Effect.as(
            Effect.flatMap(Effect.scope, (scope) => Scope.addFinalizerExit(scope, (exit) => releaseLease(lease, exit))),
            lease
          ))
      }),
      use: <B, E2, R2>(f: (lease: ResourcePool.Lease<A>) => Effect.Effect<B, E2, R2>) =>
        Effect.uninterruptibleMask((restore) => {
          const op = new Acquisition<A, E>()
          return Effect.onExit(
            Effect.flatMap(acquireLease(restore, op), (lease) => {
              op.lease = lease
              return restore(Effect.suspend(() => f(lease)))
            }),
            (exit) => {
              if (op.lease !== undefined) return releaseLease(op.lease, exit)
              // Interrupted while waiting (or served just as it was): out of the queue, any connection back.
              if (op.waiter !== undefined) state.cancel(op.waiter, now())
              return Effect.void
            }
          )
        }),
      invalidate: (lease) =>
        Effect.sync(() => {
          if (lease instanceof LeaseImpl) lease.invalid = true
        }),
      discard: (resource) =>
        Effect.sync(() => {
          state.discard(resource)
        }),
      stats: Effect.sync(() => state.snapshot()),
      // The current statistics first, then each published change, until the pool closes.
      changes: Stream.unwrap(Effect.as(publishStats, statsRef.changes)).pipe(
        Stream.takeWhile((s): s is PoolStats => s !== poolClosed)
      ),
      events: Stream.unwrapScoped(Effect.suspend(() => events.subscribe(state.closed))),
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
            ...options.config,
            minConnections: bounds.min ?? state.min,
            maxConnections: bounds.max ?? state.max
          }),
          (checked) => Effect.sync(() => state.resize(checked.minConnections, checked.maxConnections, now()))
        ),
      pipe() {
        return pipeArguments(this, arguments)
      }
    }
    return pool
  })
