/**
 * A disposable MariaDB primary and replica of the tests' own, each on a spare port with its own datadir
 * and socket (see `MariaServer`): the primary writes a binary log (`server_id` 1, row format), a replica
 * (`server_id` 2, 3, ..., `read_only`, with a binary log of what it applies) replicates from it by GTID
 * (`CHANGE MASTER TO ... MASTER_USE_GTID=slave_pos`, `START SLAVE`). A replica is a `MariaServer` too: stopped and started again,
 * it resumes replicating where it was and catches up. Optionally semi-synchronous (`semiSync`), and
 * promoted to a primary of its own (`promote`) for failover tests.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/mariaReplica.js"
import type * as MariaServer from "./MariaServer.js"
import type { MariaServerError } from "./MariaServer.js"

/**
 * The replica's side of replication, from `SHOW SLAVE STATUS`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReplicaStatus {
  /** `Slave_IO_Running`: `"Yes"`, `"No"` or `"Connecting"` (the primary cannot be reached). */
  readonly ioThread: string
  /** `Slave_SQL_Running`: `"Yes"` or `"No"` (stopped with `stopSqlThread`, or by an error). */
  readonly sqlThread: string
  /** `Seconds_Behind_Master`: `null` while a thread is not running. */
  readonly secondsBehindMaster: number | null
  /** The last I/O or SQL thread error, `""` when none. */
  readonly lastError: string
  /** `Gtid_IO_Pos`: the last GTID received (in the relay log, applied or not) in each replication domain. */
  readonly received: string
}

/**
 * Options of `make`: the server's (as `MariaServer.make`'s), and semi-synchronous replication.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends MariaServer.Options {
  /**
   * Semi-synchronous replication (built into MariaDB 10.3 and later): the primary acknowledges a commit to
   * its client only once this replica has it in its relay log (`rpl_semi_sync_master_wait_point =
   * AFTER_SYNC`, set on the primary with `rpl_semi_sync_master_enabled`; the replica starts with
   * `rpl_semi_sync_slave_enabled`). `make` waits until the primary counts it as a semi-synchronous client.
   * Default: false (asynchronous).
   */
  readonly semiSync?: boolean | undefined
  /**
   * How long the primary waits for the replica's acknowledgement before it falls back to asynchronous
   * replication (`rpl_semi_sync_master_timeout`; `semiSyncStatus` then reports `on: false` and counts
   * the commits acknowledged without it). Default: 60 seconds.
   */
  readonly semiSyncTimeout?: Duration.DurationInput | undefined
}

/**
 * A primary's semi-synchronous side, from its `Rpl_semi_sync_master_*` status variables.
 *
 * @since 0.1.0
 * @category models
 */
export interface SemiSyncStatus {
  /** `Rpl_semi_sync_master_status`: on, or off (not enabled, or fallen back to asynchronous). */
  readonly on: boolean
  /** `Rpl_semi_sync_master_clients`: replicas connected as semi-synchronous. */
  readonly clients: number
  /** `Rpl_semi_sync_master_yes_tx`: commits a replica acknowledged. */
  readonly acknowledged: number
  /** `Rpl_semi_sync_master_no_tx`: commits acknowledged to their client without a replica's acknowledgement. */
  readonly unacknowledged: number
}

/**
 * Options of `MariaReplica.promote`.
 *
 * @since 0.1.0
 * @category models
 */
export interface PromoteOptions {
  /** How long to wait for the replica to apply all it received. Default: 30 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * A term table (as `Replication.mariadbTerm` of `@dbpool/cluster` reads): its row's `term` is raised
   * (`INSERT INTO <table> (id, term) VALUES (1, 1) ON DUPLICATE KEY UPDATE term = term + 1`) once the
   * replica has applied all it received and before `read_only` is turned off.
   */
  readonly termTable?: string | undefined
}

