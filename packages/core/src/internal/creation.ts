/**
 * Opening and closing connections. `maxConnecting` creator fibers serve a
 * queue of creation requests (the state asks for them in `ensureCapacity`);
 * each creation attempts on the retry schedule, every attempt in a fiber of
 * its own bounded by `connectTimeout`. While the circuit breaker is open, a
 * prober makes one attempt per tick of its schedule instead.
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import type * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"
import type * as PoolConfig from "../PoolConfig.js"
import { ConnectError } from "../PoolError.js"
import { PoolEvent } from "../PoolEvent.js"
import type { CloseReason } from "../PoolStats.js"
import type { PoolContext, Restore } from "./context.js"
import { millis } from "./context.js"
import { Conn } from "./state.js"

/**
 * How one connection attempt failed. "Interrupted": `acquire` ended with an interruption of its own
 * (nobody interrupted it), a failed attempt like any other.
 */
type Attempt<E> =
  | { readonly _tag: "Failed"; readonly error: E }
  | { readonly _tag: "Timeout" }
  | { readonly _tag: "Interrupted"; readonly cause: Cause.Cause<never> }

export interface CreationOptions<A, E> {
  /** `acquire`, its context already provided. */
  readonly acquire: Effect.Effect<A, E>
  readonly release: (resource: A) => Effect.Effect<unknown>
  readonly retryable: (error: E) => boolean
}

export interface Creation<A, E> {
  /** Queues one creation request (the state already counted it as pending). */
  readonly request: () => void
  /** Closes a connection, then tells the state and subscribers. */
  readonly close: (conn: Conn<A>, reason: CloseReason) => Effect.Effect<void>
  /** One creator fiber's loop. */
  readonly creator: Effect.Effect<never>
  /** The prober's loop; undefined when the circuit breaker is off. */
  readonly prober: Effect.Effect<never> | undefined
  /**
   * Opens `minConnections` before the pool is handed out, then arms the circuit
   * breaker. Fails with the last connection error if not one could be opened.
   */
  readonly warmUp: Effect.Effect<void, ConnectError<E>>
}

const connectError = <E>(
  name: string,
  connectTimeout: Duration.Duration,
  failure: Attempt<E>,
  attempts: number
) =>
  new ConnectError<E>({
    pool: name,
    attempts,
    reason: failure._tag === "Timeout" ? "timeout" : "failed",
    cause: failure._tag === "Failed"
      ? failure.error
      : failure._tag === "Interrupted"
      ? Cause.squash(failure.cause) as E
      : undefined,
    timeout: failure._tag === "Timeout" ? connectTimeout : undefined
  })

/**
 * One connection attempt in a fiber of its own, bounded by `connectTimeout`.
 */
const makeAttempt = <A, E>(ctx: PoolContext<A, E>, options: CreationOptions<A, E>) => {
  const { config, name } = ctx
  const { acquire } = options
  const releaseResource = options.release
  // Each attempt runs `acquire` alone in a fiber of its own, and the creator waits for that fiber with
  // connectTimeout. Whatever stops the wait (the timeout, or shutdown stopping the creator), the fiber's
  // outcome is still there to look at: a connection that opened at that very moment is used or closed,
  // never lost. (A timeout wrapped around `acquire` itself would drop a value that arrives as it fires.)
  const closeQuietly = (resource: A) =>
    releaseResource(resource).pipe(
      Effect.timeout(config.connectTimeout),
      Effect.catchAllCause((cause) =>
        Effect.logWarning(`dbpool: closing a connection opened during shutdown of pool "${name}" failed`, cause)
      )
    )
  const attemptOnce: Effect.Effect<A, Attempt<E>> = Effect.mapError(
    acquire,
    (error): Attempt<E> => ({ _tag: "Failed", error })
  )
  const timedOut: Exit.Exit<A, Attempt<E>> = Exit.fail({ _tag: "Timeout" })
  const attemptInFiber = (restore: Restore): Effect.Effect<Exit.Exit<A, Attempt<E>>> =>
    // Forked from an uninterruptible region, the attempt would inherit it and could not be stopped.
    Effect.flatMap(Effect.forkDaemon(Effect.interruptible(attemptOnce)), (fiber) =>
      restore(
        Effect.timeoutTo(Fiber.await(fiber), {
          duration: config.connectTimeout,
          // An attempt that ended interrupted, though we did not interrupt it, interrupted itself.
          onSuccess: (exit) =>
            Effect.succeed(
              Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)
                ? Exit.fail<Attempt<E>>({ _tag: "Interrupted", cause: exit.cause as Cause.Cause<never> })
                : exit
            ),
          onTimeout: () => Effect.map(Fiber.interrupt(fiber), (exit) => Exit.isSuccess(exit) ? exit : timedOut)
        })
      ).pipe(
        Effect.flatten,
        Effect.onInterrupt(() =>
          Effect.flatMap(
            Fiber.interrupt(fiber),
            (exit) => Exit.isSuccess(exit) ? closeQuietly(exit.value) : Effect.void
          )
        )
      ))
  return attemptInFiber
}

