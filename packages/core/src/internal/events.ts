/**
 * The pool's events: recorded only while someone subscribes, and delivered in
 * batches. An event is appended to one log, a plain array, as it happens
 * (built then, so its times are those of that moment); each subscriber reads
 * the log from its own position, taking everything recorded since its last
 * read at once. A subscriber waiting for events is woken by the first one
 * recorded, and only by that one: it wakes once per batch, not once per event.
 * Publishing each event to a PubSub woke every subscriber once per event, and
 * cost an observed pool up to half its throughput (measured). A pool nobody
 * observes pays one comparison per event.
 *
 * `pool.notices` reads the same log but never sees the two events every
 * acquisition makes (`ConnectionAcquired`, `ConnectionReleased`): those are
 * recorded only while a subscriber of `pool.events` listens
 * (`listeningAll`), so a dashboard or an alert following the notices costs
 * the acquisition path nothing.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { PoolEvent } from "../PoolEvent.js"

/**
 * A subscriber more than this many events behind loses the oldest, so that the pool never blocks on a slow
 * one and its memory stays bounded (the log holds at most twice this). Large, because a subscriber that is
 * quick but gets few turns of the scheduler (fibers that rarely suspend) still reads in large batches.
 */
export const maxBehind = 65_536

// The two events of every `use`, built without going through `PoolEvent`'s constructors: those are looked up
// through a Proxy that makes a new constructor at each access (about 100 ns per event, measured, against 20 ns
// here). The objects are the same: the same prototype (so `Equal` and `$is` work), the same fields in the
// same order.
const structural: object = Object.getPrototypeOf(PoolEvent.HealthCheckStarted({ connectionId: "" }))

/** `PoolEvent.ConnectionAcquired({ connectionId, waitTime })`, cheaper. */
export const connectionAcquired = (connectionId: string, waitTime: number): PoolEvent => {
  const event = Object.create(structural)
  event.connectionId = connectionId
  event.waitTime = waitTime
  event._tag = "ConnectionAcquired"
  return event
}

/** `PoolEvent.ConnectionReleased({ connectionId, useTime })`, cheaper. */
export const connectionReleased = (connectionId: string, useTime: number): PoolEvent => {
  const event = Object.create(structural)
  event.connectionId = connectionId
  event.useTime = useTime
  event._tag = "ConnectionReleased"
  return event
}

/** One subscription: where it reads next, and how to wake it while it waits. */
interface Reader {
  /** The index (counted from the first event ever recorded) of the next event this subscriber reads. */
  next: number
  /** Set while it waits for an event. */
  wake: ((resume: Effect.Effect<void>) => void) | undefined
  /** A subscriber of `pool.events`, who reads every event; else of `pool.notices`, who skips the per-acquisition two. */
  readonly all: boolean
}

/** Whether a subscriber of `pool.notices` reads `event`: all but the two events of every acquisition. */
const isNotice = (event: PoolEvent): boolean =>
  event._tag !== "ConnectionAcquired" && event._tag !== "ConnectionReleased"

export class Events {
  /** Events not yet read by every subscriber; `log[0]` is the event number `first`. */
  private log: Array<PoolEvent> = []
  private first = 0
  private readonly readers = new Set<Reader>()
  /** The readers waiting for an event: each is woken by the next one recorded. */
  private waiting: Array<Reader> = []
  private closed = false
  /** How many of `readers` read every event (`pool.events`). */
  private readersOfAll = 0

  /**
   * Whether anyone listens now (to `pool.events` or `pool.notices`): check it before building an event, but
   * `listeningAll` before `ConnectionAcquired` and `ConnectionReleased`.
   */
  get listening(): boolean {
    return this.readers.size > 0
  }

  /** Whether anyone listens to the two events of every acquisition: a subscriber of `pool.events`. */
  get listeningAll(): boolean {
    return this.readersOfAll > 0
  }

  /**
   * Records an event (the hot path: no Effect step). Call it only while `listening` (`listeningAll` for the
   * two events of every acquisition). Only the first event after a reader started waiting wakes it: it reads
   * the events recorded until its fiber's turn all at once.
   */
  record(event: PoolEvent): void {
    if (this.log.push(event) >= 2 * maxBehind) this.dropOldest()
    if (this.waiting.length > 0) this.wakeAll()
  }

