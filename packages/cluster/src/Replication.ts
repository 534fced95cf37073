/**
 * How a cluster reads replication positions and lag, per database system: what `maxReplicaLag` and
 * `readYourWrites` need. `PgCluster` uses `Replication.postgres` unless told otherwise; a `MysqlCluster`
 * takes `Replication.mariadb` (MariaDB) or `Replication.mysql` (MySQL 8).
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as internal from "./internal/mysqlReplication.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Replication {
  /** The primary's current write position (everything committed so far is at or before it). */
  readonly primaryPosition: (sql: SqlClient.SqlClient) => Effect.Effect<string, SqlError>
  /**
   * A replica's replayed position, and how far behind its replay is in time (milliseconds; `undefined` when
   * it cannot tell), used when the position is behind the primary's.
   */
  readonly replicaPosition: (
    sql: SqlClient.SqlClient
  ) => Effect.Effect<{ readonly position: string; readonly behindMillis: number | undefined }, SqlError>
  /** Whether position `a` is at or after `b`. */
  readonly atLeast: (a: string, b: string) => boolean
  /**
   * Whether the node takes writes now (PostgreSQL: not in recovery). With it, the cluster discovers its
   * primary instead of trusting the configured role, and discovers it again when a write is refused.
   */
  readonly isPrimary?: ((sql: SqlClient.SqlClient) => Effect.Effect<boolean, SqlError>) | undefined
  /**
   * A writable node's term: higher on a node promoted later (PostgreSQL: its timeline). When two nodes take
   * writes, the one of the highest term is the primary; without it (or on a tie) neither is.
   */
  readonly primaryTerm?: ((sql: SqlClient.SqlClient) => Effect.Effect<number, SqlError>) | undefined
  /**
   * The statement a cluster transaction begins with when the primary is discovered (PostgreSQL:
   * `BEGIN READ WRITE`): a node that takes no writes refuses it before the transaction's effect starts, so
   * the transaction runs again on the new primary. Without it, a standby refuses the transaction only at
   * its first write, after its effect started, and it is not run again.
   */
  readonly beginWrite?: string | undefined
}

const lsnValue = (lsn: string): bigint => {
  const [high = "0", low = "0"] = lsn.split("/")
  return BigInt(`0x${high}`) * 0x1_0000_0000n + BigInt(`0x${low}`)
}

