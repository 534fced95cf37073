/**
 * The pool's events: published only while someone subscribes. Every event is
 * made by a function called only then, so a pool nobody observes pays one
 * comparison per event, and no allocation for the event itself.
 */
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { PoolEvent } from "../PoolEvent.js"

/** Events waiting for a slow subscriber beyond this are dropped, oldest first, so the pool never blocks on one. */
const eventBuffer = 4096

export class Events {
  // Made by the first subscriber: its buffer is most of an idle pool's memory (measured), and most pools
  // never have one. Events are published only while subscribers > 0, so only once it exists.
  private hub: PubSub.PubSub<PoolEvent> | undefined = undefined
  private subscribers = 0
  /** Those of `subscribers` who want the two events of every acquisition too (`pool.events`, not `pool.notices`). */
  private leaseSubscribers = 0

  /** Whether anyone listens now. */
  get listening(): boolean {
    return this.subscribers > 0
  }

  /**
   * Whether anyone listens to `ConnectionAcquired` and `ConnectionReleased`, made on every acquisition:
   * a dashboard or an alert follows `notices` and so costs the acquisition path nothing.
   */
  get listeningToLeases(): boolean {
    return this.leaseSubscribers > 0
  }

  /** Publishes the event `make` returns, if anyone listens. */
  emit(make: () => PoolEvent): Effect.Effect<void> {
    return this.subscribers === 0 ? Effect.void : Effect.asVoid(PubSub.publish(this.hub!, make()))
  }

  /** `effect`, then the event if anyone listens: no extra step for a pool nobody observes. */
  after<X, Y>(effect: Effect.Effect<X, Y>, make: () => PoolEvent): Effect.Effect<X, Y> {
    return this.subscribers === 0 ? effect : Effect.zipLeft(effect, PubSub.publish(this.hub!, make()))
  }

  /** The event if anyone listens, then `effect`. */
  before<X, Y>(make: () => PoolEvent, effect: Effect.Effect<X, Y>): Effect.Effect<X, Y> {
    return this.subscribers === 0 ? effect : Effect.zipRight(PubSub.publish(this.hub!, make()), effect)
  }

  /** Publishes several events at once (the waiters the timer failed together). */
  emitAll(events: ReadonlyArray<PoolEvent>): Effect.Effect<void> {
    return events.length === 0 || this.subscribers === 0
      ? Effect.void
      : Effect.asVoid(PubSub.publishAll(this.hub!, events))
  }

  /**
   * A subscription for `pool.events` (`withLeases`) or `pool.notices`; empty if the pool closed before anyone
   * subscribed. A notices subscriber shares the hub, so it drops the per-acquisition events others asked for.
   */
  subscribe(closed: boolean, withLeases: boolean): Effect.Effect<Stream.Stream<PoolEvent>, never, Scope.Scope> {
    return Effect.suspend(() => {
      if (this.hub === undefined) {
        if (closed) return Effect.succeed(Stream.empty)
        this.hub = Effect.runSync(PubSub.sliding<PoolEvent>(eventBuffer))
      }
      return Effect.acquireRelease(
        Effect.tap(PubSub.subscribe(this.hub), () => {
          this.subscribers++
          if (withLeases) this.leaseSubscribers++
        }),
        () =>
          Effect.sync(() => {
            this.subscribers--
            if (withLeases) this.leaseSubscribers--
          })
      ).pipe(
        Effect.map((queue) => withLeases ? Stream.fromQueue(queue) : Stream.filter(Stream.fromQueue(queue), isNotice))
      )
    })
  }

  /** The pool closed: every subscriber's stream ends. */
  get shutdown(): Effect.Effect<void> {
    return Effect.suspend(() => this.hub === undefined ? Effect.void : PubSub.shutdown(this.hub))
  }
}

const isNotice = (event: PoolEvent): boolean =>
  event._tag !== "ConnectionAcquired" && event._tag !== "ConnectionReleased"
