/**
 * @since 0.1.0
 */
export * as PgPool from "./PgPool.js"
