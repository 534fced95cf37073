/**
 * The callers' path: ask (one synchronous step of the state: an idle
 * connection, a place in the queue, or a refusal), wait if queued, check the
 * connection on borrow if it has been idle long, lend it, and give it back.
 * `use` and `get` are built here; each carries one `Acquisition`.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { PoolExhaustedError } from "../PoolError.js"
import type { PoolError } from "../PoolError.js"
import { PoolEvent } from "../PoolEvent.js"
import type * as ResourcePool from "../ResourcePool.js"
import type { PoolContext } from "./context.js"
import { millis } from "./context.js"
import type { Housekeeping } from "./housekeeping.js"
import { Acquisition, LeaseImpl } from "./lease.js"
import { poolNameAttribute } from "./metrics.js"
import { Waiter } from "./state.js"
import type { Conn, PoolWaiter } from "./state.js"

/** Effect's own tracer, in place when no tracer is installed: then no span is worth its cost. */
const builtInTracer = Effect.runSync(Effect.tracer)

const defaultIsBroken = (cause: Cause.Cause<unknown>): boolean => Cause.isDie(cause) || Cause.isInterrupted(cause)

export interface AcquisitionOptions {
  /** Whether `validate` was given: without it nothing is checked on borrow. */
  readonly validates: boolean
  readonly isBroken: ((cause: Cause.Cause<unknown>) => boolean) | undefined
}

export interface Acquirer<A, E> {
  readonly get: Effect.Effect<ResourcePool.Lease<A>, PoolError<E>, Scope.Scope>
  readonly use: <B, E2, R2>(
    f: (lease: ResourcePool.Lease<A>) => Effect.Effect<B, E2, R2>
  ) => Effect.Effect<B, E2 | PoolError<E>, R2>
}

/**
 * Lends the connection the caller who asked at `start` received at `t`: the lease, with its event, the
 * caller's span (read when it asked) and, under leak detection, its origin.
 */
type Lend<A, E> = (
  op: Acquisition<A, E>,
  conn: Conn<A>,
  start: number,
  t: number
) => Effect.Effect<LeaseImpl<A>, PoolError<E>>

/**
 * Asks the state for a connection (again, when `retrying` after a failed check on borrow) and acts on its
 * decision. `start` and `deadline` travel as arguments, not as fields of the `Acquisition`: a number field
 * holds a boxed double, one more allocation per call (measured on the uncontended path).
 */
type Take<A, E> = (
  op: Acquisition<A, E>,
  start: number,
  deadline: number,
  retrying: boolean
) => Effect.Effect<LeaseImpl<A>, PoolError<E>>

// Each part below is built once per pool and returns plain functions: a call on the callers' path
// allocates nothing but the effects it returns.

const makeLend = <A, E>(ctx: PoolContext<A, E>, leakMillis: number | undefined): Lend<A, E> => {
  const { closedError, events, metrics, state } = ctx
  return (op, conn, start, t) => {
    const lease = new LeaseImpl(conn, t)
    lease.acquiredSpan = op.span
    // Handed over just before shutdown cut it: the pool closed under this caller.
    if (!state.lend(conn, t - start, lease)) return Effect.fail(closedError)
    if (leakMillis !== undefined) lease.acquiredStack = new Error("lease acquired here").stack
    metrics.waitTime.update((t - start) / 1000)
    // The hot path: no closure for an event nobody listens to.
    return events.listeningToLeases
      ? events.after(
        Effect.succeed(lease),
        () => PoolEvent.ConnectionAcquired({ connectionId: conn.id, waitTime: t - start })
      )
      : Effect.succeed(lease)
  }
}

