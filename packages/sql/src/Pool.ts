/**
 * The pool of SQL connections as a service: `Pool` for what only a pool can
 * do (borrow a connection, hold one for a transaction, statistics, events),
 * and the same pool as @effect/sql's `SqlClient`, so tagged-template queries,
 * `withTransaction`, `SqlSchema`, `SqlResolver` and migrators run on it
 * unchanged.
 *
 * @since 0.1.0
 */
import type * as PoolConfig from "@dbpool/core/PoolConfig"
import type { ConnectError, PoolConfigError, PoolError } from "@dbpool/core/PoolError"
import type { PoolEvent } from "@dbpool/core/PoolEvent"
import type { PoolStats } from "@dbpool/core/PoolStats"
import type * as ResourcePool from "@dbpool/core/ResourcePool"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Connector } from "./Connector.js"
import * as internal from "./internal/pool.js"
import type { PooledConnection } from "./PooledConnection.js"

/**
 * A pool of SQL connections: a `ResourcePool` of `PooledConnection`s, plus a
 * `SqlClient` over the whole pool and the two ways to borrow.
 *
 * A statement run through `sql` outside a transaction borrows a connection
 * for that statement only. A connection that failed at connection level,
 * was released with a statement still running (its fiber was interrupted:
 * the statement is cancelled on the server), or inside an open transaction is
 * closed and replaced, never lent again, except a connection whose
 * interrupted statement the driver saw settle (the connector's `settle`: the
 * cancel and the statement both answered, the session idle outside a
 * transaction), which is kept.
 *
 * @since 0.1.0
 * @category models
 */
