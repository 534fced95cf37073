/**
 * A lease, as the pool hands it out, and the record of one acquisition from
 * asking to giving back.
 */
import type * as Effect from "effect/Effect"
import type * as Tracer from "effect/Tracer"
import type * as ResourcePool from "../ResourcePool.js"
import type { Restore } from "./context.js"
import type { Conn, PoolWaiter } from "./state.js"

export class LeaseImpl<A> implements ResourcePool.Lease<A> {
  released = false
  invalid = false
  /** Set by `hold`: given back, the resource waits for this verdict before it is reused or closed. */
  verdict: Effect.Effect<boolean> | undefined = undefined
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
  constructor(readonly restore: Restore) {}
}
