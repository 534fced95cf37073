/**
 * What the cluster tells about its nodes' health. Each node's pool has its own events too
 * (`cluster.nodes[i].pool.events`).
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * - `NodeDown`: the node gets no more statements the cluster may send elsewhere (reads); `reason` says why
 *   (`"circuit open"`, or `"3 failures in a row: <the last one>"`). It is probed from now on.
 * - `NodeUp`: a probe of a down node succeeded; it gets its share again. `downFor` is in milliseconds.
 *
 * @example
 * ```ts
 * import { Cluster, ClusterEvent } from "@dbpool/cluster"
 * import { Effect, Stream } from "effect"
 *
 * const log = Effect.flatMap(Cluster.Cluster, (cluster) =>
 *   cluster.events.pipe(
 *     Stream.runForEach(ClusterEvent.ClusterEvent.$match({
 *       NodeDown: (e) => Effect.logWarning(`${e.node} down: ${e.reason}`),
 *       NodeUp: (e) => Effect.logInfo(`${e.node} up after ${e.downFor} ms`)
 *     }))
 *   ))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ClusterEvent = Data.TaggedEnum<{
  NodeDown: { readonly node: string; readonly reason: string }
  NodeUp: { readonly node: string; readonly downFor: number }
}>

/**
 * Constructors and matchers of `ClusterEvent`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const ClusterEvent = Data.taggedEnum<ClusterEvent>()
