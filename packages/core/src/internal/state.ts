/**
 * The pool's state machine: every connection, every waiter and every counter,
 * and the transitions between them.
 *
 * Each transition is a plain synchronous method. Effect runs fibers on one
 * JavaScript thread and never preempts synchronous code, so a transition is
 * atomic exactly as a `Ref.modify` would be, without copying the state: a
 * release hands its connection to the oldest waiter in the same step in which
 * it sees that waiter, and no wake-up can be lost between the two.
 *
 * The transitions decide; the runtime (pool.ts and the files it wires:
 * creation.ts, housekeeping.ts, acquisition.ts) acts, and writes no counter
 * or bound itself. A caller's whole decision (idle connection? room in the
 * queue? queued) is one transition, `request`. Side effects the state asks
 * for go through `Runtime`: queue a creation, close a connection, tell
 * shutdown that leases came back. The circuit breaker's transitions are
 * reported by return values (`attemptFailed`, `created`, `probesEnded`), so the
 * runtime logs and publishes them in order with the events around them.
 */
import { ConnectError } from "../PoolError.js"
import type { PoolError } from "../PoolError.js"
import type { CloseReason, PoolStats } from "../PoolStats.js"
import type { Waiter } from "./waiters.js"
import { WaiterQueue } from "./waiters.js"

export type ConnState = "idle" | "active" | "validating" | "closing"

export class Conn<A> {
  state: ConnState = "active"
  usageCount = 0
  idleSince: number
  lastValidatedAt: number
  unhealthy = false
  /** The lease holding this connection, while one does. */
  lease: { released: boolean; readonly acquiredAt: number } | undefined = undefined
  constructor(
    readonly id: string,
    readonly resource: A,
    readonly createdAt: number,
    readonly retireAt: number,
    /** Connection attempts it took, and milliseconds from the first attempt to open. */
    readonly attempts = 1,
    readonly createTime = 0
  ) {
    this.idleSince = createdAt
    this.lastValidatedAt = createdAt
  }
}

export interface Runtime<A> {
  /** Queue one connection creation (the caller already counted it as pending). */
  readonly requestCreation: () => void
  /** Close a connection in the background, then call `PoolState.closeDone`. */
  readonly close: (conn: Conn<A>, reason: CloseReason) => void
  /** During shutdown: no lease or health check holds a connection any more. */
  readonly leasesReturned: () => void
  /** During shutdown: every connection is closed and no creation is in flight. */
  readonly allClosed: () => void
}

export type PoolWaiter<A, E> = Waiter<Conn<A>, PoolError<E>>

/**
 * A pool group's hold on a member (internal/group.ts): the group's connections, open or being opened,
 * never exceed its budget. `grant` is asked before a creation is counted as pending (the pool's
 * `open.size + pending` is its share of the budget); `freed` is told when a permit came back.
 */
export interface Budget {
  /** How many of `wanted` creations this member may start now; when short, the group makes room elsewhere. */
  readonly grant: (wanted: number) => number
  /** A connection's close completed, or a creation failed: the group hands the permit to its neediest member. */
  readonly freed: (now: number) => void
}

export class PoolState<A, E> {
  // ---- connections -------------------------------------------------------
  /** Every open connection, whatever its state; each counts against the maximum until closed. */
  readonly open = new Set<Conn<A>>()
  /** Idle connections, oldest idle first: taken from the end (LIFO), so the surplus falls idle. */
  idle: Array<Conn<A>> = []
  active = 0
  validating = 0
  closing = 0
  unhealthy = 0
  /** Creations queued or in flight. */
  pending = 0
  /**
   * Connections kept open, between `min` and `max`: `min` unless a sizing controller (PoolSizing.adaptive)
   * moves it with `setTarget`. Refilling and the idle sweep keep this many instead of `min`.
   */
  target: number

  // ---- callers -----------------------------------------------------------
  readonly waiters = new WaiterQueue<Conn<A>, PoolError<E>>()

