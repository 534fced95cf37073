/**
 * Read-your-writes sessions: inside `Cluster.readYourWrites`, a read after a write runs only where that
 * write is visible: on a replica whose replayed position has reached the primary's position taken after the
 * write, else on the primary. The session's box is shared by the fibers forked inside it.
 */
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import type * as Replication from "../Replication.js"
import type { RoutedNode } from "./routing.js"

export interface Session {
  /** Something ran on the primary since `position` was taken: the next read takes it again. */
  wrote: boolean
  /** The primary's position after the session's last write, once a read needed it. */
  position: string | undefined
}

export const current: FiberRef.FiberRef<Session | undefined> = FiberRef.unsafeMake<Session | undefined>(undefined)

/** A session inside a session is the same session. */
export const readYourWrites = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(
    FiberRef.get(current),
    (session) => session === undefined ? Effect.locally(effect, current, { wrote: false, position: undefined }) : effect
  )

export const markWrite = (session: Session): Effect.Effect<void> =>
  Effect.sync(() => {
    session.wrote = true
  })

/** Marks the fiber's session, if any, as having written. */
export const markCurrent: Effect.Effect<void> = Effect.flatMap(
  FiberRef.get(current),
  (session) => session === undefined ? Effect.void : markWrite(session)
)

/**
 * The replicas where the session's writes are visible, once it has written. Without `replication`, none:
 * reads go to the primary.
 */
export const visibleOn = (
  session: Session,
  usable: ReadonlyArray<RoutedNode>,
  primary: RoutedNode | undefined,
  replication: Replication.Replication | undefined
): Effect.Effect<ReadonlyArray<RoutedNode>> => {
  if (replication === undefined || primary === undefined) return Effect.succeed([])
  return Effect.gen(function*() {
    if (session.wrote || session.position === undefined) {
      const position = yield* Effect.either(replication.primaryPosition(primary.pool.sql))
      if (position._tag === "Left") return []
      session.position = position.right
      session.wrote = false
    }
    const needed = session.position!
    const caughtUp = (node: RoutedNode) => {
      const known = node.tracker.state().position
      return known !== undefined && replication.atLeast(known, needed)
    }
    const known = usable.filter(caughtUp)
    if (known.length > 0) return known
    // the positions measured last may be old: ask the replicas themselves
    const fresh = yield* Effect.forEach(usable, (node) =>
      Effect.map(
        Effect.either(replication.replicaPosition(node.pool.sql)),
        (answer) => answer._tag === "Right" && replication.atLeast(answer.right.position, needed)
      ), { concurrency: "unbounded" })
    return usable.filter((_, i) => fresh[i])
  })
}