  /** The log reached twice the bound: the oldest half goes (readers that far behind skip it). */
  private dropOldest(): void {
    this.log = this.log.slice(this.log.length - maxBehind)
    this.first += maxBehind
  }

  private wakeAll(): void {
    const waiting = this.waiting
    this.waiting = []
    for (const reader of waiting) {
      const wake = reader.wake
      reader.wake = undefined
      if (wake !== undefined) wake(Effect.void)
    }
  }

  /** Everything `reader` has not read yet, or its wait for the next event; ends once the pool closed. */
  private pull(reader: Reader): Effect.Effect<Chunk.Chunk<PoolEvent>, Option.Option<never>> {
    return Effect.suspend(() => {
      const end = this.first + this.log.length
      const from = Math.max(reader.next, this.first, end - maxBehind)
      if (from < end) {
        // The only reader takes the whole log as it is, with no copy.
        const read = this.readers.size === 1 && from === this.first ? this.log : this.log.slice(from - this.first)
        reader.next = end
        this.forgetRead(end)
        // A notices reader skips what only `pool.events` asked for; if that was all there was, it waits on.
        const events = reader.all ? read : read.filter(isNotice)
        if (events.length > 0) return Effect.succeed(Chunk.unsafeFromArray(events))
      }
      if (this.closed) return Effect.fail(Option.none())
      return Effect.zipRight(this.waitFor(reader), this.pull(reader))
    })
  }

  private waitFor(reader: Reader): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      reader.wake = resume
      this.waiting.push(reader)
      return Effect.sync(() => this.stopWaiting(reader))
    })
  }

  private stopWaiting(reader: Reader): void {
    reader.wake = undefined
    const i = this.waiting.indexOf(reader)
    if (i >= 0) this.waiting.splice(i, 1)
  }

  /** A reader has read up to `end`: once every reader has, the log is emptied. */
  private forgetRead(end: number): void {
    for (const reader of this.readers) if (reader.next < end) return
    this.log = []
    this.first = end
  }

  /** Records the event `make` returns, if anyone listens, when the effect runs. */
  emit(make: () => PoolEvent): Effect.Effect<void> {
    if (!this.listening) return Effect.void
    const event = make()
    return Effect.sync(() => this.record(event))
  }

  /** `effect`, then the event if anyone listens: no extra step for a pool nobody observes. */
  after<X, Y>(effect: Effect.Effect<X, Y>, make: () => PoolEvent): Effect.Effect<X, Y> {
    return this.listening ? Effect.zipLeft(effect, this.emit(make)) : effect
  }

  /** The event if anyone listens, then `effect`. */
  before<X, Y>(make: () => PoolEvent, effect: Effect.Effect<X, Y>): Effect.Effect<X, Y> {
    return this.listening ? Effect.zipRight(this.emit(make), effect) : effect
  }

  /** Records several events at once (the waiters the timer failed together). */
  emitAll(events: ReadonlyArray<PoolEvent>): Effect.Effect<void> {
    return events.length === 0 || !this.listening
      ? Effect.void
      : Effect.sync(() => {
        for (const event of events) this.record(event)
      })
  }

  /**
   * A subscription for `pool.events` (`all`) or `pool.notices`: the events recorded from now on; empty once
   * the pool has closed.
   */
  subscribe(all: boolean): Effect.Effect<Stream.Stream<PoolEvent>, never, Scope.Scope> {
    return Effect.map(
      Effect.acquireRelease(
        Effect.sync((): Reader => {
          const reader: Reader = { next: this.first + this.log.length, wake: undefined, all }
          this.readers.add(reader)
          if (all) this.readersOfAll++
          return reader
        }),
        (reader) =>
          Effect.sync(() => {
            this.stopWaiting(reader)
            this.readers.delete(reader)
            if (reader.all) this.readersOfAll--
            if (this.readers.size === 0) this.forgetRead(this.first + this.log.length)
          })
      ),
      (reader) => Stream.repeatEffectChunkOption(this.pull(reader))
    )
  }

  /** The pool closed: every subscriber's stream ends, after the events recorded until now. */
  get shutdown(): Effect.Effect<void> {
    return Effect.sync(() => {
      this.closed = true
      this.wakeAll()
    })
  }
}
