/**
 * The callers' path: ask (one synchronous step of the state: an idle
 * connection, a place in the queue, or a refusal), wait if queued, check the
 * connection on borrow if it has been idle long, lend it, run the body, and
 * give it back. `use` and `get` are built here; each carries one
 * `Acquisition`, which is also its waiter and the effect that asks and
 * receives (lease.ts).
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import { PoolExhaustedError } from "../PoolError.js"
import type { PoolError } from "../PoolError.js"
import { PoolEvent } from "../PoolEvent.js"
import type * as ResourcePool from "../ResourcePool.js"
import type { PoolContext } from "./context.js"
import { millis } from "./context.js"
import { connectionAcquired, connectionReleased } from "./events.js"
import type { Housekeeping } from "./housekeeping.js"
import { Acquisition, LeaseImpl } from "./lease.js"
import type { AcquisitionSteps } from "./lease.js"
import { poolNameAttribute } from "./metrics.js"
import type { Conn } from "./state.js"

/** Effect's own tracer, in place when no tracer is installed: then no span is worth its cost. */
const builtInTracer = Effect.runSync(Effect.tracer)

const defaultIsBroken = (cause: Cause.Cause<unknown>): boolean => Cause.isDie(cause) || Cause.isInterrupted(cause)

/** After the wait: the `Acquisition` the fiber was woken with, evaluated next (it receives). */
const received = <A, E>(op: Acquisition<A, E>): Acquisition<A, E> => op

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
  /** The verdicts of leases given back while held (`ResourcePool.hold`): shutdown interrupts them. */
  readonly held: Set<Fiber.RuntimeFiber<unknown>>
}

/**
 * Lends the connection the caller who asked at `start` received at `t`, then goes on: the body of `use`
 * in the caller's interruptibility, or the lease for `get`; the event, the caller's span (under a tracer or
 * leak detection) and, under leak detection, the lease's origin first.
 */
type Proceed<A, E> = (op: Acquisition<A, E>, conn: Conn<A>, start: number, t: number) => Effect.Effect<unknown, unknown>

/**
 * Asks the state for a connection (again, when `retrying` after a failed check on borrow) and acts on its
 * decision. `start` and `deadline` travel as arguments until the caller is queued.
 */
type Take<A, E> = (
  op: Acquisition<A, E>,
  start: number,
  deadline: number,
  retrying: boolean
) => Effect.Effect<unknown, unknown>

// Each part below is built once per pool and returns plain functions: a call on the callers' path
// allocates nothing but the effects it returns.

/** What comes after lending: the body of `use` (restored), or the lease itself for `get`. */
const afterLending = <A, E>(op: Acquisition<A, E>, lease: LeaseImpl<A>): Effect.Effect<unknown, unknown> =>
  op.body === undefined ? Effect.succeed(lease) : op.restore(op.body(lease))

const makeProceed = <A, E>(ctx: PoolContext<A, E>, leakMillis: number | undefined): Proceed<A, E> => {
  const { closedError, events, metrics, state } = ctx
  return (op, conn, start, t) => {
    const lease = new LeaseImpl(conn, t)
    // Handed over just before shutdown cut it: the pool closed under this caller.
    if (!state.lend(conn, t - start, lease)) return Effect.fail(closedError)
    op.lease = lease
    metrics.waitTime.update((t - start) / 1000)
    // The hot path: no event built while nobody listens to it (`pool.notices` does not), and none published
    // here (recorded for the batch).
    if (events.listeningAll) events.record(connectionAcquired(conn.id, t - start))
    // Who holds the connections (PoolTimeoutError.leases, pool.leases): the caller's span, kept when a tracer
    // is installed or leak detection is on. This runs in the caller's fiber's run loop (the Acquisition is
    // evaluated there), so the fiber is read as it is: no Effect step, for either.
    const fiber = Fiber.getCurrentFiber()
    if (fiber._tag === "Some" && (leakMillis !== undefined || fiber.value.currentTracer !== builtInTracer)) {
      lease.acquiredSpan = fiber.value.currentSpan
    }
    if (leakMillis !== undefined) lease.acquiredStack = new Error("lease acquired here").stack
    return afterLending(op, lease)
  }
}

/**
 * The caller is queued (by `state.request`): its fiber waits, interruptibly if the caller was, and is
 * woken with its `Acquisition`, which it evaluates once out of the interruptible region: it receives.
 */
