/**
 * The pool's events: recorded only while someone subscribes, and delivered in
 * batches. An event is appended to a plain array as it happens (built then,
 * so its times are those of that moment); the first one of a batch schedules
 * one delivery, which publishes the whole batch to the subscribers' PubSub
 * at once. Publishing each event on its own woke every subscriber once per
 * event, and cost an `observed` pool half its throughput (measured); a batch
 * wakes them once. A pool nobody observes pays one comparison per event.
 */
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { PoolEvent } from "../PoolEvent.js"

/** Events waiting for a slow subscriber beyond this are dropped, oldest first, so the pool never blocks on one. */
const eventBuffer = 4096

/**
 * The last message of every subscription: the pool closed. Ending the streams with a message rather than by
 * shutting the PubSub down delivers every event recorded before it (a shutdown drops what subscribers have not
 * taken yet).
 */
const ended = Symbol.for("@dbpool/core/PoolEventsEnded")
type Ended = typeof ended
const isEvent = (message: PoolEvent | Ended): message is PoolEvent => message !== ended

export class Events {
  // Made by the first subscriber: its buffer is most of an idle pool's memory (measured), and most pools
  // never have one. Events are recorded only while subscribers > 0, so only once it exists.
  private hub: PubSub.PubSub<PoolEvent | Ended> | undefined = undefined
  private subscribers = 0
  /** Recorded and not yet delivered, oldest first. */
  private batch: Array<PoolEvent> = []
  private closed = false

  /** `runFork` runs the delivery of a batch in the pool's runtime (and so on its scheduler). */
  constructor(private readonly runFork: (effect: Effect.Effect<void>) => void) {}

  /** Whether anyone listens now: check it before building an event. */
  get listening(): boolean {
    return this.subscribers > 0
  }

  /**
   * Records an event for the next delivery (the hot path: no Effect step). Call it only while `listening`.
   * The first event of a batch schedules the delivery: it runs at the scheduler's next turn, after the
   * fibers already queued, so everything they record meanwhile goes with it.
   */
  record(event: PoolEvent): void {
    if (this.batch.push(event) === 1) this.runFork(this.deliver)
  }

  /** Publishes the batch recorded so far, in order, in one step. */
  private readonly deliver: Effect.Effect<void> = Effect.suspend(() => {
    const batch = this.batch
    if (batch.length === 0 || this.hub === undefined) return Effect.void
    this.batch = []
    return Effect.asVoid(PubSub.publishAll(this.hub, batch))
  })

  /** Records the event `make` returns, if anyone listens, when the effect runs. */
  emit(make: () => PoolEvent): Effect.Effect<void> {
    if (this.subscribers === 0) return Effect.void
    const event = make()
    return Effect.sync(() => this.record(event))
  }

  /** `effect`, then the event if anyone listens: no extra step for a pool nobody observes. */
  after<X, Y>(effect: Effect.Effect<X, Y>, make: () => PoolEvent): Effect.Effect<X, Y> {
    return this.subscribers === 0 ? effect : Effect.zipLeft(effect, this.emit(make))
  }

  /** The event if anyone listens, then `effect`. */
  before<X, Y>(make: () => PoolEvent, effect: Effect.Effect<X, Y>): Effect.Effect<X, Y> {
    return this.subscribers === 0 ? effect : Effect.zipRight(this.emit(make), effect)
  }

  /** Records several events at once (the waiters the timer failed together). */
  emitAll(events: ReadonlyArray<PoolEvent>): Effect.Effect<void> {
    return events.length === 0 || this.subscribers === 0
      ? Effect.void
      : Effect.sync(() => {
        for (const event of events) this.record(event)
      })
  }

  /** A subscription for `pool.events`; empty once the pool has closed. */
  get subscribe(): Effect.Effect<Stream.Stream<PoolEvent>, never, Scope.Scope> {
    return Effect.suspend(() => {
      if (this.closed) return Effect.succeed(Stream.empty)
      if (this.hub === undefined) this.hub = Effect.runSync(PubSub.sliding<PoolEvent | Ended>(eventBuffer))
      return Effect.acquireRelease(
        Effect.tap(PubSub.subscribe(this.hub), () => {
          this.subscribers++
        }),
        () =>
          Effect.sync(() => {
            this.subscribers--
          })
      ).pipe(Effect.map((queue) => Stream.takeWhile(Stream.fromQueue(queue), isEvent)))
    })
  }

  /** The pool closed: every subscriber's stream ends, after the events recorded until now. */
  get shutdown(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.closed = true
      if (this.hub === undefined) return Effect.void
      return Effect.zipRight(this.deliver, Effect.asVoid(PubSub.publish(this.hub, ended)))
    })
  }
}
