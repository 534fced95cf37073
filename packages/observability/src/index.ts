/**
 * @since 0.1.0
 */
export * as PoolTelemetry from "./PoolTelemetry.js"

/**
 * @since 0.1.0
 */
export * as Prometheus from "./Prometheus.js"

/**
 * @since 0.1.0
 */
export * as PrometheusError from "./PrometheusError.js"

/**
 * @since 0.1.0
 */
export * as AlertRule from "./AlertRule.js"

/**
 * @since 0.1.0
 */
export * as Alerts from "./Alerts.js"
