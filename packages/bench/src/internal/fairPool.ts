/**
 * A minimal fair pool written with Effect, the overhead benchmark's reference
 * for what fairness costs in Effect: a stack of idle items and a FIFO of
 * waiters; a release hands the item straight to the oldest waiter, so neither
 * the releasing fiber nor a newcomer can take it ahead of those waiting (no
 * barging). A caller waits interruptibly: interrupted before it was served,
 * it leaves the queue; interrupted just as it was served, it gives the item back.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"

class Waiter<A> {
  next: Waiter<A> | undefined = undefined
  /** Handed over: set before the fiber resumes, so that a late interrupt gives it back. */
  item: A | undefined = undefined
  /** Interrupted before it was served: skipped by the next release. */
  gone = false
  constructor(readonly resume: (exit: Exit.Exit<A>) => void) {}
}

export class FairPool<A> {
  private head: Waiter<A> | undefined = undefined
  private tail: Waiter<A> | undefined = undefined
  private queued = 0
  readonly idle: Array<A>

  constructor(items: ReadonlyArray<A>) {
    this.idle = [...items]
  }

  /** Waiters still queued (interrupted ones not counted). */
  get waiting(): number {
    return this.queued
  }

  /** Gives `item` to the oldest waiter still there, or back to the idle stack. */
  release(item: A): void {
    let w = this.head
    while (w !== undefined && w.gone) w = w.next
    if (w === undefined) {
      this.head = this.tail = undefined
      this.idle.push(item)
      return
    }
    this.head = w.next
    if (this.head === undefined) this.tail = undefined
    this.queued--
    w.item = item
    w.resume(Exit.succeed(item))
  }

  /** An idle item, or a place at the back of the queue until a release hands one over. */
  readonly take: Effect.Effect<A> = Effect.async<A>((resume) => {
    const item = this.idle.pop()
    if (item !== undefined) return resume(Exit.succeed(item))
    const w = new Waiter(resume)
    if (this.tail === undefined) this.head = w
    else this.tail.next = w
    this.tail = w
    this.queued++
    return Effect.sync(() => {
      if (w.item !== undefined) this.release(w.item)
      else if (!w.gone) {
        w.gone = true
        this.queued--
      }
    })
  })

  /** An item until the scope closes. */
  get get(): Effect.Effect<A, never, Scope.Scope> {
    return Effect.acquireRelease(this.take, (item) => Effect.sync(() => this.release(item)))
  }

  /** `f` with an item, given back however `f` ends; waiting is interruptible if the caller is. */
  use<B, E, R>(f: (item: A) => Effect.Effect<B, E, R>): Effect.Effect<B, E, R> {
    return Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(
        restore(this.take),
        (item) => Effect.ensuring(restore(Effect.suspend(() => f(item))), Effect.sync(() => this.release(item)))
      )
    )
  }
}
