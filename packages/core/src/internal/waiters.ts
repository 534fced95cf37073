/**
 * A caller waiting for a connection, as the state machine sees it. It is
 * settled exactly once: served with a connection, failed, or cancelled by its
 * own fiber.
 *
 * The caller brings its own record (acquisition.ts's `Acquisition`): the
 * state allocates nothing per waiter. Everything a waiting fiber keeps alive
 * until it is served costs twice under contention (copied by the young
 * generation's collector, then promoted and marked), so one object serves as
 * the caller's record, its queue node and its wake-up.
 *
 * It is queued in the same synchronous step in which its caller found no idle
 * connection, before the caller's fiber suspends: a wake-up that arrives
 * before the fiber waits is kept by the waiter and delivered when it does.
 */
export interface Waiter<C, E> {
  prev: Waiter<C, E> | undefined
  next: Waiter<C, E> | undefined
  queued: boolean
  /** Set when a connection is handed over, before the fiber resumes, so a late interrupt can give it back. */
  served: C | undefined
  settled: boolean
  /** When its caller asked, and until when it may wait (the pool's clock, milliseconds). */
  readonly enqueuedAt: number
  readonly deadline: number
  /** Wakes the caller's fiber: served (`served` is set) or, with `error`, failed. The waiter is settled. */
  wake(error: E | undefined): void
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
