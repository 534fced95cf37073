/**
 * @since 0.1.0
 */
export * as PoolConfig from "./PoolConfig.js"

/**
 * @since 0.1.0
 */
export * as PoolError from "./PoolError.js"

/**
 * @since 0.1.0
 */
export * as PoolEvent from "./PoolEvent.js"

/**
 * @since 0.1.0
 */
export * as PoolStats from "./PoolStats.js"

/**
 * @since 0.1.0
 */
export * as ResourcePool from "./ResourcePool.js"

/**
 * @since 0.1.0
 */
export * as PoolGroup from "./PoolGroup.js"

/**
 * @since 0.1.0
 */
export * as PoolSizing from "./PoolSizing.js"
