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
 * - `PrimaryChanged`: writes go to `to` from now on; `from` is the primary before (the last one there was,
 *   after a time without; the same node when it comes back). Published when discovery finds a primary other
 *   than the one in use, and at start when it is not the configured one.
 * - `PrimaryLost`: no node takes writes: `from` stopped being the primary (unreachable or read-only). Writes
 *   wait for a primary up to `failoverTimeout`, then fail with `NoPrimaryError`.
 * - `SplitBrain`: several nodes take writes at once. `primary` is the one of the highest term (see
 *   `Replication.primaryTerm`), or none when the terms do not tell; the others get no statements.
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
 *       NodeUp: (e) => Effect.logInfo(`${e.node} up after ${e.downFor} ms`),
 *       PrimaryChanged: (e) => Effect.logWarning(`primary: ${e.from} -> ${e.to}`),
 *       PrimaryLost: (e) => Effect.logError(`no primary (was ${e.from})`),
 *       SplitBrain: (e) => Effect.logError(`writable: ${e.writable.join(", ")}; kept: ${e.primary ?? "none"}`)
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
  PrimaryChanged: { readonly from: string; readonly to: string }
  PrimaryLost: { readonly from: string }
  SplitBrain: { readonly writable: ReadonlyArray<string>; readonly primary: string | undefined }
}>

/**
 * Constructors and matchers of `ClusterEvent`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const ClusterEvent = Data.taggedEnum<ClusterEvent>()