  // ---- group -------------------------------------------------------------
  /** The effective cap (≤ max): a pool group lowers it to move this pool's capacity to another member. */
  ceiling: number
  /** Set when the pool belongs to a group. */
  budget: Budget | undefined = undefined

  // ---- lifecycle ---------------------------------------------------------
  closed = false
  /** After a failed creation, refilling to the minimum waits until then (no reconnect spin). */
  refillPausedUntil = 0
  lastConnectError: ConnectError<E> | undefined = undefined

  // ---- circuit breaker ---------------------------------------------------
  /** Connection attempts failed in a row, retries included; any successful connect resets it. */
  consecutiveFailures = 0
  /** False while the pool warms up: a pool starting with its database gets its creations' retries. */
  circuitArmed = false
  circuitOpen = false
  circuitOpenedAt = 0
  /** Counts the openings, so that the prober can tell a new opening from the one it probes for. */
  circuitOpenings = 0
  /** What callers refused while the circuit is open fail with: the last connection error, marked `circuitOpen`. */
  circuitError: ConnectError<E> | undefined = undefined
  /** Creation requests queued and not yet taken by a creator: dropped when the circuit opens. */
  private queuedCreations = 0
  private droppedCreations = 0

  // ---- counters ----------------------------------------------------------
  totalRequests = 0
  successfulRequests = 0
  failedRequests = 0
  cancelledRequests = 0
  timeouts = 0
  acquireTimeTotal = 0
  /** Leases given back, and the sum of their durations in milliseconds (the sizing controller's hold time). */
  leasesEnded = 0
  holdTimeTotal = 0
  connectionsCreated = 0
  connectFailures = 0
  readonly closedBy: Record<CloseReason, number> = { idle: 0, lifetime: 0, unhealthy: 0, broken: 0, closed: 0 }

  constructor(
    readonly name: string,
    public min: number,
    public max: number,
    readonly maxIdleMillis: number,
    /** `circuitBreakerThreshold`; `Infinity` never opens the circuit. */
    readonly circuitBreakerThreshold: number,
    /** `maxWaiting`: callers beyond it are refused once nothing more can be opened. */
    readonly maxWaiting: number,
    readonly runtime: Runtime<A>
  ) {
    this.ceiling = max
    this.target = min
  }

  // ==== acquisition ========================================================

  /** A caller asks for a connection. False if the pool is closed: the request is counted as failed. */
  arrive(): boolean {
    this.totalRequests++
    if (!this.closed) return true
    this.failedRequests++
    return false
  }

  /** A request fails because the pool closed under it (while it waited for, or checked, its connection). */
  refuseClosed(): void {
    this.failedRequests++
  }

  /**
   * Lends a connection its caller received (idle, handed over, or checked on
   * borrow) after `waited` milliseconds: `lease` now holds it. False if
   * shutdown cut it before the caller's fiber ran: the request fails as closed.
   */
  lend(conn: Conn<A>, waited: number, lease: { released: boolean; readonly acquiredAt: number }): boolean {
    if (conn.state !== "active") {
      this.failedRequests++
      return false
    }
    conn.usageCount++
    conn.lease = lease
    this.successfulRequests++
    this.acquireTimeTotal += waited
    return true
  }

  /**
   * A caller asks for a connection: the whole decision in one synchronous step,
   * so that nothing can happen between "no idle connection" and "queued" (a
   * connection given back in such a gap would find no waiter and go idle, and a
   * second caller could pass the queue's bound too). Returns an idle connection,
   * now lent; or `waiter` (the caller's own record, with when it asked and its
   * deadline), now queued; or `undefined` when the queue is full (counted as
   * failed).
   *
   * A retrying caller (its connection failed validation on borrow) goes back
   * in arrival order: it asked before some of those now waiting.
   */
  request(waiter: PoolWaiter<A, E>, retrying: boolean, now: number): Conn<A> | PoolWaiter<A, E> | undefined {
    const conn = this.takeIdle(now)
    return conn !== undefined ? conn : this.enqueue(waiter, retrying)
  }

