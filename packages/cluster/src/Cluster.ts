/**
 * Several database nodes as one: a primary and its replicas, each node a dbpool pool of its own (its own
 * stats, events, circuit breaker), behind one `SqlClient`. A statement runs on the primary, unless it runs
 * inside `read(...)` and outside a transaction: then it runs on a usable replica picked by the selector.
 * Every transaction runs on the primary, and so does every statement inside one, `read` or not.
 *
 * A node is skipped for reads while it is down: its pool's circuit is open, or `removeAfterFailures`
 * statements in a row failed because the node could not be reached or the session was lost (a
 * `NodeDown` event). A down node is probed (`SELECT 1`) on the `probe` schedule and gets reads again after
 * the first probe that succeeds (a `NodeUp` event). With no usable replica, reads run on the primary, or
 * fail with `NoReplicaError` when `readFallback` is `"fail"`. A read that a replica's pool could not start
 * (no connection to lend: the statement never reached the server) runs again on the next choice.
 *
 * Failover: with a `replication` that has `isPrimary` (`PgCluster.layer` has it), which node is the primary
 * is discovered at start, on the `discovery` schedule and after a refused write. A write that did not run
 * (the node is read-only, or could not lend a connection) runs again on the primary of the moment, waiting
 * up to `failoverTimeout` for one (then `NoPrimaryError`); a write whose connection died is never run
 * again. A transaction begins with `replication.beginWrite` when there is one (PostgreSQL: `BEGIN READ
 * WRITE`; MariaDB and MySQL: `START TRANSACTION READ WRITE`), which a node that takes no writes refuses
 * before the transaction's effect starts, so it runs again on the primary. With failover, the pools of
 * `PgCluster.nodes` and `MysqlCluster.nodes` all start empty: the cluster starts with whichever nodes answer.
 * Several writable nodes at once: the one of the highest term is the primary, the others get no
 * statements (`SplitBrain`). Multi-master: with `writers`, every node with the role `primary` takes writes,
 * balanced by that selector.
 *
 * Driver-neutral: a node is any dbpool `Pool` (made with the default transaction tag); `PgCluster` builds
 * the nodes from PostgreSQL settings.
 *
 * @since 0.1.0
 */
import type * as Pool from "@dbpool/sql/Pool"
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Queue from "effect/Queue"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { ClusterConfigError } from "./ClusterError.js"
import type { ClusterEvent } from "./ClusterEvent.js"
import type { ClusterStats } from "./ClusterStats.js"
import * as internal from "./internal/cluster.js"
import * as ReadScope from "./internal/readScope.js"
import * as Session from "./internal/session.js"
import type { Replication } from "./Replication.js"
import type { Selector } from "./Selector.js"

/**
 * A node's role: the one `primary` takes writes and transactions, `replica`s take reads. With failover the
 * configured role is where the cluster starts; with `writers`, every `primary` takes writes.
 *
 * @since 0.1.0
 * @category models
 */
export type Role = "primary" | "replica"

/**
 * One node of a cluster: a name (unique; its pool must have the same name, `PoolConfig.name`, so that the
 * pool's stats and metrics carry it: a pool named otherwise fails the cluster's start with
 * `ClusterConfigError`), its role, its weight for the
 * `weighted` selector (above 0, default 1), and the effect that builds its pool in the cluster's scope.
 *
 * @since 0.1.0
 * @category models
 */
