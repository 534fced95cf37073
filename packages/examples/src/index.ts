/**
 * @since 0.1.0
 */
export * as Database from "./demo/Database.js"

/**
 * @since 0.1.0
 */
export * as Demo from "./demo/Demo.js"

/**
 * @since 0.1.0
 */
export * as Renderer from "./demo/Renderer.js"

/**
 * @since 0.1.0
 */
export * as Scenario from "./demo/Scenario.js"