  /** The rest of `request` when no connection is idle (apart so that the common case stays small). */
  private enqueue(waiter: PoolWaiter<A, E>, retrying: boolean): PoolWaiter<A, E> | undefined {
    // The waiting limit applies once nothing more can be opened: a caller may always wait for a creation.
    if (this.waiters.length >= this.maxWaiting && this.open.size + this.pending >= this.max) {
      this.failedRequests++
      return undefined
    }
    if (retrying) this.waiters.insertByArrival(waiter)
    else this.waiters.pushBack(waiter)
    this.ensureCapacity(0)
    return waiter
  }

  /** The most recently used idle connection, if any; one past its lifetime is closed, never lent. */
  private takeIdle(now: number): Conn<A> | undefined {
    let conn = this.idle.pop()
    if (conn !== undefined && now >= conn.retireAt) conn = this.retireIdle(conn, now)
    if (conn !== undefined) {
      conn.state = "active"
      this.active++
    }
    return conn
  }
  /** Closes idle connections past their lifetime, from `conn` down the idle stack; the first still in time, if any. */
  private retireIdle(conn: Conn<A> | undefined, now: number): Conn<A> | undefined {
    while (conn !== undefined && now >= conn.retireAt) {
      conn.state = "active" // transient: close expects a connection out of the idle set
      this.close(conn, "lifetime")
      conn = this.idle.pop()
    }
    return conn
  }

  /**
   * The waiting caller's fiber was interrupted. If a connection reached it in
   * the meantime, the connection goes back as if released unused.
   */
  cancel(waiter: PoolWaiter<A, E>, now: number): void {
    if (waiter.settled && waiter.served === undefined) return
    this.cancelledRequests++
    if (waiter.queued) {
      this.waiters.remove(waiter)
      waiter.settled = true
      return
    }
    const conn = waiter.served
    if (conn !== undefined) {
      waiter.served = undefined
      this.release(conn, now, undefined)
    }
  }

  /** Fails a waiter (timeout, cannot connect, pool closed). */
  fail(waiter: PoolWaiter<A, E>, error: PoolError<E>): void {
    this.waiters.remove(waiter)
    waiter.settled = true
    this.countFailure(error)
    waiter.wake(error)
  }

  /** Counts a failed acquisition, waiting or not. */
  countFailure(error: PoolError<E>): void {
    this.failedRequests++
    if (error._tag === "PoolTimeoutError") this.timeouts++
  }

  // ==== return =============================================================

  /**
   * A connection comes back from its user (or from a cancelled waiter).
   * `mustClose` says it may not be reused; otherwise it goes to the oldest
   * waiter, or on top of the idle stack.
   */
  release(conn: Conn<A>, now: number, mustClose: CloseReason | undefined): void {
    // Released once: shutdown may have cut it already (a waiter served, cut, then interrupted).
    if (conn.state !== "active") return
    this.active--
    if (conn.lease !== undefined) {
      this.leasesEnded++
      this.holdTimeTotal += now - conn.lease.acquiredAt
    }
    conn.lease = undefined
    if (this.closed) this.close(conn, "closed")
    else if (mustClose !== undefined) this.close(conn, mustClose)
    else if (now >= conn.retireAt) this.close(conn, "lifetime")
    else if (this.open.size - this.closing > this.ceiling) this.close(conn, "idle")
    else this.handOffOrIdle(conn, now)
    if (this.closed) this.checkDrained()
  }

  private handOffOrIdle(conn: Conn<A>, now: number): void {
    if (this.handOff(conn)) return
    conn.state = "idle"
    conn.idleSince = now
    this.idle.push(conn)
  }

  /** Gives `conn` (out of the idle set) to the oldest waiter, now lent to it; false if none waits. */
  private handOff(conn: Conn<A>): boolean {
    const waiter = this.waiters.shift()
    if (waiter === undefined) return false
    conn.state = "active"
    this.active++
    waiter.served = conn
    waiter.settled = true
    waiter.wake(undefined)
    return true
  }

