/**
 * How a node's pool starts, told by the cluster to the pool effects of `PgCluster.nodes` and
 * `MysqlCluster.nodes`: strictly (its first connections opened, or the cluster does not start) or empty (a
 * node that is down is a node that is down). With failover, the configured primary may be the node that
 * failed: every pool starts empty and discovery finds the node that takes writes.
 */
import * as FiberRef from "effect/FiberRef"

/** Whether the cluster being built discovers its primary: then no node's pool has to open at start. */
export const discovering: FiberRef.FiberRef<boolean> = FiberRef.unsafeMake(false)