export interface Pool<Native = unknown> extends ResourcePool.ResourcePool<PooledConnection<Native>, unknown> {
  /** A client over the whole pool. */
  readonly sql: SqlClient.SqlClient
  /** Borrows one connection for the duration of `f`. */
  readonly withConnection: <A, E, R>(
    f: (conn: PooledConnection<Native>) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | PoolError, R>
  /**
   * Runs `f` in a transaction on one connection, held throughout: committed
   * if `f` succeeds, rolled back otherwise. Statements through `sql` (or the
   * `SqlClient` tag) inside `f` join it; a nested call makes a savepoint.
   */
  readonly withTransaction: <A, E, R>(
    f: (conn: PooledConnection<Native>) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | PoolError | SqlError, R>
}

/**
 * The tag of the default pool. `layer` provides it together with
 * `SqlClient.SqlClient`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pool } from "@dbpool/sql"
 *
 * const program = Effect.gen(function*() {
 *   const pool = yield* Pool.Pool
 *   const stats = yield* pool.stats
 *   yield* Effect.log(`${stats.activeConnections}/${stats.totalConnections} in use`)
 * })
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export const Pool: Context.Tag<Pool, Pool> = internal.tag

/**
 * Borrows a connection of the default pool for the duration of `f`.
 *
 * @example
 * ```ts
 * import { Pool } from "@dbpool/sql"
 *
 * const users = Pool.withConnection((conn) => conn.sql`SELECT id, name FROM users LIMIT 10`)
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const withConnection = <A, E, R>(
  f: (conn: PooledConnection) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | PoolError, R | Pool> => Effect.flatMap(Pool, (pool) => pool.withConnection(f))

/**
 * Runs `f` in a transaction on one connection of the default pool.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pool } from "@dbpool/sql"
 *
 * const transfer = Pool.withTransaction((conn) =>
 *   Effect.all([
 *     conn.sql`UPDATE accounts SET balance = balance - 10 WHERE id = 1`,
 *     conn.sql`UPDATE accounts SET balance = balance + 10 WHERE id = 2`
 *   ])
 * )
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const withTransaction = <A, E, R>(
  f: (conn: PooledConnection) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | PoolError | SqlError, R | Pool> => Effect.flatMap(Pool, (pool) => pool.withTransaction(f))

/**
 * An exact snapshot of the default pool's statistics.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pool } from "@dbpool/sql"
 *
 * const report = Effect.map(Pool.stats, (s) => `${s.activeConnections}/${s.totalConnections}`)
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const stats: Effect.Effect<PoolStats, never, Pool> = Effect.flatMap(Pool, (pool) => pool.stats)

/**
 * The default pool's statistics as they change (the current value first).
 *
 * @example
 * ```ts
 * import { Console, Stream } from "effect"
 * import { Pool } from "@dbpool/sql"
 *
 * const watch = Pool.changes.pipe(
 *   Stream.take(3),
 *   Stream.runForEach((s) => Console.log(`${s.activeConnections}/${s.totalConnections}`))
 * )
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const changes: Stream.Stream<PoolStats, never, Pool> = Stream.unwrap(Effect.map(Pool, (pool) => pool.changes))

/**
 * Everything that happens in the default pool, from the moment of subscription.
 *
 * @example
 * ```ts
 * import { Console, Stream } from "effect"
 * import { Pool } from "@dbpool/sql"
 *
 * const log = Pool.events.pipe(Stream.runForEach((event) => Console.log(event._tag)))
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const events: Stream.Stream<PoolEvent, never, Pool> = Stream.unwrap(Effect.map(Pool, (pool) => pool.events))

/**
 * One entry per open connection of the default pool: id, age, uses, state.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pool } from "@dbpool/sql"
 *
 * const oldest = Effect.map(Pool.metrics, (conns) => Math.max(0, ...conns.map((c) => c.age)))
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const metrics: Effect.Effect<ReadonlyArray<ResourcePool.ConnectionInfo>, never, Pool> = Effect.flatMap(
  Pool,
  (pool) => pool.metrics
)

/**
 * Makes a pool in the current scope from a driver's connector. Most programs
 * use `layer` (or a driver's `layer`) instead.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { Connector } from "@dbpool/sql/Connector"
 * import { Pool } from "@dbpool/sql"
 *
 * declare const connector: Connector<unknown>
 * const program = Effect.gen(function*() {
 *   const pool = yield* Pool.make(connector, { maxConnections: 10 })
 *   return yield* pool.sql`SELECT 1`
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: <N, E>(
  connector: Connector<N, E>,
  config?: PoolConfig.Input | undefined
) => Effect.Effect<Pool<N>, PoolConfigError | ConnectError<E>, Scope.Scope> = (connector, config) =>
  internal.make(connector, config)

/**
 * What a further client over a pool's connections may set for itself: the
 * statement compiler (with its name transforms) and the row transforms.
 * Unset fields are the pool's own.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientOptions {
  readonly compiler?: Statement.Compiler | undefined
  readonly transformRows?: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
  /**
   * How a statement outside a transaction reaches a connection, given the
   * pool's own way (a connection borrowed for that one statement): a driver
   * may send it over a connection shared with other statements instead
   * (`@dbpool/pg`'s pipelining). Transactions, `reserve` and streams keep
   * connections of their own.
   */
  readonly statements?: ((exclusive: StatementRunner) => StatementRunner) | undefined
}

/**
 * Runs one statement with the connection method `kind` (`execute`,
 * `executeRaw`, `executeValues`, `executeUnprepared`) and gives back its
 * result.
 *
 * @since 0.1.0
 * @category models
 */
export type StatementRunner = (
  kind: "execute" | "executeRaw" | "executeValues" | "executeUnprepared",
  sql: string,
  params: ReadonlyArray<unknown>,
  transformRows: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
) => Effect.Effect<any, SqlError>

/**
 * A new `SqlClient` over the pool's connections (not a second set of
 * connections): it borrows from the pool, joins the pool's transactions and
 * shares its `Reactivity`, with its own compiler and row transforms when
 * given. The pool's own `sql` is left as it is, so a driver can add members
 * to the new client (its own client interface) without touching the pool's.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Statement } from "@effect/sql"
 * import { Pool } from "@dbpool/sql"
 *
 * const program = Effect.gen(function*() {
 *   const pool = yield* Pool.Pool
 *   const snake = Pool.makeClient(pool, { compiler: Statement.makeCompilerSqlite((name) => name.toLowerCase()) })
 *   return yield* snake`SELECT ${snake("Id")} FROM users`
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeClient: (pool: Pool<any>, options?: ClientOptions | undefined) => SqlClient.SqlClient = (
  pool,
  options
) => internal.makePoolClient(pool, options ?? {})

/**
 * How a routed client runs one statement outside a transaction: it calls
 * `run` with the pool of its choice (more than once to retry elsewhere) and
 * may observe the outcome. Called when the statement runs, in its fiber.
 *
 * @since 0.1.0
 * @category models
 */
export type Route = <A, R>(
  run: (pool: Pool<any>) => Effect.Effect<A, SqlError, R>
) => Effect.Effect<A, SqlError, R>

/**
 * A `SqlClient` over several pools: each statement outside a transaction
 * runs where `route` sends it. Transactions, `reserve` and the statement
 * compiler are `primary`'s; a statement inside a transaction runs on the
 * transaction's connection. The pools must share the default transaction tag
 * (pools from `make` or `layer` do), so that each joins the others'
 * transactions. What `@dbpool/cluster` sends reads to replicas with.
 *
 * @example
 * ```ts
 * import { Pool } from "@dbpool/sql"
 *
 * declare const primary: Pool.Pool
 * declare const replica: Pool.Pool
 * // every statement outside a transaction on the replica, transactions on the primary
 * const sql = Pool.makeRoutedClient(primary, (run) => run(replica))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeRoutedClient: (
  primary: Pool<any>,
  route: Route,
  options?: RoutedClientOptions | undefined
) => SqlClient.SqlClient = internal.makeRoutedClient

/**
 * Options of `makeRoutedClient`: `begin`, the statement its transactions open with instead of the
 * connector's (`@dbpool/cluster` begins `BEGIN READ WRITE` on PostgreSQL, which a standby refuses before the
 * transaction's effect starts).
 *
 * @example
 * ```ts
 * import { Pool } from "@dbpool/sql"
 *
 * const options: Pool.RoutedClientOptions = { begin: "BEGIN READ WRITE" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RoutedClientOptions {
  readonly begin?: string | undefined
}

/**
 * A layer providing the default `Pool` and `SqlClient.SqlClient`, both over
 * one pool built from a connector (or an effect making one). The client's
 * `reactive` queries hear the `Reactivity` service of the context: the layer
 * provides `Reactivity.layer`, shared (as one layer value) with a program that
 * provides it too for its own `Reactivity.mutation`.
 *
 * @example
 * ```ts
 * import type { Connector } from "@dbpool/sql/Connector"
 * import { Pool } from "@dbpool/sql"
 *
 * declare const connector: Connector<unknown>
 * const PoolLive = Pool.layer(connector, { minConnections: 2, maxConnections: 20 })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: <N, E, CE = never, CR = never>(
  connector: Connector<N, E> | Effect.Effect<Connector<N, E>, CE, CR>,
  config?: PoolConfig.Input | undefined
) => Layer.Layer<Pool | SqlClient.SqlClient, PoolConfigError | ConnectError<E> | CE, Exclude<CR, Scope.Scope>> =
  internal.layer

/**
 * The tag of an extra pool (a replica, an analytics database), with the same
 * accessors as the default pool and a layer of its own. Its transactions are
 * its own: a statement on one pool never joins another pool's transaction.
 *
 * @since 0.1.0
 * @category models
 */
export interface PoolTag<Id extends string> extends Context.Tag<PoolTag.Identifier<Id>, Pool> {
  readonly withConnection: <A, E, R>(
    f: (conn: PooledConnection) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | PoolError, R | PoolTag.Identifier<Id>>
  readonly withTransaction: <A, E, R>(
    f: (conn: PooledConnection) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | PoolError | SqlError, R | PoolTag.Identifier<Id>>
  /** The pool's `SqlClient`. */
  readonly sql: Effect.Effect<SqlClient.SqlClient, never, PoolTag.Identifier<Id>>
  readonly stats: Effect.Effect<PoolStats, never, PoolTag.Identifier<Id>>
  readonly changes: Stream.Stream<PoolStats, never, PoolTag.Identifier<Id>>
  readonly events: Stream.Stream<PoolEvent, never, PoolTag.Identifier<Id>>
  readonly metrics: Effect.Effect<ReadonlyArray<ResourcePool.ConnectionInfo>, never, PoolTag.Identifier<Id>>
  /** Builds this pool (named after the tag unless the config says otherwise). */
  readonly layer: <N, E, CE = never, CR = never>(
    connector: Connector<N, E> | Effect.Effect<Connector<N, E>, CE, CR>,
    config?: PoolConfig.Input | undefined
  ) => Layer.Layer<PoolTag.Identifier<Id>, PoolConfigError | ConnectError<E> | CE, Exclude<CR, Scope.Scope>>
}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace PoolTag {
  /**
   * The service identifier of the pool tagged `Id`.
   *
   * @since 0.1.0
   * @category models
   */
  export type Identifier<Id extends string> = `@dbpool/sql/Pool/${Id}`
}

/**
 * Makes the tag of an extra pool. Give each database its own.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pool } from "@dbpool/sql"
 *
 * const Replica = Pool.makeTag("Replica")
 * const Analytics = Pool.makeTag("Analytics")
 *
 * const program = Effect.gen(function*() {
 *   const replica = yield* Replica.sql
 *   const rows = yield* replica`SELECT count(*) AS n FROM users`
 *   const stats = yield* Analytics.stats
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeTag: <const Id extends string>(id: Id) => PoolTag<Id> = internal.makeTag