  // ==== bounds =============================================================

  /**
   * New bounds (already checked): idle connections above the new maximum close
   * now, those lent out as they come back, those being opened as they arrive.
   * The target is kept (within the new bounds) unless given: fixed sizing gives the new minimum.
   */
  resize(min: number, max: number, now: number, target: number = this.target): void {
    this.min = min
    this.max = max
    this.ceiling = max // a group lowers it again at its next rebalance
    this.target = Math.min(Math.max(target, min), max)
    for (const conn of this.idle.slice()) {
      if (this.open.size - this.closing <= this.max) break
      this.close(conn, "idle")
    }
    this.ensureCapacity(now)
  }

  /** The sizing controller moves the target (kept between `min` and `max`); a higher one opens connections now. */
  setTarget(target: number, now: number): void {
    this.target = Math.min(Math.max(target, this.min), this.max)
    this.ensureCapacity(now)
  }

  /**
   * Closes idle connections above the target that have been idle for `idleMillis` (oldest idle first):
   * the sizing controller retires them sooner than `maxIdleTime` when demand falls. Returns how many.
   */
  trimIdle(now: number, idleMillis: number): number {
    if (this.closed) return 0
    let surplus = this.open.size - this.closing - this.target
    let trimmed = 0
    for (const conn of this.idle.slice()) {
      if (surplus <= 0) break
      if (now - conn.idleSince < idleMillis) continue
      this.close(conn, "idle")
      surplus--
      trimmed++
    }
    return trimmed
  }

  // ==== creation ===========================================================

  /**
   * Requests the creations needed to serve the waiters not yet covered by one
   * in flight, and to keep `target` open; never beyond `max`, counting every open
   * connection (closing ones too) and every creation in flight.
   */
  ensureCapacity(now: number): void {
    if (this.closed) return
    if (this.circuitOpen) return this.shedWaiters()
    const live = this.open.size - this.closing
    const forMin = now >= this.refillPausedUntil ? this.target - (live + this.pending) : 0
    const forWaiters = this.waiters.length - this.pending
    const room = this.ceiling - (this.open.size + this.pending)
    const wanted = Math.min(Math.max(forMin, forWaiters), room)
    // In a group, each creation takes a permit of the shared budget before it counts as pending.
    const n = this.budget === undefined || wanted <= 0 ? wanted : this.budget.grant(wanted)
    for (let i = 0; i < n; i++) {
      this.pending++
      this.queuedCreations++
      this.runtime.requestCreation()
    }
  }

  /** A creator took a request: false if the request was dropped meanwhile (the circuit opened). */
  startCreation(): boolean {
    if (this.droppedCreations > 0) {
      this.droppedCreations--
      return false
    }
    this.queuedCreations--
    return true
  }

  /**
   * One connection attempt failed; the creation retries it only if this
   * leaves the circuit closed. True if this failure opened the circuit.
   */
  attemptFailed(error: ConnectError<E>, now: number): boolean {
    this.connectFailures++
    this.consecutiveFailures++
    this.lastConnectError = error
    if (this.circuitOpen) {
      this.circuitError = circuitErrorOf(error)
      return false
    }
    if (this.closed || !this.circuitArmed || this.consecutiveFailures < this.circuitBreakerThreshold) return false
    this.openCircuit(error, now)
    return true
  }

  /** A connection was opened. True if this closed the circuit. */
  created(conn: Conn<A>, now: number): boolean {
    this.pending--
    this.open.add(conn)
    this.connectionsCreated++
    this.lastConnectError = undefined
    this.refillPausedUntil = 0
    this.consecutiveFailures = 0
    if (this.closed) {
      this.close(conn, "closed")
      return false
    }
    // Resized down while it was being opened: the surplus closes as it arrives.
    if (this.open.size - this.closing > this.max) this.close(conn, "idle")
    else this.handOffOrIdle(conn, now)
    if (!this.circuitOpen) return false
    this.closeCircuit(now)
    return true
  }