/**
 * A replica made by `make`.
 *
 * @example
 * ```ts
 * import { MariaReplica } from "@dbpool/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const primary = yield* MariaReplica.makePrimary()
 *   const replica = yield* MariaReplica.make(primary)
 *   yield* primary.sql("CREATE TABLE t (n int)")
 *   yield* replica.stopSqlThread
 *   yield* primary.sql("INSERT INTO t VALUES (1)") // received, not applied
 *   yield* replica.startSqlThread
 *   yield* replica.catchUp()
 *   return yield* replica.sql("SELECT count(*) AS n FROM t") // [{ n: 1 }]
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface MariaReplica extends MariaServer.MariaServer {
  /** The server this replica replicates from. */
  readonly primary: MariaServer.MariaServer
  /** Its `server_id`. */
  readonly serverId: number
  /** `@@gtid_slave_pos`: the last GTID applied in each domain (`""` before the first). */
  readonly position: Effect.Effect<string, MariaServerError>
  readonly status: Effect.Effect<ReplicaStatus, MariaServerError>
  /** Waits until the replica has applied up to `gtid` in each of its domains (default bound: 30 s). */
  readonly awaitPosition: (gtid: string, timeout?: Duration.DurationInput) => Effect.Effect<void, MariaServerError>
  /** Waits until the replica has applied all that the primary had logged when called (`@@gtid_binlog_pos`). */
  readonly catchUp: (timeout?: Duration.DurationInput) => Effect.Effect<void, MariaServerError>
  /**
   * `STOP SLAVE SQL_THREAD`: the primary's new transactions still arrive (relay log) but are not applied,
   * and `Seconds_Behind_Master` is `null`.
   */
  readonly stopSqlThread: Effect.Effect<void, MariaServerError>
  /** `START SLAVE SQL_THREAD`: applies what arrived meanwhile. */
  readonly startSqlThread: Effect.Effect<void, MariaServerError>
  /**
   * Makes it a primary of its own: `START SLAVE SQL_THREAD` (if it was stopped), `STOP SLAVE IO_THREAD`
   * (nothing more is received), waits until it has applied all it received (`Gtid_IO_Pos`; default bound
   * 30 s), then `STOP SLAVE`, `RESET SLAVE ALL` and `SET GLOBAL read_only = 0`. The SQL thread starts first
   * because in GTID mode a SQL thread started while the I/O thread is stopped drops the relay log (to fetch
   * it again from the primary): what was received and not applied would be lost with the primary gone. It
   * does not stop or fence the old primary: make it read-only or stop it first, or two servers take
   * writes. The primary's commits that the replica had not received are not on it (with `semiSync`, none
   * that the primary acknowledged).
   */
  readonly promote: (options?: PromoteOptions) => Effect.Effect<void, MariaServerError>
}

/**
 * A disposable MariaDB server (as `MariaServer.make`) that writes a binary log (`log_bin`, `server_id`
 * 1, `binlog_format=ROW`) from its first start on, so that a replica can be made of it at any time.
 * Options and settings as `MariaServer.make`'s (settings given override these).
 *
 * @example
 * ```ts
 * import { MariaReplica } from "@dbpool/testing"
 * import { Effect } from "effect"
 *
 * const position = Effect.flatMap(MariaReplica.makePrimary(), (primary) =>
 *   primary.sql("SELECT @@gtid_binlog_pos AS pos"))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makePrimary: (
  options?: MariaServer.Options
) => Effect.Effect<MariaServer.MariaServer, MariaServerError, Scope.Scope> = internal.makePrimary

/**
 * Makes a replica of a primary from `makePrimary`: a new disposable server (`server_id` 2, 3, ... in this
 * process, `read_only`, started) replicating from it as root, from the start of its binary log, and waits
 * until both replication threads run (with `semiSync`, also until the primary counts it as a
 * semi-synchronous client). Closing the scope stops it and deletes its directory. A primary with no
 * binary log, or replication that does not start, fails with `MariaServerError`.
 *
 * @example
 * ```ts
 * import { MariaReplica } from "@dbpool/testing"
 * import { Effect } from "effect"
 *
 * const pair = Effect.gen(function*() {
 *   const primary = yield* MariaReplica.makePrimary()
 *   const replica = yield* MariaReplica.make(primary)
 *   return { primary, replica }
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  primary: MariaServer.MariaServer,
  options?: Options
) => Effect.Effect<MariaReplica, MariaServerError, Scope.Scope> = internal.make

/**
 * Whether GTID position `a` has reached `b` in every replication domain of `b` (MariaDB positions,
 * `domain-server-seq` separated by commas; the server id is not compared).
 *
 * @example
 * ```ts
 * import { MariaReplica } from "@dbpool/testing"
 *
 * MariaReplica.gtidAtLeast("0-1-12,1-2-3", "0-1-10") // true
 * MariaReplica.gtidAtLeast("0-1-12", "0-1-10,1-2-3") // false: domain 1 not reached
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const gtidAtLeast: (a: string, b: string) => boolean = internal.gtidAtLeast

/**
 * A primary's semi-synchronous side (see `Options.semiSync`): whether it is on, its semi-synchronous
 * replicas, and how many commits were acknowledged with and without a replica's acknowledgement.
 *
 * @example
 * ```ts
 * import { MariaReplica } from "@dbpool/testing"
 * import { Effect } from "effect"
 *
 * const status = Effect.gen(function*() {
 *   const primary = yield* MariaReplica.makePrimary()
 *   yield* MariaReplica.make(primary, { semiSync: true })
 *   return yield* MariaReplica.semiSyncStatus(primary) // { on: true, clients: 1, ... }
 * })
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const semiSyncStatus: (primary: MariaServer.MariaServer) => Effect.Effect<SemiSyncStatus, MariaServerError> =
  internal.semiSyncStatus