/** Announces the circuit breaker's transitions (log and event), and opens or closes the latch that wakes the prober. */
const makeCircuitAnnouncer = <A, E>(ctx: PoolContext<A, E>, circuitLatch: Effect.Latch) => {
  const { config, events, name, state } = ctx
  const probeEvery = config.circuitBreakerSchedule === undefined
    ? `every ${Duration.format(config.circuitBreakerProbeInterval)}`
    : "on circuitBreakerSchedule"
  const circuitOpened = (error: ConnectError<E>): Effect.Effect<void> => {
    circuitLatch.unsafeOpen()
    const failures = state.consecutiveFailures
    const log = Effect.logWarning(
      `dbpool: pool "${name}" opened its circuit breaker after ${failures} consecutive failed connection ` +
        `attempts: acquisitions that need a new connection fail at once until a probe connects (one attempt ` +
        `${probeEvery}). Last error: ${error.message}`
    )
    return events.after(
      log,
      () => PoolEvent.CircuitOpened({ failures, cause: error.reason === "timeout" ? "timeout" : error.cause })
    )
  }
  const circuitClosed = (t: number, why: string): Effect.Effect<void> => {
    circuitLatch.unsafeClose()
    const duration = t - state.circuitOpenedAt
    const log = Effect.logInfo(
      `dbpool: pool "${name}" closed its circuit breaker after ${duration} ms: ${why}; connecting as usual again`
    )
    return events.after(log, () => PoolEvent.CircuitClosed({ duration }))
  }
  return { circuitOpened, circuitClosed }
}

/** Closes a connection, then tells the state and subscribers. */
const makeClose = <A, E>(ctx: PoolContext<A, E>, release: (resource: A) => Effect.Effect<unknown>) => {
  const { config, events, name, now, state } = ctx
  return (conn: Conn<A>, reason: CloseReason): Effect.Effect<void> =>
    release(conn.resource).pipe(
      Effect.timeout(config.connectTimeout),
      Effect.catchAllCause((cause) =>
        Effect.logWarning(`dbpool: closing connection ${conn.id} of pool "${name}" failed`, cause)
      ),
      Effect.zipRight(Effect.suspend(() => {
        state.closeDone(conn, reason, now())
        return events.emit(() => PoolEvent.ConnectionClosed({ connectionId: conn.id, reason }))
      }))
    )
}

/** What opening a connection needs besides the context: the parts built by `makeCreation`. */
interface Opening<A, E> {
  readonly random: Random.Random
  readonly attemptInFiber: (restore: Restore) => Effect.Effect<Exit.Exit<A, Attempt<E>>>
  readonly circuitOpened: (error: ConnectError<E>) => Effect.Effect<void>
  /** Open while the circuit is: wakes the creations waiting to retry, and the prober. */
  readonly circuitLatch: Effect.Latch
}

/** `retrySchedule`, or else exponential from `retryInterval`, jittered, for `maxRetries` retries. */
const retryScheduleOf = (config: PoolConfig.PoolConfig): Schedule.Schedule<unknown, unknown> =>
  config.retrySchedule ??
    Schedule.exponential(config.retryInterval).pipe(
      Schedule.jittered,
      Schedule.intersect(Schedule.recurs(config.maxRetries))
    )

/**
 * Opens one connection: attempts on the retry schedule until one succeeds, the schedule ends, the
 * error is not retryable, or the pool closes. Runs uninterruptibly but for the waits (`restore`), so a
 * connection once opened is always either counted or closed.
 */