  /**
   * A creation failed after all its attempts. The oldest waiter that no other
   * creation in flight will serve fails with the cause; refilling to the
   * minimum pauses until `pauseUntil`.
   */
  creationFailed(error: ConnectError<E>, now: number, pauseUntil: number): void {
    this.pending--
    this.lastConnectError = error
    this.refillPausedUntil = pauseUntil
    if (this.closed) {
      this.checkDrained()
      this.permitFreed(now)
      return
    }
    // While the circuit is open, ensureCapacity decides which waiters fail.
    if (!this.circuitOpen && this.waiters.length > this.pending && this.waiters.head !== undefined) {
      this.fail(this.waiters.head, error)
    }
    this.permitFreed(now)
  }

  /** A connection or creation ended: in a group, the freed permit goes to the neediest member first. */
  private permitFreed(now: number): void {
    if (this.budget !== undefined) this.budget.freed(now)
    else this.ensureCapacity(now)
  }

  // ==== circuit breaker ====================================================
  //
  // (warming up) --(make has its minimum, or gave up)--> closed, or open if the last attempts failed
  // closed --(circuitBreakerThreshold attempts failed in a row)--> open
  // open --(any connection opened: a probe, or an attempt begun before)--> closed
  // open --(the probe schedule ended)--> closed
  //
  // While open: no creation is queued (those queued are dropped, and creations in flight make no
  // further attempt), callers that would need a new connection fail at once with `circuitError`,
  // and the runtime makes one probe attempt per tick of the probe schedule.

  /**
   * The pool has warmed up: from now on the circuit may open. Until then a
   * pool starting while its database starts too waits out its creations'
   * retries instead of failing at the threshold. True if it opens now: the
   * pool started with its last `circuitBreakerThreshold` attempts failed.
   */
  armCircuit(now: number): boolean {
    this.circuitArmed = true
    if (this.closed || this.consecutiveFailures < this.circuitBreakerThreshold) return false
    this.openCircuit(this.lastConnectError!, now)
    return true
  }

  private openCircuit(error: ConnectError<E>, now: number): void {
    this.circuitOpen = true
    this.circuitOpenedAt = now
    this.circuitOpenings++
    this.circuitError = circuitErrorOf(error)
    this.droppedCreations += this.queuedCreations
    this.pending -= this.queuedCreations
    this.queuedCreations = 0
    this.shedWaiters()
  }

  private closeCircuit(now: number): void {
    this.circuitOpen = false
    this.consecutiveFailures = 0
    this.circuitError = undefined
    this.ensureCapacity(now)
  }

  /**
   * While the circuit is open nothing new is opened, so only a connection
   * coming back can serve a waiter. While any is lent out or being checked,
   * waiters stay and are served in arrival order as connections come back
   * (or time out at `acquireTimeout`), as in a pool at its maximum; with none
   * out, nothing would ever serve them, so every waiter fails at once, and so
   * does a caller that finds no idle connection.
   */
  private shedWaiters(): void {
    if (this.active + this.validating > 0) return
    while (this.waiters.length > 0) this.fail(this.waiters.tail!, this.circuitError!)
  }

  /**
   * A tick of the probe schedule: true if a probe may start now, counted as
   * a creation pending. None starts while an attempt is in flight (begun
   * before the circuit opened: it is as good as a probe) or if the pool has
   * no room.
   */
  beginProbe(): boolean {
    if (this.closed || !this.circuitOpen || this.pending > 0 || this.open.size >= this.ceiling) return false
    if (this.budget !== undefined && this.budget.grant(1) < 1) return false
    this.pending++
    return true
  }

  /** The probe schedule ended: the circuit closes without a probe, and callers' creations resume. */
  probesEnded(now: number): boolean {
    if (this.closed || !this.circuitOpen) return false
    this.closeCircuit(now)
    return true
  }

  // ==== closing ============================================================