const makeWait = <A, E>(ctx: PoolContext<A, E>) => {
  const { name } = ctx
  // Only callers who wait get a span; capturing a stack trace per span would double its cost.
  const spanOptions = { attributes: { [poolNameAttribute]: name }, captureStackTrace: false } as const
  return (op: Acquisition<A, E>): Effect.Effect<unknown, unknown> =>
    Effect.withFiberRuntime((fiber) => {
      // No canceler: the Acquisition's exit handler cancels this waiter if the caller is interrupted.
      const waiting = op.restore(Effect.async<Acquisition<A, E>, PoolError<E>>((resume) => {
        if (op.outcome !== undefined) resume(op.outcome)
        else op.resume = resume
      }))
      return Effect.flatMap(
        fiber.currentTracer === builtInTracer ? waiting : Effect.withSpan(waiting, "dbpool.acquire", spanOptions),
        received
      )
    })
}

/**
 * The check on borrow of a connection idle for longer than `validateAfterIdle`.
 * A failed check closes it and asks again (`take` retrying).
 */
const makeBorrowCheck = <A, E>(
  ctx: PoolContext<A, E>,
  runValidation: Housekeeping<A>["runValidation"],
  proceed: Proceed<A, E>,
  take: Take<A, E>
) => {
  const { closedError, config, events, now, runFork, state } = ctx
  const validationMillis = millis(config.validationTimeout)
  return (op: Acquisition<A, E>, conn: Conn<A>, start: number, deadline: number): Effect.Effect<unknown, unknown> => {
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
      if (verdict === "healthy") return proceed(op, conn, start, t)
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
  options: AcquisitionOptions,
  proceed: Proceed<A, E>
): Take<A, E> => {
  const { config, name, now, state } = ctx
  const { timer } = housekeeping
  const validateAfterIdleMillis = millis(config.validateAfterIdle)
  const wait = makeWait(ctx)
  const retryRefused = makeRetryRefusal(ctx, housekeeping)
  const take: Take<A, E> = (op, start, deadline, retrying) => {
    if (retrying) {
      const refused = retryRefused(start, deadline)
      if (refused !== undefined) return refused
    }
    // A first ask comes straight from `ask`, which has just read the clock: no second read.
    const t = retrying ? now() : start
    op.enqueuedAt = start
    op.deadline = deadline
    const decision = state.request(op, retrying, t)
    if (decision === undefined) {
      return Effect.fail(
        new PoolExhaustedError({ pool: name, waiting: state.waiters.length, maxWaiting: config.maxWaiting })
      )
    }
    if (decision === op) {
      op.waiting = true
      // Only a waiter put back in arrival order (failed validation on borrow) can be due before the timer wakes.
      if (retrying && deadline < timer.wakeAt()) timer.restart()
      return wait(op)
    }
    const conn = decision as Conn<A>
    if (
      options.validates &&
      t - conn.idleSince >= validateAfterIdleMillis &&
      t - conn.lastValidatedAt >= validateAfterIdleMillis
    ) return checkOnBorrow(op, conn, start, deadline)
    return proceed(op, conn, start, t)
  }
  const checkOnBorrow = makeBorrowCheck(ctx, housekeeping.runValidation, proceed, take)
  return take
}

/**
 * Giving back: once per lease, broken or not (`cause` is the failure of the body, if it failed), with the
 * late return of a reported leak logged. What remains to run after the state took it back, if anything (a
 * log line, the statistics' publication when `statsInterval` has elapsed: fibers which never suspend never
 * let the publication's timer run).
 */
const makeGiveBack = <A, E>(
  ctx: PoolContext<A, E>,
  options: AcquisitionOptions,
  held: Set<Fiber.RuntimeFiber<unknown>>
) => {
  const { events, metrics, name, now, runFork, state, stats } = ctx
  const isBroken = options.isBroken ?? defaultIsBroken
  /**
   * A held lease: its connection stays active, lent to no one, until the verdict; the caller does not wait
   * for it. Interrupted (shutdown) or failed, the verdict closes it.
   */
  const releaseAfter = (conn: Conn<A>, verdict: Effect.Effect<boolean>): void => {
    if (state.closed) return state.release(conn, now(), "broken")
    // A verdict already reached runs to its end inside runFork: then there is nothing to hold.
    let done = false
    let fiber: Fiber.RuntimeFiber<unknown> | undefined = undefined
    fiber = runFork(Effect.onExit(verdict, (exit) =>
      Effect.sync(() => {
        done = true
        if (fiber !== undefined) held.delete(fiber)
        state.release(conn, now(), exit._tag === "Success" && exit.value ? undefined : "broken")
      })))
    if (!done) held.add(fiber)
  }
  return (lease: LeaseImpl<A>, cause: Cause.Cause<unknown> | undefined): Effect.Effect<void> | undefined => {
    if (lease.released) return undefined
    lease.released = true
    const t = now()
    const broken = lease.invalid || (cause !== undefined && isBroken(cause))
    metrics.useTime.update((t - lease.acquiredAt) / 1000)
    if (!broken && lease.verdict !== undefined) releaseAfter(lease.conn, lease.verdict)
    else state.release(lease.conn, t, broken ? "broken" : undefined)
    const returned = lease.leakReported ?
      Effect.logInfo(
        `dbpool: connection ${lease.id} of pool "${name}", reported as a possible leak, came back after ` +
          `${t - lease.acquiredAt} ms`
      ) :
      undefined
    if (events.listeningAll) events.record(connectionReleased(lease.id, t - lease.acquiredAt))
    if (!stats.isDue(t)) return returned
    return returned === undefined ? stats.publishDue(t) : Effect.zipRight(stats.publishDue(t), returned)
  }
}

/** `ask` and `receive`, the two steps an `Acquisition` runs when evaluated. */
const makeSteps = <A, E>(
  ctx: PoolContext<A, E>,
  housekeeping: Housekeeping<A>,
  options: AcquisitionOptions
): AcquisitionSteps<A, E> => {
  const { closedError, config, now, state } = ctx
  const acquireTimeoutMillis = millis(config.acquireTimeout)
  const proceed = makeProceed(ctx, housekeeping.leakMillis)
  const take = makeTake(ctx, housekeeping, options, proceed)
  return {
    ask: (op) => {
      if (!state.arrive()) return Effect.fail(closedError)
      const start = now()
      return take(op, start, start + acquireTimeoutMillis, false)
    },
    receive: (op) => {
      // Received: from here the lease, not the waiter, answers for the connection.
      op.waiting = false
      return proceed(op, op.served!, op.enqueuedAt, now())
    }
  }
}

/** `use` and `get`: each call carries one `Acquisition` from asking to giving back. */
export const makeAcquirer = <A, E>(
  ctx: PoolContext<A, E>,
  housekeeping: Housekeeping<A>,
  options: AcquisitionOptions
): Acquirer<A, E> => {
  const { now, state } = ctx
  const steps = makeSteps(ctx, housekeeping, options)
  const held = new Set<Fiber.RuntimeFiber<unknown>>()
  const giveBack = makeGiveBack(ctx, options, held)

  /**
   * The acquisition (or its body) failed: the lease goes back, or, for a caller interrupted while
   * waiting (or served just as it was), the waiter leaves the queue and any connection goes back.
   */
  const failed = (op: Acquisition<A, E>, cause: Cause.Cause<unknown>): Effect.Effect<never, unknown> => {
    if (op.lease === undefined) {
      if (op.waiting) state.cancel(op, now())
      return Exit.failCause(cause)
    }
    const after = giveBack(op.lease, cause)
    return after === undefined ? Exit.failCause(cause) : Effect.zipRight(after, Exit.failCause(cause))
  }

  const get: Effect.Effect<ResourcePool.Lease<A>, PoolError<E>, Scope.Scope> = Effect.uninterruptibleMask(
    (restore) => {
      const op = new Acquisition<A, E>(steps, restore, undefined)
      return Effect.matchCauseEffect(op as Effect.Effect<LeaseImpl<A>, PoolError<E>>, {
        onFailure: (cause) => failed(op, cause) as Effect.Effect<never, PoolError<E>>,
        onSuccess: (lease) =>
          // Scope.addFinalizerExit, not Effect.addFinalizer: the latter captures the fiber's context for
          // the finalizer, which doubled the cost of a scoped acquisition.
          Effect.as(
            Effect.flatMap(Effect.scope, (scope) =>
              Scope.addFinalizerExit(
                scope,
                (exit) => giveBack(lease, exit._tag === "Failure" ? exit.cause : undefined) ?? Effect.void
              )),
            lease
          )
      })
    }
  )

  const use = <B, E2, R2>(f: (lease: ResourcePool.Lease<A>) => Effect.Effect<B, E2, R2>) =>
    Effect.uninterruptibleMask((restore) => {
      // The body's requirements R2 are the caller's: the types say so at the end, the runtime never looks.
      const body = f as unknown as (lease: LeaseImpl<A>) => Effect.Effect<B, E2>
      const op = new Acquisition<A, E>(steps, restore, body)
      return Effect.matchCauseEffect(op, {
        onFailure: (cause) => failed(op, cause),
        onSuccess: (value) => {
          const after = giveBack(op.lease!, undefined)
          return after === undefined ? Exit.succeed(value) : Effect.as(after, value)
        }
      })
    }) as Effect.Effect<B, E2 | PoolError<E>, R2>

  return { get, use, held }
}
