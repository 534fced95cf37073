/**
 * @since 0.1.0
 */
export * as FaultProxy from "./FaultProxy.js"