export interface NodeConfig<E = never, R = never> {
  readonly name: string
  readonly role: Role
  readonly weight?: number | undefined
  readonly pool: Effect.Effect<Pool.Pool<any>, E, R | Scope.Scope>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** How reads pick a replica. Default `"roundRobin"`. */
  readonly selector?: Selector | undefined
  /** With no usable replica: run reads on the primary (`"primary"`, the default) or fail (`"fail"`). */
  readonly readFallback?: "primary" | "fail" | undefined
  /** Consecutive node failures (unreachable, session lost) that take a node down. Default 3. */
  readonly removeAfterFailures?: number | undefined
  /**
   * When a down node is probed: each of the schedule's delays, then a `SELECT 1`; the first that succeeds
   * brings it up. A schedule that ends leaves the node down. Default: every second.
   */
  readonly probe?: Schedule.Schedule<unknown, unknown> | undefined
  /**
   * A replica measured further behind the primary than this gets no reads until it catches up (a
   * replica whose lag cannot be told while it is behind counts as over it). Needs `replication`. Default:
   * lag is not measured.
   */
  readonly maxReplicaLag?: Duration.DurationInput | undefined
  /** When lag is measured. Default: every 500 milliseconds. */
  readonly lagSchedule?: Schedule.Schedule<unknown, unknown> | undefined
  /**
   * How to read replication positions (`PgCluster` gives `Replication.postgres`). With its `isPrimary`, the
   * primary is discovered (failover, below) unless `writers` is set.
   */
  readonly replication?: Replication | undefined
  /**
   * Failover: how long a write waits for a primary when there is none (the primary is unreachable or
   * read-only and no other node took its place), before it fails with `NoPrimaryError`. Default 10 seconds.
   */
  readonly failoverTimeout?: Duration.DurationInput | undefined
  /**
   * Failover: when every node is asked whether it takes writes, besides at start and after a refused write
   * (the schedule's first run is after its first delay). Default: every second.
   */
  readonly discovery?: Schedule.Schedule<unknown, unknown> | undefined
  /**
   * Multi-master: every node with the role `primary` takes writes, and this selector balances them (a down
   * writer is skipped; a write it refused before running runs on another). Default: one primary.
   */
  readonly writers?: Selector | undefined
}

/**
 * A node's health as the cluster sees it.
 *
 * @since 0.1.0
 * @category models
 */
