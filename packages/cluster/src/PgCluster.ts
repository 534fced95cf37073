/**
 * A cluster of PostgreSQL nodes from their `PgPool` settings: each node a dbpool pool named after the node.
 *
 * @since 0.1.0
 */
import type { ConnectError, PoolConfigError } from "@dbpool/core/PoolError"
import * as PgPool from "@dbpool/pg/PgPool"
import type { ConnectFailure } from "@dbpool/sql/ConnectionError"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Cluster from "./Cluster.js"
import type { ClusterConfigError } from "./ClusterError.js"
import * as NodePools from "./internal/nodePools.js"
import * as PgClientImpl from "./internal/pgClient.js"
import * as Replication from "./Replication.js"

/**
 * One PostgreSQL node: its name, role and weight, and the settings of its pool (`url` or fields, `pool`
 * sizes and timeouts, ...), as `PgPool.layer` takes them.
 *
 * @since 0.1.0
 * @category models
 */
export interface PgNodeConfig extends PgPool.PgPoolOptions {
  readonly name: string
  readonly role: Cluster.Role
  readonly weight?: number | undefined
}

/**
 * The node list `Cluster.make` and `Cluster.layer` take, from PostgreSQL settings. A replica's pool starts
 * even when the replica is down, and fills up to its minimum in the background. The primary's pool starts
 * as `PgPool`'s does (its first connections opened, or a `ConnectError`), except with failover (a
 * `replication` with `isPrimary`, as `PgCluster.layer` has): then it starts as a replica's does, so that a
 * program restarted after a failover, its old primary down and still configured as `primary`, starts on
 * whichever nodes answer, and discovery finds the one that takes writes.
 *
 * @example
 * ```ts
 * import { Cluster, PgCluster } from "@dbpool/cluster"
 * import { Redacted } from "effect"
 *
 * const Live = Cluster.layer(PgCluster.nodes([
 *   { name: "primary", role: "primary", url: Redacted.make("postgres://app@db1:5432/app") },
 *   { name: "replica", role: "replica", url: Redacted.make("postgres://app@db2:5432/app") }
 * ]))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const nodes: (
  configs: ReadonlyArray<PgNodeConfig>
) => ReadonlyArray<Cluster.NodeConfig<PoolConfigError | ConnectError<ConnectFailure>>> = NodePools.nodes(
  PgPool.connector
)

/**
 * A PostgreSQL cluster as a layer providing `Cluster`, `SqlClient` and @effect/sql-pg's `PgClient`, reading
 * replication positions with `Replication.postgres` (so `maxReplicaLag` needs nothing more), which also discovers the primary
 * (`pg_is_in_recovery()`): failover is on. A program
 * written against `PgClient` runs on the cluster unchanged: its statements route as any other (on the
 * primary, or on a replica inside `Cluster.read`); its transactions begin `READ WRITE`, which a standby
 * refuses before their effect starts (they run again on the new primary); `listen` has one connection of
 * its own to the primary and follows failover (its channels are LISTENed again on the new primary: what
 * is notified in between is lost); `notify` runs on the primary even inside a read; `config` is the
 * primary's. Building the layer borrows one of the primary's connections once, to read its settings
 * (another node's when the primary does not answer).
 *
 * @example
 * ```ts
 * import { Cluster, PgCluster } from "@dbpool/cluster"
 * import { PgClient } from "@effect/sql-pg"
 * import { Effect, Redacted } from "effect"
 *
 * const Live = PgCluster.layer([
 *   { name: "primary", role: "primary", url: Redacted.make("postgres://app@db1:5432/app") },
 *   { name: "replica", role: "replica", url: Redacted.make("postgres://app@db2:5432/app") }
 * ], { selector: "leastBusy", readFallback: "primary" })
 *
 * const program = Effect.gen(function*() {
 *   const sql = yield* PgClient.PgClient
 *   yield* sql`INSERT INTO events (kind) VALUES ('signup')` // the primary
 *   yield* sql.notify("events", "signup") // the primary
 *   return yield* Cluster.read(sql`SELECT count(*) FROM events`) // a replica
 * }).pipe(Effect.provide(Live))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  configs: ReadonlyArray<PgNodeConfig>,
  options?: Cluster.Options
): Layer.Layer<
  Cluster.Cluster | SqlClient.SqlClient | PgClient.PgClient,
  ClusterConfigError | PoolConfigError | ConnectError<ConnectFailure> | SqlError
> =>
  Layer.scopedContext(Effect.gen(function*() {
    const cluster = yield* Cluster.make(nodes(configs), { replication: Replication.postgres, ...options })
    const pg = yield* PgClientImpl.make(cluster, configs)
    return Context.make(Cluster.Cluster, cluster).pipe(
      Context.add(SqlClient.SqlClient, pg),
      Context.add(PgClient.PgClient, pg)
    )
  }))