const makeOpen = <A, E>(ctx: PoolContext<A, E>, options: CreationOptions<A, E>, opening: Opening<A, E>) => {
  const { config, events, metrics, name, now, state } = ctx
  const { attemptInFiber, circuitLatch, circuitOpened, random } = opening
  const { retryable } = options
  const lifetimeMillis = millis(config.maxLifetime)
  const jitterMillis = millis(config.lifetimeJitter)
  const circuitBreakerOn = Number.isFinite(config.circuitBreakerThreshold)
  const retrySchedule = retryScheduleOf(config)
  let sequence = 0

  const opened = (resource: A, start: number, attempts: number): Effect.Effect<Conn<A>> =>
    Effect.map(random.next, (r) => {
      const createdAt = now()
      metrics.createTime.update((createdAt - start) / 1000)
      const retireAt = createdAt + lifetimeMillis - r * jitterMillis
      return new Conn(`${name}-${++sequence}`, resource, createdAt, retireAt, attempts, createdAt - start)
    })

  /** Known at once (the state's last connection error), so that a caller timing out while retries go on is told why. */
  const attemptFailed = (failure: Attempt<E>, attempts: number): Effect.Effect<ConnectError<E>> => {
    const error = connectError(name, config.connectTimeout, failure, attempts)
    const circuitOpens = state.attemptFailed(error, now())
    const announced = events.emit(() =>
      PoolEvent.ConnectFailed({
        attempt: attempts,
        cause: failure._tag === "Timeout"
          ? "timeout"
          : failure._tag === "Failed"
          ? failure.error
          : Cause.squash(failure.cause)
      })
    )
    // circuitOpened opens the latch as it is called: only once the failure has been announced.
    const announcedAll = circuitOpens
      ? Effect.zipRight(announced, Effect.suspend(() => circuitOpened(error)))
      : announced
    return Effect.as(announcedAll, error)
  }

  return (restore: Restore): Effect.Effect<Conn<A>, ConnectError<E>> =>
    Effect.gen(function*() {
      const driver = yield* Schedule.driver(retrySchedule)
      const start = now()
      let attempts = 0
      while (true) {
        attempts++
        const exit = yield* attemptInFiber(restore)
        if (Exit.isSuccess(exit)) return yield* opened(exit.value, start, attempts)
        const failureOption = Cause.failureOption(exit.cause)
        if (failureOption._tag === "None") return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
        const failure = failureOption.value
        const error = yield* attemptFailed(failure, attempts)
        // While the circuit is open only probes connect, one attempt each.
        if (state.closed || state.circuitOpen || (failure._tag === "Failed" && !retryable(failure.error))) {
          return yield* Effect.fail(error)
        }
        // A creation waiting to retry when the circuit opens makes no further attempt, and fails at once.
        const delay = circuitBreakerOn
          ? Effect.raceFirst(driver.next(failure), circuitLatch.await)
          : driver.next(failure)
        const next = yield* Effect.either(restore(delay))
        if (next._tag === "Left" || state.circuitOpen) return yield* Effect.fail(error)
      }
    })
}

/** Warm-up in progress: every settled creation checks whether the last pending one is done. */
interface Warming {
  on: boolean
  readonly done: Effect.Latch
}

/** Tells the state how a creation ended (a probe is one too), then subscribers. */
const makeSettle = <A, E>(
  ctx: PoolContext<A, E>,
  circuitClosed: (t: number, why: string) => Effect.Effect<void>,
  warming: Warming
) => {
  const { config, events, name, now, state } = ctx
  const refillPauseMillis = Math.max(millis(config.retryInterval), 1000)
  return (exit: Exit.Exit<Conn<A>, ConnectError<E>>): Effect.Effect<unknown> => {
    const t = now()
    let event: Effect.Effect<unknown> = Effect.void
    if (Exit.isSuccess(exit)) {
      const conn = exit.value
      const closedCircuit = state.created(conn, t)
      event = events.emit(() =>
        PoolEvent.ConnectionCreated({ connectionId: conn.id, createTime: conn.createTime, attempts: conn.attempts })
      )
      if (closedCircuit) {
        event = Effect.zipRight(event, circuitClosed(t, "a connection was opened"))
      }
    } else if (!Cause.isInterruptedOnly(exit.cause)) {
      const failure = Cause.failureOption(exit.cause)
      const error = failure._tag === "Some"
        ? failure.value
        : new ConnectError<E>({ pool: name, attempts: 1, reason: "failed", cause: Cause.squash(exit.cause) as E })
      state.creationFailed(error, t, t + refillPauseMillis)
    }
    if (warming.on && state.pending === 0) {
      warming.done.unsafeOpen()
    }
    return event
  }
}