export interface NodeHealth {
  readonly up: boolean
  /** Consecutive node failures of its statements. */
  readonly failures: number
  /** Why it is down. */
  readonly reason: string | undefined
  /** A replica's last measured lag behind the primary in milliseconds (measured only with `maxReplicaLag`). */
  readonly lagMillis: number | undefined
  /** The replayed position its lag was measured at (PostgreSQL: an LSN). */
  readonly position: string | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Node {
  readonly name: string
  /** Its role now: with failover, the discovered one. */
  readonly role: Role
  readonly weight: number
  /** The node's own pool: its stats, changes, events and metrics, and statements on this node only. */
  readonly pool: Pool.Pool<any>
  readonly health: Effect.Effect<NodeHealth>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Cluster {
  /** In the configured order. */
  readonly nodes: ReadonlyArray<Node>
  /** The primary now (with failover: the last one discovered, kept while there is none). */
  readonly primary: Node
  /** The primary now, or `undefined` while there is none (failover); with `writers`, the usable writers' first. */
  readonly currentPrimary: Effect.Effect<Node | undefined>
  /** The client that routes (also provided as `SqlClient` by `layer`). */
  readonly sql: SqlClient.SqlClient
  /** `NodeDown`, `NodeUp` and the primary's changes, from the stream's start on. */
  readonly events: Stream.Stream<ClusterEvent>
  /** A subscription to the events, taken now (none is missed after it), ended with the scope. */
  readonly subscribe: Effect.Effect<Queue.Dequeue<ClusterEvent>, never, Scope.Scope>
  readonly health: Effect.Effect<ReadonlyArray<NodeHealth & { readonly name: string }>>
  /** Every node's role, health, lag, routed statements and pool statistics, and their sums: exact, now. */
  readonly stats: Effect.Effect<ClusterStats>
  /**
   * The statistics as they change: the current ones first, then the new ones when they differ, looked at
   * every `statsInterval` (the shortest of the node pools'), when a node goes down or up, and when lag is
   * measured.
   */
  readonly changes: Stream.Stream<ClusterStats>
}

/**
 * The tag of the cluster provided by `layer`.
 *
 * @example
 * ```ts
 * import { Cluster } from "@dbpool/cluster"
 * import { Effect } from "effect"
 *
 * const replicaStats = Effect.flatMap(Cluster.Cluster, (cluster) =>
 *   Effect.forEach(cluster.nodes.filter((node) => node.role === "replica"), (node) => node.pool.stats))
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export const Cluster: Context.Tag<Cluster, Cluster> = internal.tag

/**
 * Builds every node's pool (concurrently) and the routing client, after checking the configuration
 * (`ClusterConfigError`: no nodes, no primary, several without `writers`, a duplicate name, an option out
 * of range; once the pools are built, a pool not named after its node). With failover, every node is asked
 * whether it takes writes before it returns.
 *
 * @example
 * ```ts
 * import { Cluster } from "@dbpool/cluster"
 * import { Pool } from "@dbpool/sql"
 * import type { Connector } from "@dbpool/sql/Connector"
 * import { Effect } from "effect"
 *
 * declare const primary: Connector<unknown>
 * declare const replica: Connector<unknown>
 * const program = Effect.gen(function*() {
 *   const cluster = yield* Cluster.make([
 *     { name: "primary", role: "primary", pool: Pool.make(primary, { name: "primary" }) },
 *     { name: "replica-1", role: "replica", pool: Pool.make(replica, { name: "replica-1" }) }
 *   ], { selector: "leastBusy" })
 *   return yield* Cluster.read(cluster.sql`SELECT 1`)
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: <E = never, R = never>(
  nodes: ReadonlyArray<NodeConfig<E, R>>,
  options?: Options
) => Effect.Effect<Cluster, ClusterConfigError | E, R | Scope.Scope> = internal.make

/**
 * The cluster as a layer providing `Cluster` and `SqlClient`: programs written against `SqlClient` run
 * unchanged (everything on the primary) and mark their reads with `read`.
 *
 * @example
 * ```ts
 * import { Cluster } from "@dbpool/cluster"
 * import { Pool } from "@dbpool/sql"
 * import type { Connector } from "@dbpool/sql/Connector"
 *
 * declare const primary: Connector<unknown>
 * declare const replica: Connector<unknown>
 * const ClusterLive = Cluster.layer([
 *   { name: "primary", role: "primary", pool: Pool.make(primary, { name: "primary" }) },
 *   { name: "replica-1", role: "replica", pool: Pool.make(replica, { name: "replica-1" }) }
 * ])
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: <E = never, R = never>(
  nodes: ReadonlyArray<NodeConfig<E, R>>,
  options?: Options
) => Layer.Layer<Cluster | SqlClient.SqlClient, ClusterConfigError | E, Exclude<R, Scope.Scope>> = internal.layer

/**
 * Runs `effect` as a read: its statements outside a transaction go to a replica. A transaction inside it
 * still runs on the primary. Inside a `readWith`, the outer selector stays.
 *
 * @example
 * ```ts
 * import { Cluster } from "@dbpool/cluster"
 * import { SqlClient } from "@effect/sql"
 * import { Effect } from "effect"
 *
 * const users = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT id, name FROM users`)
 * const fromReplica = Cluster.read(users)
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const read: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R> = ReadScope.read

/**
 * Like `read`, with a selector of its own for this read instead of the cluster's (also for the `read`s
 * inside it).
 *
 * @example
 * ```ts
 * import { Cluster } from "@dbpool/cluster"
 * import { SqlClient } from "@effect/sql"
 * import { Effect } from "effect"
 *
 * const report = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT count(*) FROM orders`)
 * // the first usable replica in the configured order (a reporting replica listed first)
 * const onReportingReplica = Cluster.readWith("ordered")(report)
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const readWith: (
  selector: Selector
) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R> = ReadScope.readWith

/**
 * Runs `effect` as a read-your-writes session: after a statement or transaction of the session ran on the
 * primary, its reads run only where that write is visible, on a replica whose replayed position has
 * reached the primary's position taken after the write (PostgreSQL: replay LSN ≥ `pg_current_wal_lsn()`),
 * else on the primary. A read after a write costs one position query on the primary (the first one only
 * until the next write) and, when the measured positions do not show a replica caught up, one on each
 * usable replica. Needs `replication` (`PgCluster` has it); without it, reads after a write run on the
 * primary. Fibers forked inside share the session.
 *
 * @example
 * ```ts
 * import { Cluster } from "@dbpool/cluster"
 * import { SqlClient } from "@effect/sql"
 * import { Effect } from "effect"
 *
 * const signup = Effect.gen(function*() {
 *   const sql = yield* SqlClient.SqlClient
 *   yield* sql`INSERT INTO users (name) VALUES ('ada')`
 *   // a replica that has replayed the INSERT, or the primary
 *   return yield* Cluster.read(sql`SELECT count(*) FROM users WHERE name = 'ada'`)
 * }).pipe(Cluster.readYourWrites)
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const readYourWrites: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R> =
  Session.readYourWrites

/**
 * Runs `effect` on the primary even inside a `read`: for the part of a read that must see the latest write.
 *
 * @example
 * ```ts
 * import { Cluster } from "@dbpool/cluster"
 * import { SqlClient } from "@effect/sql"
 * import { Effect } from "effect"
 *
 * const balance = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT balance FROM accounts WHERE id = 1`)
 * const fresh = Cluster.read(Cluster.onPrimary(balance))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const onPrimary: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R> = ReadScope.write
