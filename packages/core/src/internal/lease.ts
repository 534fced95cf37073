/**
 * A lease, as the pool hands it out, and the record of one acquisition from
 * asking to giving back (which is also the caller's place in the queue).
 */
import type * as Effect from "effect/Effect"
import * as Effectable from "effect/Effectable"
import * as Exit from "effect/Exit"
import type * as Tracer from "effect/Tracer"
import type { PoolError } from "../PoolError.js"
import type * as ResourcePool from "../ResourcePool.js"
import type { Restore } from "./context.js"
import type { Conn, PoolWaiter } from "./state.js"

/**
 * Who holds the connections now, held longest first. Built only when asked
 * for (a timeout, a dashboard): lending records nothing for it beyond what
 * the lease already carries.
 */
export const heldLeases = <A>(open: Iterable<Conn<A>>, now: number): Array<ResourcePool.LeaseInfo> => {
  const held: Array<LeaseImpl<A>> = []
  for (const conn of open) {
    const lease = conn.lease
    if (lease instanceof LeaseImpl && !lease.released) held.push(lease)
  }
  held.sort((a, b) => a.acquiredAt - b.acquiredAt)
  return held.map((lease) => leaseInfo(lease, now))
}

const leaseInfo = <A>(lease: LeaseImpl<A>, now: number): ResourcePool.LeaseInfo => {
  const span = lease.acquiredSpan
  return {
    connectionId: lease.id,
    acquiredAt: lease.acquiredAt,
    heldFor: now - lease.acquiredAt,
    usageCount: lease.usageCount,
    span: span === undefined ?
      undefined :
      { name: span._tag === "Span" ? span.name : undefined, traceId: span.traceId, spanId: span.spanId },
    callSite: lease.acquiredStack
  }
}

export class LeaseImpl<A> implements ResourcePool.Lease<A> {
  released = false
  invalid = false
  /** Set by `hold`: given back, the resource waits for this verdict before it is reused or closed. */
  verdict: Effect.Effect<boolean> | undefined = undefined
  /** Where it was acquired: the stack, kept only while leak detection is on. */
  acquiredStack: string | undefined = undefined
  /** The caller's span, kept while a tracer is installed or leak detection is on. */
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
    // This use included: `PoolState.lend` counts it as it lends the connection to this lease.
    this.usageCount = conn.usageCount + 1
  }
}

/** What an `Acquisition` runs when its fiber evaluates it: built once per pool (acquisition.ts). */
export interface AcquisitionSteps<A, E> {
  /** Arrives and asks: an idle connection (lent, then the body), a wait, or a refusal. */
  readonly ask: (op: Acquisition<A, E>) => Effect.Effect<unknown, unknown>
  /** Served after waiting: the connection handed over is lent, then the body. */
  readonly receive: (op: Acquisition<A, E>) => Effect.Effect<unknown, unknown>
}

/**
 * One `use` (or `get`) from asking to giving back. It is the caller's
 * waiter too (a queue node the state links in, see waiters.ts), and an
 * effect: evaluated first, it asks; evaluated again once its fiber is woken
 * as served, it receives. The caller's `restore` and body ride along, so no
 * closure is made per step: under contention whatever a waiting fiber keeps
 * alive is copied and promoted by the garbage collector, and this record,
 * the wait's own effects and the exit handler are all it keeps.
 *
 * Its single exit handler both returns the lease and, for a caller
 * interrupted while waiting, takes it out of the queue: a canceler on the
 * wait itself would wrap every wait in an interruption handler of its own.
 */
export class Acquisition<A, E> extends Effectable.Class<unknown, unknown> implements PoolWaiter<A, E> {
  prev: PoolWaiter<A, E> | undefined = undefined
  next: PoolWaiter<A, E> | undefined = undefined
  queued = false
  served: Conn<A> | undefined = undefined
  settled = false
  enqueuedAt = 0
  deadline = 0
  /** Queued by its last ask and not yet received: its exit handler cancels it, and evaluating it receives. */
  waiting = false
  lease: LeaseImpl<A> | undefined = undefined
  /** Its fiber's wake-up, once the fiber waits. */
  resume: ((outcome: Exit.Exit<Acquisition<A, E>, PoolError<E>>) => void) | undefined = undefined
  /** A wake-up that came before the fiber waited. */
  outcome: Exit.Exit<Acquisition<A, E>, PoolError<E>> | undefined = undefined
  constructor(
    readonly steps: AcquisitionSteps<A, E>,
    readonly restore: Restore,
    /** The body of `use`; none for `get`, whose acquisition succeeds with the lease. */
    readonly body: ((lease: LeaseImpl<A>) => Effect.Effect<unknown, unknown>) | undefined
  ) {
    super()
  }

  commit(): Effect.Effect<unknown, unknown> {
    return this.waiting ? this.steps.receive(this) : this.steps.ask(this)
  }

  /** Its fiber resumes with itself (then evaluated: it receives), or fails with `error`. */
  wake(error: PoolError<E> | undefined): void {
    const outcome = error === undefined ? Exit.succeed(this) : Exit.fail(error)
    if (this.resume === undefined) this.outcome = outcome
    else this.resume(outcome)
  }
}
