/**
 * A disposable MariaDB primary and replica of the tests' own, each on a spare port with its own datadir
 * and socket (see `MariaServer`): the primary writes a binary log (`server_id` 1, row format), a replica
 * (`server_id` 2, 3, ... and `read_only`) replicates from it by GTID (`CHANGE MASTER TO ...
 * MASTER_USE_GTID=slave_pos`, `START SLAVE`). A replica is a `MariaServer` too: stopped and started again,
 * it resumes replicating where it was and catches up.
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
 * until both replication threads run. Closing the scope stops it and deletes its directory. A primary with
 * no binary log, or replication that does not start, fails with `MariaServerError`.
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
  options?: MariaServer.Options
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
