/**
 * Several database nodes as one SqlClient: reads in `read(...)` on replicas, everything else and every
 * transaction on the primary, health-aware.
 *
 * @since 0.1.0
 */
export * as Cluster from "./Cluster.js"

/**
 * @since 0.1.0
 */
export * as ClusterError from "./ClusterError.js"

/**
 * @since 0.1.0
 */
export * as ClusterEvent from "./ClusterEvent.js"

/**
 * @since 0.1.0
 */
export * as MysqlCluster from "./MysqlCluster.js"

/**
 * @since 0.1.0
 */
export * as ClusterStats from "./ClusterStats.js"

/**
 * @since 0.1.0
 */
export * as PgCluster from "./PgCluster.js"

/**
 * @since 0.1.0
 */
export * as Replication from "./Replication.js"

/**
 * @since 0.1.0
 */
export * as Selector from "./Selector.js"