/** Sleeps until the circuit opens, then probes on a fresh run of the schedule until it closes. */
const makeProber = <A, E>(
  ctx: PoolContext<A, E>,
  circuitLatch: Effect.Latch,
  probeOnce: Effect.Effect<unknown>,
  circuitClosed: (t: number, why: string) => Effect.Effect<void>
): Effect.Effect<never> => {
  const { config, now, state } = ctx
  const probeSchedule: Schedule.Schedule<unknown, unknown> = config.circuitBreakerSchedule ??
    Schedule.spaced(config.circuitBreakerProbeInterval)
  return Effect.gen(function*() {
    while (true) {
      yield* circuitLatch.await
      const opening = state.circuitOpenings
      const driver = yield* Schedule.driver(probeSchedule)
      while (state.circuitOpen && state.circuitOpenings === opening) {
        const tick = yield* Effect.either(driver.next(undefined))
        if (!state.circuitOpen || state.circuitOpenings !== opening) break
        if (tick._tag === "Left") {
          const t = now()
          if (state.probesEnded(t)) yield* circuitClosed(t, "its probe schedule ended")
          break
        }
        if (state.beginProbe()) yield* probeOnce
      }
    }
  })
}

/** Opens `minConnections` before the pool is handed out, then arms the circuit breaker. */
const makeWarmUp = <A, E>(
  ctx: PoolContext<A, E>,
  warming: Warming,
  circuitOpened: (error: ConnectError<E>) => Effect.Effect<void>
): Effect.Effect<void, ConnectError<E>> => {
  const { config, now, state } = ctx
  return Effect.gen(function*() {
    if (config.minConnections > 0) {
      warming.on = true
      state.ensureCapacity(now())
      // In a group whose budget is held by the other members, nothing may be granted yet: the pool starts
      // with what it got, and opens the rest as permits come back.
      if (state.pending > 0) yield* warming.done.await
      warming.on = false
      if (state.open.size === 0 && state.lastConnectError !== undefined) {
        return yield* Effect.fail(state.lastConnectError)
      }
    }
    if (state.armCircuit(now())) yield* circuitOpened(state.lastConnectError!)
  })
}

export const makeCreation = <A, E>(
  ctx: PoolContext<A, E>,
  options: CreationOptions<A, E>
): Effect.Effect<Creation<A, E>> =>
  Effect.gen(function*() {
    const { config, state } = ctx
    const random = yield* Effect.random
    const requests = yield* Queue.unbounded<void>()
    const warming: Warming = { on: false, done: yield* Effect.makeLatch(false) }
    const circuitLatch = yield* Effect.makeLatch(false)
    const { circuitClosed, circuitOpened } = makeCircuitAnnouncer(ctx, circuitLatch)
    const attemptInFiber = makeAttempt(ctx, options)
    const openConnection = makeOpen(ctx, options, { attemptInFiber, circuitLatch, circuitOpened, random })
    const settleCreation = makeSettle(ctx, circuitClosed, warming)

    const serveOneRequest = Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(
        restore(Queue.take(requests)),
        // A request dropped when the circuit opened is skipped: the state no longer counts it.
        () => state.startCreation() ? Effect.flatMap(Effect.exit(openConnection(restore)), settleCreation) : Effect.void
      )
    )
    /** One probe: a creation made while the circuit is open, so it makes a single attempt. */
    const probeOnce = Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(Effect.exit(openConnection(restore)), settleCreation)
    )

    return {
      request: () => requests.unsafeOffer(undefined),
      close: makeClose(ctx, options.release),
      creator: Effect.forever(serveOneRequest),
      prober: Number.isFinite(config.circuitBreakerThreshold)
        ? makeProber(ctx, circuitLatch, probeOnce, circuitClosed)
        : undefined,
      warmUp: makeWarmUp(ctx, warming, circuitOpened)
    }
  })