/** The caller's waiter is already queued (by `state.request`): its fiber waits for the outcome, then is lent it. */
const makeWait = <A, E>(ctx: PoolContext<A, E>, lend: Lend<A, E>) => {
  const { name, now } = ctx
  // Only callers who wait get a span; capturing a stack trace per span would double its cost.
  const spanOptions = { attributes: { [poolNameAttribute]: name }, captureStackTrace: false } as const
  return (op: Acquisition<A, E>, waiter: PoolWaiter<A, E>): Effect.Effect<LeaseImpl<A>, PoolError<E>> => {
    // No canceler: the Acquisition's exit handler cancels this waiter if the caller is interrupted.
    const waiting = Effect.async<Conn<A>, PoolError<E>>((resume) => {
      if (waiter.outcome !== undefined) resume(waiter.outcome)
      else waiter.resume = resume
    })
    const traced = Effect.withFiberRuntime<Conn<A>, PoolError<E>>((fiber) =>
      fiber.currentTracer === builtInTracer
        ? op.restore(waiting)
        : op.restore(waiting).pipe(Effect.withSpan("dbpool.acquire", spanOptions))
    )
    return Effect.flatMap(traced, (conn) => {
      // Received: from here the lease, not the waiter, answers for the connection.
      op.waiter = undefined
      return lend(op, conn, waiter.enqueuedAt, now())
    })
  }
}

/**
 * The check on borrow of a connection idle for longer than `validateAfterIdle`.
 * A failed check closes it and asks again (`take` retrying).
 */
const makeBorrowCheck = <A, E>(
  ctx: PoolContext<A, E>,
  runValidation: Housekeeping<A>["runValidation"],
  lend: Lend<A, E>,
  take: Take<A, E>
) => {
  const { closedError, config, events, now, runFork, state } = ctx
  const validationMillis = millis(config.validationTimeout)
  return (
    op: Acquisition<A, E>,
    conn: Conn<A>,
    start: number,
    deadline: number
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
      if (verdict === "healthy") return lend(op, conn, start, t)
      if (verdict === "interrupted") {
        state.cancelDuringCheck(conn, t)
        return Effect.interrupt
      }
      state.release(conn, t, "unhealthy")
      return take(op, start, deadline, true)
    })
    return events.before(() => PoolEvent.HealthCheckStarted({ connectionId: conn.id }), check)
  }
}

/** Back from a failed check on borrow: the pool may have closed, or the time run out, meanwhile. */
const makeRetryRefusal = <A, E>(ctx: PoolContext<A, E>, housekeeping: Housekeeping<A>) => {
  const { closedError, events, now, state } = ctx
  const { acquireTimedOut, timeoutError } = housekeeping
  return (start: number, deadline: number): Effect.Effect<never, PoolError<E>> | undefined => {
    if (state.closed) {
      state.refuseClosed()
      return Effect.fail(closedError)
    }
    const t = now()
    if (t < deadline) return undefined
    const error = timeoutError(t)
    state.countFailure(error)
    const event = acquireTimedOut(t - start)
    return events.before(() => event!, Effect.fail(error))
  }
}

/** The caller's decision: asks the state in one synchronous step, then lends, waits, checks or refuses. */
const makeTake = <A, E>(
  ctx: PoolContext<A, E>,
  housekeeping: Housekeeping<A>,
  options: AcquisitionOptions
): Take<A, E> => {
  const { config, name, now, state } = ctx
  const { timer } = housekeeping
  const validateAfterIdleMillis = millis(config.validateAfterIdle)
  const lend = makeLend(ctx, housekeeping.leakMillis)
  const wait = makeWait(ctx, lend)
  const retryRefused = makeRetryRefusal(ctx, housekeeping)
  const take: Take<A, E> = (op, start, deadline, retrying) => {
    if (retrying) {
      const refused = retryRefused(start, deadline)
      if (refused !== undefined) return refused
    }
    // A first ask comes straight from `acquireLease`, which has just read the clock: no second read.
    const t = retrying ? now() : start
    const decision = state.request(start, deadline, retrying, t)
    if (decision === undefined) {
      return Effect.fail(
        new PoolExhaustedError({ pool: name, waiting: state.waiters.length, maxWaiting: config.maxWaiting })
      )
    }
    if (decision instanceof Waiter) {
      op.waiter = decision
      // Only a waiter put back in arrival order (failed validation on borrow) can be due before the timer wakes.
      if (retrying && deadline < timer.wakeAt()) timer.restart()
      return wait(op, decision)
    }
    const conn = decision
    if (
      options.validates &&
      t - conn.idleSince >= validateAfterIdleMillis &&
      t - conn.lastValidatedAt >= validateAfterIdleMillis
    ) return checkOnBorrow(op, conn, start, deadline)
    return lend(op, conn, start, t)
  }
  const checkOnBorrow = makeBorrowCheck(ctx, housekeeping.runValidation, lend, take)
  return take
}