  close(conn: Conn<A>, reason: CloseReason): void {
    if (conn.state === "closing") return
    if (conn.state === "idle") this.removeIdle(conn)
    conn.state = "closing"
    this.closing++
    if (reason === "unhealthy" || reason === "broken") {
      conn.unhealthy = true
      this.unhealthy++
    }
    this.runtime.close(conn, reason)
    // A connection lent out that will not come back may leave a waiter with nothing to wait for.
    if (this.circuitOpen && !this.closed) this.shedWaiters()
  }

  /**
   * The resource's owner learned it is gone (the server ended an idle
   * session): an idle connection is closed now, as broken, rather than at the
   * next health check or borrow. True if it was idle; a connection lent out or
   * being checked is left to its lease or its check.
   */
  discard(resource: A): boolean {
    if (this.closed) return false
    for (const conn of this.open) {
      if (conn.resource !== resource) continue
      if (conn.state !== "idle") return false
      this.close(conn, "broken")
      return true
    }
    return false
  }

  closeDone(conn: Conn<A>, reason: CloseReason, now: number): void {
    if (!this.open.delete(conn)) return
    this.closing--
    if (conn.unhealthy) this.unhealthy--
    this.closedBy[reason]++
    if (this.closed) this.checkDrained()
    // Even while shutting down: in a group, another member may be waiting for this permit.
    this.permitFreed(now)
  }

  private removeIdle(conn: Conn<A>): void {
    const i = this.idle.indexOf(conn)
    if (i >= 0) this.idle.splice(i, 1)
  }

  // ==== housekeeping =======================================================

  /**
   * Retires idle connections past their lifetime, and those idle past
   * `maxIdleTime` while more than `target` (`min` unless sized) are open (oldest idle first), then
   * refills. Returns when the next one of these can be due.
   */
  sweep(now: number): number {
    if (this.closed) return Number.POSITIVE_INFINITY
    let surplus = this.open.size - this.closing - this.target
    let next = Number.POSITIVE_INFINITY
    for (const conn of this.idle.slice()) {
      if (now >= conn.retireAt) {
        this.close(conn, "lifetime")
        surplus--
      } else if (surplus > 0 && now - conn.idleSince >= this.maxIdleMillis) {
        this.close(conn, "idle")
        surplus--
      } else {
        next = Math.min(next, conn.retireAt)
        // Already past its idle time but kept for the minimum: nothing is due for it until that changes,
        // and the runtime's cap on the sweep's sleep covers the change.
        const idleDue = conn.idleSince + this.maxIdleMillis
        if (idleDue > now) next = Math.min(next, idleDue)
      }
    }
    // A connection lent out now may come back idle before its retirement: plan for it too.
    for (const conn of this.open) {
      if (conn.state !== "idle" && conn.state !== "closing" && conn.retireAt > now) next = Math.min(next, conn.retireAt)
    }
    this.ensureCapacity(now)
    if (this.refillPausedUntil > now && this.open.size - this.closing + this.pending < this.target) {
      next = Math.min(next, this.refillPausedUntil)
    }
    return next
  }

  /** Takes an idle connection out for a health check; false if it is no longer idle. */
  takeForCheck(conn: Conn<A>): boolean {
    if (conn.state !== "idle") return false
    this.removeIdle(conn)
    conn.state = "validating"
    this.validating++
    return true
  }

  /**
   * A caller took an idle connection and checks it before use (validate on
   * borrow): until the check ends it counts as validating, not active.
   */
  beginBorrowCheck(conn: Conn<A>): void {
    conn.state = "validating"
    this.active--
    this.validating++
  }

  /**
   * The check on borrow ended (`healthy` or not). False if shutdown cut the
   * connection during the check: the caller does not get it, and fails as closed.
   */
  endBorrowCheck(conn: Conn<A>, healthy: boolean, now: number): boolean {
    this.validating--
    if (conn.state === "closing") {
      this.failedRequests++
      this.checkDrained()
      return false
    }
    conn.state = "active"
    this.active++
    if (healthy) conn.lastValidatedAt = now
    return true
  }

