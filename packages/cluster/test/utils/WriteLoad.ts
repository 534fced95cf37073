/**
 * The write load of the failover tests (PostgreSQL and MariaDB): fibers inserting rows with unique ids
 * through a cluster until told to stop, every write's outcome and time recorded, and the figures read
 * from them.
 */
import type * as Cluster from "@dbpool/cluster/Cluster"
import { Effect } from "effect"

export interface Outcome {
  readonly id: number
  readonly start: number
  readonly end: number
  /** Undefined: acknowledged; else the tag of the `SqlError`'s cause. */
  readonly failed: string | undefined
}

/** The tags a failed write may have: each a typed error of ours. */
export const typedCauses: ReadonlySet<string> = new Set([
  "ConnectionLostError",
  "NoPrimaryError",
  "ConnectError",
  "PoolTimeoutError"
])

export const causeTag = (error: unknown): string => {
  const cause = (error as { cause?: { _tag?: unknown } }).cause
  return typeof cause?._tag === "string" ? cause._tag : `untyped: ${String((error as Error).message)}`
}

/** `fibers` fibers inserting unique ids into table `w` until `stop` says so; every outcome recorded. */
export const load = (
  cluster: Cluster.Cluster,
  outcomes: Array<Outcome>,
  stop: { now: boolean },
  fibers = 50
) => {
  let next = 0
  const writer = Effect.gen(function*() {
    while (!stop.now) {
      const id = ++next
      const start = performance.now()
      const exit = yield* Effect.either(cluster.sql`INSERT INTO w (id) VALUES (${id})`)
      outcomes.push({
        id,
        start,
        end: performance.now(),
        failed: exit._tag === "Left" ? causeTag(exit.left) : undefined
      })
    }
  })
  return Effect.fork(Effect.all(Array.from({ length: fibers }, () => writer), { concurrency: "unbounded" }))
}

/** The longest time between two acknowledged writes (ms). */
export const longestGap = (outcomes: ReadonlyArray<Outcome>): number => {
  const acked = outcomes.filter((o) => o.failed === undefined).map((o) => o.end).sort((a, b) => a - b)
  let gap = 0
  for (let i = 1; i < acked.length; i++) gap = Math.max(gap, acked[i]! - acked[i - 1]!)
  return gap
}
