/**
 * What happens to a statement whose caller gave up (interrupted, past `queryTimeout`): it cannot be taken
 * back, so it is watched until it answers. A cancel request stops whatever the session runs at that
 * moment, so it is sent only while every statement in flight on the connection was given up: then it can
 * hurt no caller.
 */
import * as Effect from "effect/Effect"
import type Pg from "pg"
import { cancelRequest } from "./cancelRequest.js"
import type { Lane } from "./pipelineLane.js"
import type { PipelinedStatement } from "./pipelineStatement.js"

/** How long a given-up statement may run before it is cancelled (most answer by themselves before). */
export const cancelRetry = "100 millis"
/** How long a given-up statement is cancelled before its connection is closed under it (as without pipelining). */
export const cancelBound = 2000

/**
 * While `lane` carries statements whose callers gave up: one still running after `cancelRetry` stops the
 * lane taking new statements, and is cancelled on the server (again every `cancelRetry`) while nothing
 * else is in flight there. One that has not answered `cancelBound` after that (a server gone silent)
 * loses the connection: nobody waits for it, and the lane's socket is closed.
 */
export const watch = <L extends { readonly native: Pg.Client }>(
  lane: Lane<L>,
  now: () => number
): Effect.Effect<void> => {
  let head: PipelinedStatement | undefined = undefined
  let since = 0
  const next = Effect.suspend(() => Effect.zipRight(Effect.sleep(cancelRetry), loop))
  const loop: Effect.Effect<void> = Effect.suspend(() => {
    if (lane.abandonedCount === 0 || lane.closed) return Effect.void
    const first = lane.pending[0]
    if (first === undefined || !first.abandoned) {
      head = undefined
      return next
    }
    if (first !== head) {
      head = first
      since = now()
      return next
    }
    lane.draining = true
    if (!lane.onlyAbandoned) return next
    const left = cancelBound - (now() - since)
    if (left <= 0) {
      return Effect.sync(() => lane.destroy(new Error("a statement given up by its caller did not answer its cancel")))
    }
    // The protocol's cancel request alone, bounded by itself (1 s): no fallback that logs in to cancel, which
    // a silent server would hold past any bound.
    return Effect.zipRight(Effect.ignore(Effect.timeout(cancelRequest(lane.lease.native), left)), next)
  })
  return next
}
