/**
 * What a cluster tells about itself: per node, its role, whether it is up, its lag, the statements the
 * cluster routed to it and its pool's own statistics; for the cluster, the sums. Read exactly now with
 * `cluster.stats`, or followed with `cluster.changes`. The same figures are Effect metrics with
 * OpenTelemetry-style names (below), labelled with the node's name, so @dbpool/observability exports them
 * beside the node pools' own metrics.
 *
 * @since 0.1.0
 */
import type { PoolStats } from "@dbpool/core/PoolStats"
import type { Role } from "./Cluster.js"
import * as internal from "./internal/stats.js"

/**
 * One node as the cluster sees it, and its pool's statistics.
 *
 * The counts are of statements routed outside a transaction, since the cluster started: `reads` ran in a
 * `read` scope, `writes` did not. A transaction is not routed statement by statement: it counts in the
 * primary's pool statistics, not here.
 *
 * @since 0.1.0
 * @category models
 */
export interface NodeStats {
  readonly name: string
  readonly role: Role
  readonly weight: number
  /** Whether it gets statements (a down node is probed until it answers). */
  readonly up: boolean
  /** Why it is down. */
  readonly reason: string | undefined
  /** Consecutive node failures of its statements. */
  readonly failures: number
  /**
   * A replica's last measured lag behind the primary in milliseconds (`Infinity`, `null` in JSON, when it is
   * behind and cannot tell by how much); `undefined` when lag is not measured.
   */
  readonly lagMillis: number | undefined
  /** The replayed position its lag was measured at (PostgreSQL: an LSN). */
  readonly position: string | undefined
  /** Reads sent to it (including those it could not start, also counted in `rerouted`). */
  readonly reads: number
  /** Statements outside a read sent to it (the primary's). */
  readonly writes: number
  /** Reads it ran because no replica could take them (none usable, or none had a session's write): the primary's. */
  readonly fallbacks: number
  /** Reads sent to it that its pool could not start (no connection: never sent), run again on the next choice. */
  readonly rerouted: number
  /** Its pool's own statistics, exact at the same moment. */
  readonly pool: PoolStats
}

/**
 * The whole cluster: each node in the configured order, and the sums of their counts.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClusterStats {
  /** The name of the node that takes writes. */
  readonly primary: string
  readonly nodes: ReadonlyArray<NodeStats>
  readonly reads: number
  readonly writes: number
  readonly fallbacks: number
  readonly rerouted: number
  /** Nodes up, of `nodes.length`. */
  readonly nodesUp: number
}

/**
 * The names of the cluster's metrics. Each is labelled with `db.client.connection.pool.name`, the node's
 * name, which is also the name its pool's own `db.client.connection.*` metrics carry:
 *
 * - `dbpool.cluster.statements` (counter): statements routed to the node, by `dbpool.cluster.statement.kind`
 *   `read` or `write`;
 * - `dbpool.cluster.fallbacks` (counter): reads the node (the primary) ran because no replica could take them;
 * - `dbpool.cluster.reroutes` (counter): reads the node could not start, run again on the next choice;
 * - `dbpool.cluster.node.up` (gauge): 1 while the node is up, 0 while it is down;
 * - `dbpool.cluster.replica.lag` (gauge, seconds): a replica's last measured lag (with `maxReplicaLag`).
 *
 * In Prometheus' text format: `dbpool_cluster_statements_total{db_client_connection_pool_name="replica-1",
 * dbpool_cluster_statement_kind="read"}`, `dbpool_cluster_node_up{...}`, `dbpool_cluster_replica_lag{...}`.
 *
 * @example
 * ```ts
 * import { ClusterStats } from "@dbpool/cluster"
 *
 * const name = ClusterStats.metricNames.statements // "dbpool.cluster.statements"
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const metricNames: {
  readonly statements: "dbpool.cluster.statements"
  readonly fallbacks: "dbpool.cluster.fallbacks"
  readonly reroutes: "dbpool.cluster.reroutes"
  readonly nodeUp: "dbpool.cluster.node.up"
  readonly replicaLag: "dbpool.cluster.replica.lag"
} = internal.names

/**
 * The label of a statement's kind on `dbpool.cluster.statements`.
 *
 * @since 0.1.0
 * @category constants
 */
export const kindAttribute: "dbpool.cluster.statement.kind" = internal.kindAttribute