/** Giving back: once per lease, broken or not, with the late return of a reported leak logged. */
const makeGiveBack = <A, E>(ctx: PoolContext<A, E>, options: AcquisitionOptions) => {
  const { events, metrics, name, now, state } = ctx
  const isBroken = options.isBroken ?? defaultIsBroken
  return (lease: LeaseImpl<A>, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> =>
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
      if (!events.listeningToLeases) return returned
      return events.after(
        returned,
        () => PoolEvent.ConnectionReleased({ connectionId: lease.id, useTime: t - lease.acquiredAt })
      )
    })
}

/** `use` and `get`: each call carries one `Acquisition` from asking to giving back. */
export const makeAcquirer = <A, E>(
  ctx: PoolContext<A, E>,
  housekeeping: Housekeeping<A>,
  options: AcquisitionOptions
): Acquirer<A, E> => {
  const { closedError, config, now, state } = ctx
  const acquireTimeoutMillis = millis(config.acquireTimeout)
  const take = makeTake(ctx, housekeeping, options)
  const giveBack = makeGiveBack(ctx, options)

  // Who holds the connections (a PoolTimeoutError, a dashboard): the caller's span is kept when a tracer is
  // installed or leak detection is on. Reading it here costs nothing more than the suspend this replaces.
  const recordSpan = housekeeping.leakMillis !== undefined
  const acquireLease = (op: Acquisition<A, E>): Effect.Effect<LeaseImpl<A>, PoolError<E>> =>
    Effect.withFiberRuntime((fiber) => {
      if (!state.arrive()) return Effect.fail(closedError)
      if (recordSpan || fiber.currentTracer !== builtInTracer) op.span = fiber.currentSpan
      const start = now()
      return take(op, start, start + acquireTimeoutMillis, false)
    })

  /** Interrupted while waiting (or served just as it was): out of the queue, any connection back. */
  const cancelWaiting = (op: Acquisition<A, E>): void => {
    if (op.waiter !== undefined) state.cancel(op.waiter, now())
  }

  const get: Effect.Effect<ResourcePool.Lease<A>, PoolError<E>, Scope.Scope> = Effect.uninterruptibleMask(
    (restore) => {
      const op = new Acquisition<A, E>(restore)
      const acquired = Effect.onExit(acquireLease(op), (exit) => {
        if (exit._tag === "Failure") cancelWaiting(op)
        return Effect.void
      })
      return Effect.flatMap(acquired, (lease) =>
        // Scope.addFinalizerExit, not Effect.addFinalizer: the latter captures the fiber's context for
        // the finalizer, which doubled the cost of a scoped acquisition.
        Effect.as(
          Effect.flatMap(Effect.scope, (scope) => Scope.addFinalizerExit(scope, (exit) => giveBack(lease, exit))),
          lease
        ))
    }
  )

  const use = <B, E2, R2>(f: (lease: ResourcePool.Lease<A>) => Effect.Effect<B, E2, R2>) =>
    Effect.uninterruptibleMask((restore) => {
      const op = new Acquisition<A, E>(restore)
      return Effect.onExit(
        Effect.flatMap(acquireLease(op), (lease) => {
          op.lease = lease
          return restore(Effect.suspend(() => f(lease)))
        }),
        (exit) => {
          if (op.lease !== undefined) return giveBack(op.lease, exit)
          cancelWaiting(op)
          return Effect.void
        }
      )
    })

  return { get, use }
}
