import type * as Effect from "effect/Effect"

/**
 * A caller waiting for a connection. It is settled exactly once: served with a
 * connection, failed, or cancelled by its own fiber.
 *
 * It is queued in the same synchronous step in which its caller found no idle
 * connection, before the caller's fiber suspends: an outcome that arrives
 * before the fiber has registered `resume` is kept in `outcome` and picked up
 * when it does.
 */
export class Waiter<C, E> {
  prev: Waiter<C, E> | undefined = undefined
  next: Waiter<C, E> | undefined = undefined
  queued = false
  /** Set when a connection is handed over, before the fiber resumes, so a late interrupt can give it back. */
  served: C | undefined = undefined
  settled = false
  resume: ((effect: Effect.Effect<C, E>) => void) | undefined = undefined
  outcome: Effect.Effect<C, E> | undefined = undefined
  constructor(
    readonly enqueuedAt: number,
    readonly deadline: number
  ) {}

  /** Settles the waiter with its outcome, delivered now or when its fiber starts waiting. */
  deliver(effect: Effect.Effect<C, E>): void {
    this.settled = true
    if (this.resume === undefined) this.outcome = effect
    else this.resume(effect)
  }
}

/**
 * First-in-first-out queue of waiters with O(1) removal from anywhere, so an
 * interrupted or timed-out waiter leaves at no cost however many wait behind it.
 */
export class WaiterQueue<C, E> {
  head: Waiter<C, E> | undefined = undefined
  tail: Waiter<C, E> | undefined = undefined
  length = 0

  pushBack(w: Waiter<C, E>): void {
    w.queued = true
    w.prev = this.tail
    w.next = undefined
    if (this.tail === undefined) this.head = w
    else this.tail.next = w
    this.tail = w
    this.length++
  }

  pushFront(w: Waiter<C, E>): void {
    w.queued = true
    w.next = this.head
    w.prev = undefined
    if (this.head === undefined) this.tail = w
    else this.head.prev = w
    this.head = w
    this.length++
  }

  /**
   * Puts a waiter back in arrival order (it asked before some of those now
   * waiting), so that the queue stays ordered by deadline and the timer, which
   * looks only at the head, misses no deadline.
   */
  insertByArrival(w: Waiter<C, E>): void {
    let after = this.tail
    while (after !== undefined && after.enqueuedAt > w.enqueuedAt) after = after.prev
    if (after === undefined) return this.pushFront(w)
    if (after === this.tail) return this.pushBack(w)
    w.queued = true
    w.prev = after
    w.next = after.next
    after.next!.prev = w
    after.next = w
    this.length++
  }

  shift(): Waiter<C, E> | undefined {
    const w = this.head
    if (w !== undefined) this.remove(w)
    return w
  }

  remove(w: Waiter<C, E>): void {
    if (!w.queued) return
    if (w.prev === undefined) this.head = w.next
    else w.prev.next = w.next
    if (w.next === undefined) this.tail = w.prev
    else w.next.prev = w.prev
    w.prev = w.next = undefined
    w.queued = false
    this.length--
  }
}
