/**
 * The pool's housekeeping, each in a background fiber of its own: the
 * waiters' timer (one for all: deadlines grow along the queue), the sweeper
 * (retirement past maxIdleTime or maxLifetime, and leak detection), and the
 * periodic health checks. `runValidation` is shared with the check on borrow.
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import type * as Tracer from "effect/Tracer"
import { PoolTimeoutError } from "../PoolError.js"
import { PoolEvent } from "../PoolEvent.js"
import type * as ResourcePool from "../ResourcePool.js"
import type { PoolContext } from "./context.js"
import { millis } from "./context.js"
import type { LeaseImpl } from "./lease.js"
import { heldLeases } from "./lease.js"
import type { Conn, PoolWaiter } from "./state.js"

/** The sweeper never sleeps longer than this, whatever the settings. */
const maxSweepSleep = 60 * 60 * 1000

const describeSpan = (span: Tracer.AnySpan): string =>
  span._tag === "Span"
    ? `span "${span.name}" (trace ${span.traceId}, span ${span.spanId})`
    : `external span (trace ${span.traceId}, span ${span.spanId})`

/** "interrupted": the checking fiber itself was interrupted, so the connection's state is unknown. */
export type Verdict = "healthy" | "unhealthy" | "interrupted"

/** The waiters' timer: sleeps until the first deadline, then fails every waiter past its own. */
export interface WaiterTimer {
  /** When the timer wakes next. */
  readonly wakeAt: () => number
  /** (Re)starts it: only a waiter put back in the queue can be due before it wakes. */
  readonly restart: () => void
  /** Stops it, at shutdown. */
  readonly stop: Effect.Effect<void>
}

export interface Housekeeping<A> {
  readonly timer: WaiterTimer
  readonly sweeper: Effect.Effect<never>
  /** The periodic health checks; undefined without `validate`. */
  readonly healthChecks: Effect.Effect<void> | undefined
  /** Runs `validate` bounded by `validationTimeout` (or a shorter limit). */
  readonly runValidation: (resource: A, limitMillis?: number) => Effect.Effect<Verdict>
  /** The error of a caller who timed out at `t`; `leases` (who holds the connections then) is built if not given. */
  readonly timeoutError: (t: number, leases?: ReadonlyArray<ResourcePool.LeaseInfo>) => PoolTimeoutError
  /** The metric of a timed-out acquisition, and its event when someone listens. */
  readonly acquireTimedOut: (waitTime: number) => PoolEvent | undefined
  /** `leakDetectionThreshold` in milliseconds, if set. */
  readonly leakMillis: number | undefined
}

// ---- waiters' deadlines: one timer for all (deadlines grow in queue order) ----
const makeTimer = <A, E>(ctx: PoolContext<A, E>) => {
  const { config, events, metrics, name, now, runFork, state } = ctx
  const acquireTimeoutMillis = millis(config.acquireTimeout)
  const timeoutError = (t: number, leases: ReadonlyArray<ResourcePool.LeaseInfo> = heldLeases(state.open, t)) =>
    new PoolTimeoutError({
      pool: name,
      timeout: config.acquireTimeout,
      stats: state.snapshot(),
      leases,
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
      // Failing a waiter changes no lease: one list for them all.
      const leases = expired.length === 0 ? [] : heldLeases(state.open, t)
      for (const w of expired) {
        state.fail(w, timeoutError(t, leases))
        const event = acquireTimedOut(t - w.enqueuedAt)
        if (event !== undefined) timedOut.push(event)
      }
      return events.emitAll(timedOut)
    })
  // The timer never needs waking when a waiter arrives: every new deadline is at least
  // acquireTimeout away, and the timer never sleeps longer than that.
  let timerWakeAt = 0
  const loop = Effect.suspend(() => {
    const head = state.waiters.head
    const t = now()
    if (head !== undefined && head.deadline <= t) return expireWaiters(t)
    timerWakeAt = head === undefined ? t + acquireTimeoutMillis : head.deadline
    return Effect.sleep(timerWakeAt - t)
  }).pipe(Effect.forever)
  let timerFiber: Fiber.RuntimeFiber<unknown, unknown> | undefined
  /** Only a waiter put back in arrival order (failed validation on borrow) can be due before the timer wakes. */
  const restartTimer = () => {
    const previous = timerFiber
    timerFiber = runFork(loop)
    if (previous !== undefined) runFork(Fiber.interrupt(previous))
  }
  const timer: WaiterTimer = {
    wakeAt: () => timerWakeAt,
    restart: restartTimer,
    stop: Effect.suspend(() => timerFiber === undefined ? Effect.void : Fiber.interrupt(timerFiber))
  }
  return { timer, timeoutError, acquireTimedOut }
}

// ---- leak detection: a lease held past leakDetectionThreshold is reported once ----
/** Reports the leases due at `t`; returns when the next one can be due. */
const detectLeaks = <A, E>(
  ctx: PoolContext<A, E>,
  leakMillis: number | undefined,
  t: number
): { readonly next: number; readonly report: Effect.Effect<void> } => {
  const { config, events, metrics, name, state } = ctx
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

// ---- retirement sweep: idle past maxIdleTime, old past maxLifetime; and leak detection ----
const makeSweeper = <A, E>(ctx: PoolContext<A, E>, leakMillis: number | undefined): Effect.Effect<never> => {
  const { config, now, state } = ctx
  const lifetimeMillis = millis(config.maxLifetime)
  const jitterMillis = millis(config.lifetimeJitter)
  const sweepCap = Math.min(millis(config.maxIdleTime), lifetimeMillis - jitterMillis, maxSweepSleep)
  return Effect.suspend(() => {
    const t = now()
    const next = state.sweep(t)
    const leaks = detectLeaks(ctx, leakMillis, t)
    return Effect.zipRight(leaks.report, Effect.sleep(Math.max(1, Math.min(next - t, leaks.next - t, sweepCap))))
  }).pipe(Effect.forever)
}

// ---- health checks ------------------------------------------------------------
const makeValidation = <A, E>(
  ctx: PoolContext<A, E>,
  validate: ((resource: A) => Effect.Effect<unknown, unknown>) | undefined
): Housekeeping<A>["runValidation"] => {
  const { config } = ctx
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
  return runValidation
}

const makeHealthChecks = <A, E>(
  ctx: PoolContext<A, E>,
  runValidation: Housekeeping<A>["runValidation"]
): Effect.Effect<void> => {
  const { config, events, now, state } = ctx
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
  return healthChecks
}

export const makeHousekeeping = <A, E>(
  ctx: PoolContext<A, E>,
  validate: ((resource: A) => Effect.Effect<unknown, unknown>) | undefined
): Housekeeping<A> => {
  const { config } = ctx
  const leakMillis = config.leakDetectionThreshold === undefined ? undefined : millis(config.leakDetectionThreshold)
  const runValidation = makeValidation(ctx, validate)
  return {
    ...makeTimer(ctx),
    sweeper: makeSweeper(ctx, leakMillis),
    healthChecks: validate === undefined ? undefined : makeHealthChecks(ctx, runValidation),
    runValidation,
    leakMillis
  }
}
