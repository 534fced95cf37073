/**
 * A disposable PostgreSQL cluster of the tests' own, on a spare port, that a test may stop, crash and
 * start again without touching the machine's main server. `initdb` runs once per test process into a
 * template (with a database `test`); each cluster is a copy of it (`cp -a`) in a fresh temporary
 * directory owned by `postgres`, with trust authentication on 127.0.0.1 and durability turned off.
 *
 * The server (`postgres`, run as the `postgres` user) is a child of the test process: closing the scope
 * stops it and deletes the directory; if the test process dies without closing it, an `exit` handler and
 * a watchdog process stop it and delete the directory.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as DisposableServer from "./DisposableServer.js"
import * as internal from "./internal/pgCluster.js"
import * as replica from "./internal/pgReplica.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = internal.TypeId

/**
 * How to stop the server: `"fast"` (SIGINT: sessions are ended, a checkpoint is written) or
 * `"immediate"` (SIGQUIT: like a crash, with recovery at the next start).
 *
 * @since 0.1.0
 * @category models
 */
export type StopMode = DisposableServer.StopMode

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends DisposableServer.Options {
  /** `max_connections`. Default: the template's (100). */
  readonly maxConnections?: number | undefined
  /** More server settings, passed as `-c name=value` (booleans as on/off). */
  readonly settings?: Readonly<Record<string, string | number | boolean>> | undefined
  /** The database of `url` and `sql`; created at the first start unless it is `test` or `postgres`. Default: `test`. */
  readonly database?: string | undefined
}

/**
 * A running (or stopped) disposable cluster: user `postgres` (a superuser) with no password,
 * `postgres://postgres@127.0.0.1:<port>/<database>`; `sql` runs with the application_name
 * `dbpool-testing-admin`.
 *
 * @example
 * ```ts
 * import { PgCluster } from "@dbpool/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const cluster = yield* PgCluster.make({ maxConnections: 20 })
 *   // a pool on cluster.url ...
 *   yield* cluster.stop("immediate")
 *   yield* cluster.start
 *   const rows = yield* cluster.sql("SELECT 1 AS one") // [{ one: 1 }]
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface PgCluster extends DisposableServer.DatabaseServer<PgClusterError> {
  readonly [TypeId]: TypeId
  /** Terminates the backends with this application_name (`pg_terminate_backend`); returns how many. */
  readonly terminateBackends: (applicationName: string) => Effect.Effect<number, PgClusterError>
  /** Backends with this application_name in `pg_stat_activity` (the admin connection is never counted). */
  readonly countConnections: (applicationName: string) => Effect.Effect<number, PgClusterError>
}

/**
 * A cluster could not be set up or started, or an admin query failed.
 *
 * @since 0.1.0
 * @category errors
 */
export class PgClusterError extends Data.TaggedError("PgClusterError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * Creates a cluster on a spare port and starts it (unless `start: false`). Closing the scope stops the
 * server (immediate) and deletes its directory.
 *
 * @example
 * ```ts
 * import { PgCluster } from "@dbpool/testing"
 * import { Effect } from "effect"
 *
 * const small = PgCluster.make({ maxConnections: 5, settings: { superuser_reserved_connections: 0 } })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: Options) => Effect.Effect<PgCluster, PgClusterError, Scope.Scope> = internal.make

/**
 * A streaming replica of a disposable cluster (a hot standby: it answers reads), on a spare port of its own,
 * made by `makeReplica`. It is a cluster too (`sql`, `stop`, `start`, ...); stopped and started again it
 * is still a replica and catches up from the primary.
 *
 * @since 0.1.0
 * @category models
 */
export interface PgReplica extends PgCluster {
  /** The cluster this replica streams from. */
  readonly primary: PgCluster
  /** The last WAL position replayed (`pg_last_wal_replay_lsn()`), as `X/Y`. */
  readonly replayLsn: Effect.Effect<string, PgClusterError>
  /** Waits until the replica has replayed up to `lsn` (default bound: 30 s, then `PgClusterError`). */
  readonly awaitReplay: (lsn: string, timeout?: Duration.DurationInput) => Effect.Effect<void, PgClusterError>
  /** Waits until the replica has replayed all that the primary had written when called. */
  readonly catchUp: (timeout?: Duration.DurationInput) => Effect.Effect<void, PgClusterError>
  /** Pauses replay (`pg_wal_replay_pause()`): the primary's new writes are received but not visible here. */
  readonly pauseReplay: Effect.Effect<void, PgClusterError>
  /** Resumes replay (`pg_wal_replay_resume()`). */
  readonly resumeReplay: Effect.Effect<void, PgClusterError>
  /** `pg_is_in_recovery()`: true while it is a replica, false once promoted. */
  readonly isInRecovery: Effect.Effect<boolean, PgClusterError>
  /** Promotes the replica to a primary (`pg_promote`), waiting until it accepts writes. */
  readonly promote: Effect.Effect<void, PgClusterError>
}

/**
 * Makes a streaming replica of a running cluster: `pg_basebackup -R -X stream` from it into a fresh
 * directory, then a hot standby on a spare port (started unless `start: false`). Closing the scope stops
 * it and deletes its directory. The primary needs no special options.
 *
 * @example
 * ```ts
 * import { PgCluster } from "@dbpool/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const primary = yield* PgCluster.make()
 *   const replica = yield* PgCluster.makeReplica(primary)
 *   yield* primary.sql("CREATE TABLE t (n int)")
 *   yield* replica.catchUp()
 *   const rows = yield* replica.sql("SELECT count(*)::int AS n FROM t") // [{ n: 0 }]
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeReplica: (
  primary: PgCluster,
  options?: Options
) => Effect.Effect<PgReplica, PgClusterError, Scope.Scope> = replica.makeReplica

/**
 * Whether LSN `a` is at or after LSN `b` (both as PostgreSQL prints them, `X/Y` in hexadecimal).
 *
 * @example
 * ```ts
 * import { PgCluster } from "@dbpool/testing"
 *
 * PgCluster.lsnAtLeast("0/3000060", "0/2FFFFFF") // true
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const lsnAtLeast: (a: string, b: string) => boolean = replica.lsnAtLeast

/**
 * The tag of a cluster provided by `layer`.
 *
 * @example
 * ```ts
 * import { PgCluster } from "@dbpool/testing"
 * import { Effect } from "effect"
 *
 * const crash = Effect.flatMap(PgCluster.PgCluster, (cluster) => cluster.stop("immediate"))
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export const PgCluster: Context.Tag<PgCluster, PgCluster> = Context.GenericTag<PgCluster>(
  "@dbpool/testing/PgCluster"
)

/**
 * A cluster as a layer: started when the layer is built, stopped and deleted with the layer's scope.
 *
 * @example
 * ```ts
 * import { PgCluster } from "@dbpool/testing"
 *
 * const ClusterLive = PgCluster.layer({ maxConnections: 20 })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<PgCluster, PgClusterError> =>
  Layer.scoped(PgCluster, make(options))

/**
 * Whether a value is a `PgCluster`.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isPgCluster = (u: unknown): u is PgCluster => typeof u === "object" && u !== null && internal.TypeId in u