/**
 * PostgreSQL: WAL positions (LSNs). The primary's is `pg_current_wal_lsn()`; a replica's is
 * `pg_last_wal_replay_lsn()`, and its time behind is `now() - pg_last_xact_replay_timestamp()` (the
 * commit time of the last transaction it replayed). A node is the primary when `pg_is_in_recovery()` is
 * false; its term is the timeline it writes on (the first 8 hex digits of its current WAL file's name),
 * which a promotion raises at once. Its transactions begin `READ WRITE`, which a standby refuses.
 *
 * @example
 * ```ts
 * import { Replication } from "@dbpool/cluster"
 *
 * Replication.postgres.atLeast("0/3000060", "0/2FFFFFF") // true
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const postgres: Replication = {
  primaryPosition: (sql) =>
    Effect.map(sql<{ lsn: string }>`SELECT pg_current_wal_lsn()::text AS lsn`, (rows) => rows[0]!.lsn),
  replicaPosition: (sql) =>
    Effect.map(
      sql<{ lsn: string | null; behind: number | string | null }>`SELECT pg_last_wal_replay_lsn()::text AS lsn,
        (extract(epoch FROM now() - pg_last_xact_replay_timestamp()) * 1000)::float8 AS behind`,
      (rows) => ({
        position: rows[0]!.lsn ?? "0/0",
        behindMillis: rows[0]!.behind === null ? undefined : Math.max(0, Number(rows[0]!.behind))
      })
    ),
  atLeast: (a, b) => lsnValue(a) >= lsnValue(b),
  isPrimary: (sql) =>
    Effect.map(sql<{ primary: boolean }>`SELECT NOT pg_is_in_recovery() AS primary`, (rows) => rows[0]!.primary),
  primaryTerm: (sql) =>
    Effect.map(
      sql<{ wal: string | null }>`SELECT CASE WHEN pg_is_in_recovery() THEN NULL
        ELSE pg_walfile_name(pg_current_wal_lsn()) END AS wal`,
      (rows) => rows[0]!.wal === null ? 0 : Number.parseInt(rows[0]!.wal.slice(0, 8), 16)
    ),
  // a standby refuses it at once: SQLSTATE 0A000, "cannot set transaction read-write mode during recovery"
  beginWrite: "BEGIN READ WRITE"
}

/**
 * MariaDB (10.0 and later): GTID positions, compared per replication domain (`domain-server-seq`; the
 * server id is not compared). The primary's position is `@@gtid_binlog_pos` (it needs `log_bin`); a
 * replica's is `@@gtid_slave_pos`, and its time behind is `SHOW SLAVE STATUS`'s `Seconds_Behind_Master`:
 * whole seconds, and `NULL` while its I/O or SQL thread is not running, which the cluster counts as over
 * any `maxReplicaLag` once the replica is short of the primary's position (a replica at the primary's
 * position is 0 ms behind, replicating or not). `SHOW SLAVE STATUS` needs the `SLAVE MONITOR` privilege
 * (MariaDB 10.5.9 and later; `REPLICATION CLIENT` before). `isPrimary`: `@@read_only = 0`. Its
 * transactions begin `START TRANSACTION READ WRITE`, which a `read_only` node refuses at once (error 1290,
 * `ER_OPTION_PREVENTS_STATEMENT`) for a user without `READ ONLY ADMIN` (or `SUPER` before 10.11): the
 * transaction runs again on the new primary.
 *
 * No `primaryTerm`: nothing MariaDB keeps rises on a promotion (`@@server_id` and the GTID domain stay as
 * they were, and the old primary's GTID sequence goes on rising as long as it takes writes), so two
 * writable nodes mean no primary: writes wait, then fail with `NoPrimaryError`, until one is made
 * read-only. `mariadbTerm` adds a term that the promotion procedure writes.
 *
 * @example
 * ```ts
 * import { Replication } from "@dbpool/cluster"
 *
 * Replication.mariadb.atLeast("0-1-42,1-2-7", "0-1-40") // true
 * Replication.mariadb.atLeast("0-1-42", "0-1-40,1-2-7") // false: nothing of domain 1 applied
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const mariadb: Replication = {
  primaryPosition: internal.positionOf("gtid_binlog_pos"),
  replicaPosition: internal.replicaOf("gtid_slave_pos", "SHOW SLAVE STATUS", "Seconds_Behind_Master"),
  atLeast: internal.mariadbAtLeast,
  isPrimary: internal.writable,
  beginWrite: internal.beginReadWrite
}

/**
 * MariaDB with a term table that the promotion procedure writes: positions, lag and `isPrimary` as
 * `mariadb`'s, and a writable node's term is the `term` of the table's row (0 when it has none). The table
 * (create it on the primary, it replicates):
 * `CREATE TABLE dbpool_term (id INT PRIMARY KEY, term BIGINT NOT NULL)`.
 *
 * Sound only if every promotion raises it, on the promoted node, once it has applied all it received from
 * the old primary and before it takes writes (as a user with `READ ONLY ADMIN`, while `read_only` is still
 * on): `INSERT INTO dbpool_term (id, term) VALUES (1, 1) ON DUPLICATE KEY UPDATE term = term + 1`
 * (`MariaReplica.promote` of `@dbpool/testing` does with `termTable`). The promoted node then holds a term
 * above every term the old primary had, which keeps its own: when both take writes, the promoted one is
 * the primary and the old one is fenced. Two replicas promoted from the same primary tie: no primary. A
 * failover manager that promotes without raising the term leaves it equal: no primary either, as with
 * `mariadb`.
 *
 * @example
 * ```ts
 * import { Replication } from "@dbpool/cluster"
 *
 * const replication = Replication.mariadbTerm("dbpool_term")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const mariadbTerm = (table: string): Replication => ({
  ...mariadb,
  primaryTerm: (sql) => {
    const raw = sql.withoutTransforms()
    return Effect.map(
      raw<{ term: number | string | null }>`SELECT (SELECT term FROM ${raw(table)} WHERE id = 1) AS term`,
      (rows) => Number(rows[0]?.term ?? 0)
    )
  }
})

/**
 * MySQL 8.0.22 and later, with `gtid_mode=ON`: GTID sets (`@@global.gtid_executed` on the primary and on
 * the replica), a replica having reached a position when its set contains every transaction of it (tagged
 * GTIDs of MySQL 8.3 included). Time behind: `SHOW REPLICA STATUS`'s `Seconds_Behind_Source` (whole
 * seconds, `NULL` while a thread is not running). `isPrimary`: `@@read_only = 0` (`super_read_only` implies
 * `read_only`). Its transactions begin `START TRANSACTION READ WRITE`, which MySQL's manual says a
 * `read_only` server refuses to a user without `CONNECTION_ADMIN` (or `SUPER`). The set comparison is tested
 * on its own; against a MySQL server neither it nor that refusal is (our tests run MariaDB only).
 *
 * @example
 * ```ts
 * import { Replication } from "@dbpool/cluster"
 *
 * const source = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
 * Replication.mysql.atLeast(`${source}:1-100`, `${source}:1-57`) // true
 * Replication.mysql.atLeast(`${source}:1-50:52-100`, `${source}:51`) // false: 51 not applied
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const mysql: Replication = {
  primaryPosition: internal.positionOf("gtid_executed"),
  replicaPosition: internal.replicaOf("gtid_executed", "SHOW REPLICA STATUS", "Seconds_Behind_Source"),
  atLeast: internal.mysqlAtLeast,
  isPrimary: internal.writable,
  beginWrite: internal.beginReadWrite
}

/**
 * MariaDB with a heartbeat table for the time behind, instead of `Seconds_Behind_Master`: positions as
 * `mariadb`'s, and a replica short of the primary's position is as far behind as the age of the last
 * heartbeat it has applied (`UTC_TIMESTAMP(6)` minus the row's `ts`, read in one query with its
 * position; no `SLAVE MONITOR` needed). Something must write the heartbeat on the primary:
 * `MysqlCluster.heartbeat` does, every 100 ms by default. The table (create it on the primary, it
 * replicates): `CREATE TABLE dbpool_heartbeat (id INT PRIMARY KEY, ts DATETIME(6) NOT NULL)`.
 *
 * What it tells: milliseconds, not whole seconds, and a number also while replication is stopped (the
 * heartbeat keeps aging), where `Seconds_Behind_Master` is `NULL`. A replica keeping up is measured up
 * to one heartbeat interval behind (the primary's position may hold a heartbeat the replica has not
 * applied yet), so keep the interval well under `maxReplicaLag`. The servers' clocks are compared: keep
 * them in sync (NTP). With no heartbeat row on the replica yet, it cannot tell (counted as over any bound).
 * Transactions begin `START TRANSACTION READ WRITE`, as `mariadb`'s.
 *
 * @example
 * ```ts
 * import { Replication } from "@dbpool/cluster"
 *
 * const replication = Replication.mariadbHeartbeat("dbpool_heartbeat")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const mariadbHeartbeat = (table: string): Replication => ({
  primaryPosition: internal.positionOf("gtid_binlog_pos"),
  replicaPosition: internal.heartbeatReplica(table),
  atLeast: internal.mariadbAtLeast,
  isPrimary: internal.writable,
  beginWrite: internal.beginReadWrite
})
