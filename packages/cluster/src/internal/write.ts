/**
 * Where a write (a statement outside a read, or a transaction) runs: on a node that takes writes now.
 *
 * A write that a node refused before running it (the node is read-only, or its pool could not lend a
 * connection) tells the writers what was learnt (a discovery, with failover) and runs again on a node
 * that takes writes; while there is none, it waits, looking again every `poll`, up to `failoverTimeout`
 * from its first refusal, then fails with `NoPrimaryError`. A write that lost its connection is never run
 * again (it may have committed): it fails with its own error, and the primary is looked for again.
 *
 * With a fixed primary (nothing to discover), a write runs once on it, as on a single pool.
 */
import { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { NoPrimaryError } from "../ClusterError.js"
import { isNodeFailure, isReadOnly, neverSent } from "./health.js"
import { isSqlError, pick, runOn } from "./pick.js"
import type { RoutedNode, Routing } from "./routing.js"

/** How often a write waiting for a primary looks again. */
const poll = 100

/** A statement's failure that says it did not run: another node may take it. */
export const refusedStatement = (error: unknown): SqlError | undefined =>
  isSqlError(error) && (isReadOnly(error) || neverSent(error)) ? error : undefined

interface Attempt {
  /** Nodes that refused this write since the last wait. */
  tried: Set<RoutedNode>
  /** When it was first refused, or first found no node (milliseconds). */
  since: number | undefined
  last: SqlError | undefined
}

const noPrimary = (routing: Routing, attempt: Attempt, now: number) => {
  const waited = now - (attempt.since ?? now)
  const several = routing.writers.mode === "several"
  const error = new NoPrimaryError({
    message: `${several ? "no writer took" : "no primary took"} the write within ${waited} ms` +
      (attempt.last === undefined ? "" : `: ${attempt.last.message}`),
    waited,
    lastError: attempt.last?.message
  })
  return Effect.fail(new SqlError({ message: error.message, cause: error }))
}

const untried = (routing: Routing, attempt: Attempt) =>
  routing.writers.current().filter((node) => !attempt.tried.has(node))

/** A node for the write; while none takes it, looks again (discovery) and waits, up to the bound. */
export const writer = (routing: Routing, attempt: Attempt): Effect.Effect<RoutedNode, SqlError> =>
  Effect.suspend(() => {
    const nodes = untried(routing, attempt)
    if (nodes.length > 0) return pick(routing.writePickers, routing.writeSelector, nodes)
    return Effect.flatMap(Clock.currentTimeMillis, (now) => {
      attempt.since ??= now
      const left = attempt.since + routing.failoverTimeout - now
      if (left <= 0) return noPrimary(routing, attempt, now)
      return Effect.zipRight(
        routing.writers.refresh,
        Effect.suspend(() => {
          const found = untried(routing, attempt)
          if (found.length > 0) return pick(routing.writePickers, routing.writeSelector, found)
          attempt.tried = new Set()
          return Effect.zipRight(Effect.sleep(Math.min(poll, left)), writer(routing, attempt))
        })
      )
    })
  })

/**
 * Runs `run` on a node that takes writes. `refused` tells a failure that did not run the write (it may run
 * on another node) from one that may have.
 */
export const write = <A, E, R>(
  routing: Routing,
  run: (node: RoutedNode) => Effect.Effect<A, E, R>,
  refused: (error: E) => SqlError | undefined
): Effect.Effect<A, E | SqlError, R> => {
  if (routing.writers.mode === "fixed") {
    const primary = routing.writers.primary()!
    return runOn(primary, run(primary))
  }
  const attempt: Attempt = { tried: new Set(), since: undefined, last: undefined }
  const loop: Effect.Effect<A, E | SqlError, R> = Effect.flatMap(
    writer(routing, attempt),
    (node) =>
      Effect.catchAll(runOn(node, run(node)), (error) => {
        const refusal = refused(error)
        if (refusal === undefined) {
          return isSqlError(error) && isNodeFailure(error)
            ? Effect.zipRight(routing.writers.lost(node), Effect.fail(error))
            : Effect.fail(error)
        }
        return Effect.flatMap(Clock.currentTimeMillis, (now) => {
          attempt.since ??= now
          attempt.last = refusal
          attempt.tried.add(node)
          return Effect.zipRight(routing.writers.refused(node, refusal), loop)
        })
      })
  )
  return loop
}
