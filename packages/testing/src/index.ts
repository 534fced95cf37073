/**
 * @since 0.1.0
 */
export * as DisposableServer from "./DisposableServer.js"

/**
 * @since 0.1.0
 */
export * as DropIn from "./DropIn.js"
export * as FaultProxy from "./FaultProxy.js"

/**
 * @since 0.1.0
 */
export * as MariaReplica from "./MariaReplica.js"

/**
 * @since 0.1.0
 */
export * as MariaServer from "./MariaServer.js"

/**
 * @since 0.1.0
 */
export * as PgBouncer from "./PgBouncer.js"

/**
 * @since 0.1.0
 */
export * as PgCluster from "./PgCluster.js"

/**
 * @since 0.1.0
 */
export * as Reliability from "./Reliability.js"

/**
 * @since 0.1.0
 */
export * as ServerCount from "./ServerCount.js"

/**
 * @since 0.1.0
 */
export * as SparePort from "./SparePort.js"
