/**
 * @since 0.1.0
 */
export * as MysqlPool from "./MysqlPool.js"
