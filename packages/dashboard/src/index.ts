/**
 * @since 0.1.0
 */
export * as Dashboard from "./Dashboard.js"

/**
 * @since 0.1.0
 */
export * as Health from "./Health.js"
