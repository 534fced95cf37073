/**
 * @since 0.1.0
 */
export * as Memory from "./Memory.js"

/**
 * @since 0.1.0
 */
export * as Overhead from "./Overhead.js"

/**
 * @since 0.1.0
 */
export * as Report from "./Report.js"

/**
 * @since 0.1.0
 */
export * as Scale from "./Scale.js"

/**
 * @since 0.1.0
 */
export * as SelectOne from "./SelectOne.js"

/**
 * @since 0.1.0
 */
export * as Pipeline from "./Pipeline.js"

/**
 * @since 0.1.0
 */
export * as Sizing from "./Sizing.js"

/**
 * @since 0.1.0
 */
export * as Processes from "./Processes.js"
