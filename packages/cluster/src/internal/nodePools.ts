/**
 * The node list of a driver's cluster (`PgCluster.nodes`, `MysqlCluster.nodes`): each node a dbpool pool
 * named after it, built from the driver's pool settings by the driver's `connector`.
 */
import * as PoolConfig from "@dbpool/core/PoolConfig"
import type { ConnectError, PoolConfigError } from "@dbpool/core/PoolError"
import type { ConnectFailure } from "@dbpool/sql/ConnectionError"
import type { Connector } from "@dbpool/sql/Connector"
import * as Pool from "@dbpool/sql/Pool"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import type * as Cluster from "../Cluster.js"
import * as Start from "./start.js"

/** A driver's pool settings, with the node's name, role and weight. */
export type NodeSettings<O> = O & {
  readonly name: string
  readonly role: Cluster.Role
  readonly weight?: number | undefined
}

/**
 * A replica's pool (and, with failover, the configured primary's) starts empty and is then resized to its
 * minimum, which it fills in the background: a node that is down when the cluster starts is a node that is
 * down, not a cluster that cannot start. Without failover the primary's pool starts as the driver's does.
 */
export const nodes = <O extends { readonly pool?: PoolConfig.Input | undefined }, N>(
  connector: (options: O) => Effect.Effect<Connector<N, ConnectFailure>, PoolConfigError>
) =>
(
  configs: ReadonlyArray<NodeSettings<O>>
): ReadonlyArray<Cluster.NodeConfig<PoolConfigError | ConnectError<ConnectFailure>>> => {
  const startEmpty = (name: string, options: O) =>
    Effect.gen(function*() {
      const { minConnections } = yield* PoolConfig.make({ ...options.pool, name })
      const pool = yield* Pool.make(yield* connector(options), { ...options.pool, name, minConnections: 0 })
      yield* pool.resize({ min: minConnections })
      return pool
    })
  const startStrict = (name: string, options: O) =>
    Effect.flatMap(connector(options), (c) => Pool.make(c, { ...options.pool, name }))
  return configs.map(({ name, role, weight, ...rest }) => {
    const options = rest as unknown as O
    return {
      name,
      role,
      weight,
      pool: role === "primary"
        ? Effect.flatMap(
          FiberRef.get(Start.discovering),
          (discovering) => discovering ? startEmpty(name, options) : startStrict(name, options)
        )
        : startEmpty(name, options)
    }
  })
}
