/**
 * Statements outside transactions sharing connections, up to `maxInFlight` in flight on each (pipelined).
 *
 * The pipeline borrows connections from the pool like any caller (each is one lease: one active connection
 * in the pool's statistics, however many statements ride on it) and turns each into a lane (pipelineLane.ts).
 * A statement goes to the least loaded lane with room; a new lane is borrowed when every lane is busy and
 * the pool may lend more; with no room anywhere it waits, first come first served, bounded by the pool's
 * `acquireTimeout`. Lanes go back to the pool when idle, and as soon as the pool has callers waiting
 * (transactions, `reserve`, `withConnection`), so sharing never starves them.
 *
 * A statement cannot be taken back once sent: a caller who gives up (interruption, `queryTimeout`) is
 * answered at once, and its statement's answer is read and dropped when it comes. Cancelling it on the
 * server (the protocol's cancel request) would stop whatever the backend runs at that moment, so the cancel
 * is sent only while every statement in flight on that connection was given up: then it can hurt no caller.
 */
import { PoolClosedError, PoolTimeoutError } from "@dbpool/core/PoolError"
import type { PoolStats } from "@dbpool/core/PoolStats"
import type * as ResourcePool from "@dbpool/core/ResourcePool"
import type { Connector } from "@dbpool/sql/Connector"
import type * as Pool from "@dbpool/sql/Pool"
import type { PooledConnection } from "@dbpool/sql/PooledConnection"
import type { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import type Pg from "pg"
import * as PipelineCancel from "./pipelineCancel.js"
import type { PipelineConfig } from "./pipelineConfig.js"
import * as Errors from "./pipelineErrors.js"
import * as Housekeeping from "./pipelineHousekeeping.js"
import type { LaneOwner } from "./pipelineLane.js"
import { Lane } from "./pipelineLane.js"
import * as PipelineRunner from "./pipelineRunner.js"
import type { Shape } from "./pipelineStatement.js"
import { PipelinedStatement } from "./pipelineStatement.js"

type PgLease = ResourcePool.Lease<PooledConnection<Pg.Client>>

/** What a lane holds: the pool's lease, the scope that gives it back, the driver's client. */
interface Hold {
  readonly lease: PgLease
  readonly scope: Scope.CloseableScope
  readonly native: Pg.Client
}

/** A statement waiting for room; `lane` is set once a slot is promised to it. */
interface Waiter {
  resume: ((effect: Effect.Effect<PipelineLane, SqlError>) => void) | undefined
  lane: PipelineLane | undefined
  /** When it began to wait (the clock's milliseconds). */
  since: number
}

type PipelineLane = Lane<Hold>

export class Pipeline implements LaneOwner<Hold> {
  /** Set when the pipeline's scope closes: statements take the pool's usual way from then on. */
  closed = false
  private readonly lanes: Array<PipelineLane> = []
  private readonly waiters: Array<Waiter> = []
  private readonly watched = new Set<PipelineLane>()
  private opening = 0
  private maxLanes: number
  private readonly acquireTimeout: Duration.Duration

  constructor(
    private readonly pool: Pool.Pool<Pg.Client>,
    private readonly connector: Connector<Pg.Client, unknown>,
    private readonly maxInFlight: number,
    private readonly runFork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.RuntimeFiber<A, E>,
    private readonly now: () => number
  ) {
    const config = pool.config
    this.maxLanes = config.maxConnections
    this.acquireTimeout = config.acquireTimeout
  }

  /** Runs one statement on a shared connection. */
  run(sql: string, params: ReadonlyArray<unknown>, shape: Shape): Effect.Effect<unknown, SqlError> {
    return Effect.suspend(() => {
      let statement: PipelinedStatement
      try {
        statement = new PipelinedStatement(sql, params, shape)
      } catch (error) {
        return Effect.fail(Errors.statementError(error, this.connector.isConnectionError))
      }
      return this.dispatch(statement)
    })
  }

  private dispatch(statement: PipelinedStatement): Effect.Effect<unknown, SqlError> {
    if (this.closed) return Effect.fail(Errors.fromPool(new PoolClosedError({ pool: this.pool.config.name })))
    if (this.waiters.length === 0) {
      const lane = this.pick()
      if (lane !== undefined) {
        if (lane.load > 0) this.grow()
        return this.onLane(lane, statement)
      }
    }
    this.grow()
    return this.queued(statement)
  }

  /**
   * Whether a lane takes new statements: not while it drains, nor while it carries a statement whose caller
   * gave up (it may run long, and a statement sent behind it would both wait for it and forbid its cancel).
   */
  private open(lane: PipelineLane): boolean {
    return !lane.draining && !lane.closed && lane.abandonedCount === 0
  }

  /** The least loaded lane with room. */
  private pick(): PipelineLane | undefined {
    let best: PipelineLane | undefined = undefined
    for (const lane of this.lanes) {
      if (!this.open(lane) || lane.load >= this.maxInFlight) continue
      if (best === undefined || lane.load < best.load) best = lane
    }
    return best
  }

  /** Sends the statement on `lane`; the caller waits for its answer, bounded by `queryTimeout`. */
  private onLane(lane: PipelineLane, statement: PipelinedStatement): Effect.Effect<unknown, SqlError> {
    const answer = Effect.async<unknown, SqlError>((resume) => {
      statement.resume = (error, value) =>
        resume(
          error === undefined
            ? Effect.succeed(value)
            : Effect.fail(Errors.statementError(error, this.connector.isConnectionError))
        )
      lane.send(statement)
      return Effect.sync(() => lane.abandon(statement))
    })
    const timeout = this.connector.queryTimeout
    if (timeout === undefined) return answer
    return Effect.timeoutFail(answer, {
      duration: timeout,
      onTimeout: () => {
        // As without pipelining, a connection that ran a statement past queryTimeout is closed, once drained.
        lane.dirty = true
        return Errors.timedOut(timeout)
      }
    })
  }

  /** Waits for a slot (first come, first served), then sends the statement there. */
  private queued(statement: PipelinedStatement): Effect.Effect<unknown, SqlError> {
    const waiter: Waiter = { resume: undefined, lane: undefined, since: 0 }
    // Bounded by `acquireTimeout` in `housekeeping` (one timer for all waiters, not one each).
    const wait = Effect.async<PipelineLane, SqlError>((resume) => {
      waiter.resume = resume
      waiter.since = this.now()
      this.waiters.push(waiter)
      return Effect.sync(() => this.leave(waiter))
    })
    const sent = Effect.flatMap(wait, (lane) => {
      waiter.lane = undefined
      lane.promised--
      // The lane closed or began draining since the slot was promised: another one.
      return this.open(lane) ? this.onLane(lane, statement) : this.dispatch(statement)
    })
    // Interrupted after the slot was promised and before the statement took it: the slot goes to the next.
    return Effect.onInterrupt(sent, () => Effect.sync(() => this.leave(waiter)))
  }

  /** Whether the oldest wait for room has reached `acquireTimeout`. */
  private expiring(): boolean {
    return this.waiters.length > 0 && this.now() - this.waiters[0]!.since >= Duration.toMillis(this.acquireTimeout)
  }

  /**
   * Waits for room end at `acquireTimeout` with the pool's own error, as a wait for a connection does: with
   * the leases held then (the lanes' connections among them).
   */
  private expire(stats: PoolStats, leases: ReadonlyArray<ResourcePool.LeaseInfo>): void {
    const timeout = Duration.toMillis(this.acquireTimeout)
    const now = this.now()
    while (this.waiters.length > 0 && now - this.waiters[0]!.since >= timeout) {
      const error = new PoolTimeoutError({ pool: this.pool.config.name, timeout: this.acquireTimeout, stats, leases })
      this.waiters.shift()!.resume!(Effect.fail(Errors.fromPool(error)))
    }
  }

  private leave(waiter: Waiter): void {
    const index = this.waiters.indexOf(waiter)
    if (index >= 0) this.waiters.splice(index, 1)
    const lane = waiter.lane
    if (lane === undefined) return
    waiter.lane = undefined
    lane.promised--
    this.answered(lane)
  }

  /** Promises the lane's free slots to the oldest waiters. */
  private serve(lane: PipelineLane): void {
    while (this.waiters.length > 0 && this.open(lane) && lane.load < this.maxInFlight) {
      const waiter = this.waiters.shift()!
      waiter.lane = lane
      lane.promised++
      waiter.resume!(Effect.succeed(lane))
    }
  }

  private failWaiters(error: SqlError): void {
    for (const waiter of this.waiters.splice(0)) waiter.resume!(Effect.fail(error))
  }

  /** Borrows one more connection for a lane, one at a time, up to the pool's maximum. */
  private grow(): void {
    if (this.closed || this.opening > 0 || this.lanes.length >= this.maxLanes) return
    this.opening++
    this.runFork(this.borrow)
  }

  private readonly borrow: Effect.Effect<void> = Effect.suspend(() => {
    const scope = Effect.runSync(Scope.make())
    return Effect.flatMap(Effect.exit(Scope.extend(this.pool.get, scope)), (exit) => {
      this.opening--
      if (Exit.isFailure(exit)) {
        // Nothing to wait for: the waiters fail with the pool's error (timeout, closed, cannot connect).
        if (this.lanes.length === 0) this.failWaiters(Errors.fromPool(Cause.squash(exit.cause)))
        return Scope.close(scope, exit)
      }
      const lease = exit.value
      const native = lease.resource.native
      const usable = Lane.usable(native)
      if (this.closed || !usable) {
        if (!this.closed && this.waiters.length > 0) this.grow()
        return Effect.zipRight(usable ? Effect.void : this.pool.invalidate(lease), Scope.close(scope, Exit.void))
      }
      this.maxLanes = this.pool.config.maxConnections
      const lane: PipelineLane = new Lane(native, { lease, scope, native }, this, this.now())
      this.lanes.push(lane)
      this.serve(lane)
      // More waiting than this lane could take: another one.
      if (this.waiters.length > 0) this.grow()
      return Effect.void
    })
  })

  // ---- what lanes report ----------------------------------------------------------------------------

  answered(lane: PipelineLane): void {
    if (lane.closed) return
    if (lane.load === 0 && (lane.draining || this.closed)) return this.release(lane)
    this.serve(lane)
  }

  lost(lane: PipelineLane): void {
    this.remove(lane)
    this.runFork(Effect.zipRight(this.pool.invalidate(lane.lease.lease), Scope.close(lane.lease.scope, Exit.void)))
    if (this.waiters.length > 0) this.grow()
  }

  abandoned(lane: PipelineLane): void {
    if (this.watched.has(lane)) return
    this.watched.add(lane)
    this.runFork(Effect.zipRight(
      PipelineCancel.watch(lane, this.now),
      Effect.sync(() => {
        this.watched.delete(lane)
        if (lane.abandonedCount > 0 && !lane.closed) this.abandoned(lane)
      })
    ))
  }

  // ---- giving connections back --------------------------------------------------------------------------

  private remove(lane: PipelineLane): void {
    const index = this.lanes.indexOf(lane)
    if (index >= 0) this.lanes.splice(index, 1)
  }

  private release(lane: PipelineLane): void {
    // Mid-read, the parser may hold the start of a message that follows: decided once the read is done.
    if (lane.reading) return lane.afterRead()
    this.remove(lane)
    const reusable = lane.giveBack()
    const { lease, scope } = lane.lease
    this.runFork(Effect.zipRight(reusable ? Effect.void : this.pool.invalidate(lease), Scope.close(scope, Exit.void)))
    if (this.waiters.length > 0) this.grow()
  }

  /** Ends waits for room past `acquireTimeout`; gives lanes back (pipelineHousekeeping.ts). */
  readonly housekeeping: Effect.Effect<never> = Effect.sleep(Housekeeping.interval).pipe(
    Effect.zipRight(
      Effect.suspend(() =>
        this.lanes.length === 0 && this.waiters.length === 0 ? Effect.void : Effect.map(
          // Who holds the connections is listed only when a wait has run out.
          Effect.zip(this.pool.stats, this.expiring() ? this.pool.leases : Effect.succeed([])),
          ([stats, leases]) => {
            this.expire(stats, leases)
            this.lookOver(stats)
          }
        )
      )
    ),
    Effect.forever
  )

  private lookOver(stats: PoolStats): void {
    // The pipeline's own request for a lane may be among the waiters.
    const release = Housekeeping.lookOver(this.lanes, stats.waitingRequests - this.opening, this.now())
    for (const lane of release) this.release(lane)
  }

  /**
   * Closing: waiters fail as the pool's would; lanes drain, bounded by `shutdownTimeout`; statements still in
   * flight then fail (a lost connection, as when the pool cuts a lease) and are cancelled on the server one
   * after the other, so no backend goes on running them; what is left after the cancels' bound is closed.
   */
  readonly shutdown: Effect.Effect<void> = Effect.suspend(() => {
    this.closed = true
    this.failWaiters(Errors.fromPool(new PoolClosedError({ pool: this.pool.config.name })))
    for (const lane of [...this.lanes]) {
      lane.draining = true
      if (lane.load === 0) this.release(lane)
    }
    const cause = new Error("Connection terminated: the pool closed with this statement running")
    return this.drained(this.pool.config.shutdownTimeout).pipe(
      Effect.zipRight(Effect.suspend(() => {
        for (const lane of [...this.lanes]) lane.cut(cause)
        return this.drained(Duration.sum(Duration.millis(PipelineCancel.cancelBound), "500 millis"))
      })),
      Effect.zipRight(Effect.sync(() => {
        for (const lane of [...this.lanes]) lane.destroy(cause)
      }))
    )
  })

  /** Waits, at most `bound`, until no lane is left. Interruptible inside: finalizers run uninterruptibly. */
  private drained(bound: Duration.DurationInput): Effect.Effect<void> {
    const poll: Effect.Effect<void> = Effect.suspend(() =>
      this.lanes.length === 0 ? Effect.void : Effect.zipRight(Effect.sleep("5 millis"), poll)
    )
    return Effect.interruptible(poll).pipe(Effect.timeout(bound), Effect.ignore)
  }
}

/**
 * The pipeline of a pool, for `Pool.makeClient`'s `statements`: it lives in the current scope; closing the
 * scope drains it and gives its connections back.
 */
export const make = (
  pool: Pool.Pool<Pg.Client>,
  connector: Connector<Pg.Client, unknown>,
  config: PipelineConfig
): Effect.Effect<(exclusive: Pool.StatementRunner) => Pool.StatementRunner, never, Scope.Scope> =>
  Effect.gen(function*() {
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const clock = yield* Effect.clock
    const pipeline = new Pipeline(pool, connector, config.maxInFlight, runFork, () => clock.unsafeCurrentTimeMillis())
    const housekeeping = yield* Effect.forkDaemon(pipeline.housekeeping)
    yield* Effect.addFinalizer(() => Effect.zipRight(Fiber.interrupt(housekeeping), pipeline.shutdown))
    return PipelineRunner.runner(pipeline)
  })