  /**
   * The caller was interrupted during its check on borrow: the check's query
   * may still be running, so the connection goes (broken), and the request
   * counts as cancelled.
   */
  cancelDuringCheck(conn: Conn<A>, now: number): void {
    this.cancelledRequests++
    this.release(conn, now, "broken")
  }

  /** A health check ended: a healthy connection goes back where it was in the idle order. */
  checked(conn: Conn<A>, healthy: boolean, now: number): void {
    this.validating--
    if (conn.state === "closing") {
      // Cut by shutdown during the check.
      this.checkDrained()
      return
    }
    conn.state = "active" // transient: close and hand-off expect a connection out of the idle set
    if (this.closed) {
      this.close(conn, "closed")
      this.checkDrained()
      return
    }
    if (!healthy) {
      this.close(conn, "unhealthy")
      return
    }
    conn.lastValidatedAt = now
    if (this.handOff(conn)) return
    conn.state = "idle"
    let i = 0
    while (i < this.idle.length && this.idle[i]!.idleSince <= conn.idleSince) i++
    this.idle.splice(i, 0, conn)
  }

  // ==== shutdown ===========================================================

  /** Stops the pool: returns the waiters to fail and closes every idle connection. */
  shutdown(): Array<PoolWaiter<A, E>> {
    this.closed = true
    const waiters: Array<PoolWaiter<A, E>> = []
    for (let w = this.waiters.head; w !== undefined; w = w.next) waiters.push(w)
    for (const conn of this.idle.slice()) this.close(conn, "closed")
    this.checkDrained()
    return waiters
  }

  /**
   * After the grace period: connections still lent are closed under their
   * users, and those still being checked are closed under the check (which
   * then finds them closing).
   */
  cutLeases(): void {
    for (const conn of this.open) {
      if (conn.state === "active") {
        if (conn.lease !== undefined) conn.lease.released = true
        conn.lease = undefined
        this.active--
        this.close(conn, "closed")
      } else if (conn.state === "validating") {
        this.close(conn, "closed")
      }
    }
    this.checkDrained()
  }

  /** The creators are stopped: creations queued or in flight will never complete. */
  abandonCreations(): void {
    this.pending = 0
    this.checkDrained()
  }

  private checkDrained(): void {
    if (this.active === 0 && this.validating === 0) this.runtime.leasesReturned()
    if (this.open.size === 0 && this.pending === 0) this.runtime.allClosed()
  }

  // ==== observation ========================================================

  snapshot(): PoolStats {
    const total = this.open.size
    return {
      name: this.name,
      minConnections: this.min,
      maxConnections: this.max,
      targetConnections: this.target,
      ceilingConnections: Math.min(this.ceiling, this.max),
      totalConnections: total,
      activeConnections: this.active,
      idleConnections: this.idle.length,
      validatingConnections: this.validating,
      closingConnections: this.closing,
      pendingConnections: this.pending,
      waitingRequests: this.waiters.length,
      totalRequests: this.totalRequests,
      successfulRequests: this.successfulRequests,
      failedRequests: this.failedRequests,
      cancelledRequests: this.cancelledRequests,
      timeouts: this.timeouts,
      averageAcquireTime: this.successfulRequests === 0 ? 0 : this.acquireTimeTotal / this.successfulRequests,
      healthyConnections: total - this.unhealthy,
      unhealthyConnections: this.unhealthy,
      connectionsCreated: this.connectionsCreated,
      connectionsClosed: { ...this.closedBy },
      connectFailures: this.connectFailures,
      circuitState: this.circuitOpen ? "open" : "closed"
    }
  }
}

const circuitErrorOf = <E>(error: ConnectError<E>): ConnectError<E> =>
  new ConnectError<E>({
    pool: error.pool,
    attempts: error.attempts,
    reason: error.reason,
    cause: error.cause,
    timeout: error.timeout,
    circuitOpen: true
  })

export type { Waiter }
