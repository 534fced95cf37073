/**
 * @since 0.1.0
 */
export * as ConnectionError from "./ConnectionError.js"

/**
 * @since 0.1.0
 */
export * as Connector from "./Connector.js"

/**
 * @since 0.1.0
 */
export * as Pool from "./Pool.js"

/**
 * @since 0.1.0
 */
export * as PooledConnection from "./PooledConnection.js"
