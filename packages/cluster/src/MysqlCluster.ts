/**
 * A cluster of MySQL or MariaDB nodes from their `MysqlPool` settings: each node a dbpool pool named after
 * the node, the cluster provided as `SqlClient` and as @effect/sql-mysql2's `MysqlClient`.
 *
 * @since 0.1.0
 */
import type { ConnectError, PoolConfigError } from "@dbpool/core/PoolError"
import * as MysqlPool from "@dbpool/mysql/MysqlPool"
import type { ConnectFailure } from "@dbpool/sql/ConnectionError"
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Cluster from "./Cluster.js"
import type { ClusterConfigError } from "./ClusterError.js"
import * as internal from "./internal/mysqlCluster.js"
import * as NodePools from "./internal/nodePools.js"

/**
 * One MySQL or MariaDB node: its name, role and weight, and the settings of its pool (`url` or fields,
 * `pool` sizes and timeouts, ...), as `MysqlPool.layer` takes them.
 *
 * @since 0.1.0
 * @category models
 */
export interface MysqlNodeConfig extends MysqlPool.MysqlPoolOptions {
  readonly name: string
  readonly role: Cluster.Role
  readonly weight?: number | undefined
}

/**
 * The node list `Cluster.make` and `Cluster.layer` take, from MySQL or MariaDB settings. A replica's pool
 * starts even when the replica is down, and fills up to its minimum in the background. The primary's pool
 * starts as `MysqlPool`'s does (its first connections opened, or a `ConnectError`), except with failover (a
 * `replication` with `isPrimary`, as every `Replication` for MariaDB and MySQL has): then it starts as a
 * replica's does, so that a program restarted after a failover, its old primary down and still configured
 * as `primary`, starts on whichever nodes answer, and discovery finds the one that takes writes.
 *
 * @example
 * ```ts
 * import { Cluster, MysqlCluster, Replication } from "@dbpool/cluster"
 * import { Redacted } from "effect"
 *
 * const Live = Cluster.layer(MysqlCluster.nodes([
 *   { name: "primary", role: "primary", url: Redacted.make("mysql://app@db1:3306/app") },
 *   { name: "replica", role: "replica", url: Redacted.make("mysql://app@db2:3306/app") }
 * ]), { replication: Replication.mariadb, maxReplicaLag: "5 seconds" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const nodes: (
  configs: ReadonlyArray<MysqlNodeConfig>
) => ReadonlyArray<Cluster.NodeConfig<PoolConfigError | ConnectError<ConnectFailure>>> = NodePools.nodes(
  MysqlPool.connector
)

/**
 * A MySQL or MariaDB cluster as a layer providing `Cluster`, `SqlClient` and @effect/sql-mysql2's
 * `MysqlClient` (programs and `MysqlMigrator` written for it run on the cluster: everything on the primary
 * until reads are marked; its `config` is the primary's settings as given, the URL not parsed). Give `replication` for `maxReplicaLag` and `readYourWrites`:
 * `Replication.mariadb` (MariaDB GTIDs) or `Replication.mysql` (MySQL 8 GTID sets); there is no default,
 * as the wrong one would leave lag unmeasured. Without it, a read-your-writes session's reads after a write
 * run on the primary.
 *
 * @example
 * ```ts
 * import { Cluster, MysqlCluster, Replication } from "@dbpool/cluster"
 * import { SqlClient } from "@effect/sql"
 * import { Effect, Redacted } from "effect"
 *
 * const Live = MysqlCluster.layer([
 *   { name: "primary", role: "primary", url: Redacted.make("mysql://app@db1:3306/app") },
 *   { name: "replica", role: "replica", url: Redacted.make("mysql://app@db2:3306/app") }
 * ], { replication: Replication.mariadb, maxReplicaLag: "5 seconds" })
 *
 * const program = Effect.gen(function*() {
 *   const sql = yield* SqlClient.SqlClient
 *   yield* sql`INSERT INTO events (kind) VALUES ('signup')` // the primary
 *   return yield* Cluster.read(sql`SELECT count(*) AS n FROM events`) // the replica
 * }).pipe(Effect.provide(Live))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  configs: ReadonlyArray<MysqlNodeConfig>,
  options?: Cluster.Options
): Layer.Layer<
  Cluster.Cluster | SqlClient.SqlClient | MysqlClient.MysqlClient,
  ClusterConfigError | PoolConfigError | ConnectError<ConnectFailure>
> =>
  Layer.scopedContext(
    Effect.map(Cluster.make(nodes(configs), options), (cluster) =>
      Context.make(Cluster.Cluster, cluster).pipe(
        Context.add(SqlClient.SqlClient, cluster.sql),
        Context.add(
          MysqlClient.MysqlClient,
          internal.asMysqlClient(cluster.sql, configs.find((config) => config.role === "primary"))
        )
      ))
  )

/**
 * Writes the heartbeat that `Replication.mariadbHeartbeat(table)` reads: every `every` (default 100 ms),
 * `REPLACE INTO <table> (id, ts) VALUES (1, UTC_TIMESTAMP(6))` on the cluster's primary, for as long as it
 * runs (fork it in the cluster's scope). A write that fails (the primary down) is skipped; the next one
 * is tried on time.
 *
 * @example
 * ```ts
 * import { Cluster, MysqlCluster, Replication } from "@dbpool/cluster"
 * import { Effect, Redacted } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const cluster = yield* Cluster.make(MysqlCluster.nodes([
 *     { name: "primary", role: "primary", url: Redacted.make("mysql://app@db1:3306/app") },
 *     { name: "replica", role: "replica", url: Redacted.make("mysql://app@db2:3306/app") }
 *   ]), { replication: Replication.mariadbHeartbeat("dbpool_heartbeat"), maxReplicaLag: "500 millis" })
 *   yield* Effect.forkScoped(MysqlCluster.heartbeat(cluster, "dbpool_heartbeat"))
 *   return yield* Cluster.read(cluster.sql`SELECT count(*) AS n FROM events`)
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const heartbeat: (
  cluster: Cluster.Cluster,
  table: string,
  every?: Duration.DurationInput
) => Effect.Effect<never> = internal.heartbeat
