/**
 * Replica lag, measured on a schedule: the primary's position, then each replica's replayed position;
 * a replica at or past the primary's is 0 ms behind, one short of it is as far behind as its replay is in
 * time (unknown: treated as over any bound). A measurement that fails leaves the last one.
 */
import * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import type * as Replication from "../Replication.js"
import type { RoutedNode } from "./routing.js"

export const measureOnce = (
  replication: Replication.Replication,
  primary: RoutedNode | undefined,
  replicas: ReadonlyArray<RoutedNode>
): Effect.Effect<void> =>
  primary === undefined ? Effect.void : Effect.flatMap(
    Effect.either(replication.primaryPosition(primary.pool.sql)),
    (primaryPosition) =>
      primaryPosition._tag === "Left" ?
        Effect.void :
        Effect.forEach(replicas, (node) =>
          Effect.ignore(Effect.map(replication.replicaPosition(node.pool.sql), ({ behindMillis, position }) =>
            node.tracker.setLag(
              replication.atLeast(position, primaryPosition.right) ? 0 : behindMillis ?? Number.POSITIVE_INFINITY,
              position
            ))), { concurrency: "unbounded", discard: true })
  )

/** Measured against the primary of the moment (failover), on the nodes that take reads then. */
export const measure = (
  replication: Replication.Replication,
  primary: () => RoutedNode | undefined,
  replicas: () => ReadonlyArray<RoutedNode>,
  schedule: Schedule.Schedule<unknown, unknown>
): Effect.Effect<unknown> =>
  Effect.repeat(Effect.suspend(() => measureOnce(replication, primary(), replicas())), schedule)
