/**
 * A lease, as the pool hands it out, and the record of one acquisition from
 * asking to giving back.
 */
import type * as Tracer from "effect/Tracer"
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
    // This use included: `PoolState.lend` counts it as it lends the connection to this lease.
    this.usageCount = conn.usageCount + 1
  }
}

/**
 * One `use` (or `get`) from asking to giving back: the caller's `restore`,
 * and whichever of its waiter or its lease answers for it now (when it asked
 * and its deadline travel as arguments: see acquisition.ts). Its single exit handler both returns the lease and, for
 * a caller interrupted while waiting, takes its waiter out of the queue: a
 * canceler on the wait itself would wrap every wait in an interruption
 * handler of its own, which under contention costs more than the pool.
 */
export class Acquisition<A, E> {
  waiter: PoolWaiter<A, E> | undefined = undefined
  lease: LeaseImpl<A> | undefined = undefined
  /** The caller's span, read when it asked, if a tracer is installed or leak detection is on. */
  span: Tracer.AnySpan | undefined = undefined
  constructor(readonly restore: Restore) {}
}
