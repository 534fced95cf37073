/**
 * The cluster's own errors: a configuration it refuses before building any pool, a read that found no
 * usable replica when the cluster is told not to fall back to the primary, and a write that found no
 * primary (or writer) within `failoverTimeout`.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * What is wrong with a cluster's configuration:
 * - `NoNodes`: the node list is empty;
 * - `NoPrimary`: no node has the role `primary`;
 * - `SeveralPrimaries`: more than one node has the role `primary` and `writers` is not set;
 * - `DuplicateName`: two nodes have the same name;
 * - `InvalidOption`: a value out of its range (a weight, a failure count).
 *
 * @since 0.1.0
 * @category models
 */
export type ConfigProblem = "NoNodes" | "NoPrimary" | "SeveralPrimaries" | "DuplicateName" | "InvalidOption"

/**
 * The cluster's configuration is invalid; no pool was built.
 *
 * @example
 * ```ts
 * import { Cluster, ClusterError } from "@dbpool/cluster"
 * import { Effect } from "effect"
 *
 * const program = Cluster.make([]).pipe(
 *   Effect.catchTag("ClusterConfigError", (e) => Effect.logError(`${e.problem}: ${e.message}`)),
 *   Effect.scoped
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class ClusterConfigError extends Data.TaggedError("ClusterConfigError")<{
  readonly problem: ConfigProblem
  readonly message: string
}> {}

/**
 * A read found no usable replica (each one down, or there are none) and the cluster's `readFallback` is
 * `"fail"`. It reaches the caller as the `cause` of the statement's `SqlError`.
 *
 * @example
 * ```ts
 * import { ClusterError } from "@dbpool/cluster"
 * import type { SqlError } from "@effect/sql/SqlError"
 *
 * const noReplica = (error: SqlError) => error.cause instanceof ClusterError.NoReplicaError
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class NoReplicaError extends Data.TaggedError("NoReplicaError")<{
  readonly message: string
  /** The replicas that were skipped, each with why. */
  readonly skipped: ReadonlyArray<{ readonly node: string; readonly reason: string }>
}> {}

/**
 * A write (or transaction) found no node to take it: no primary was known, or each writable node refused
 * it before it ran, for `failoverTimeout`. It reaches the caller as the `cause` of the statement's
 * `SqlError`. The write did not run anywhere.
 *
 * @example
 * ```ts
 * import { ClusterError } from "@dbpool/cluster"
 * import type { SqlError } from "@effect/sql/SqlError"
 *
 * const noPrimary = (error: SqlError) => error.cause instanceof ClusterError.NoPrimaryError
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class NoPrimaryError extends Data.TaggedError("NoPrimaryError")<{
  readonly message: string
  /** How long the write waited for a primary, in milliseconds. */
  readonly waited: number
  /** Why the last node tried refused it, when one was tried. */
  readonly lastError: string | undefined
}> {}
