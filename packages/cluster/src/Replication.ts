/**
 * How a cluster reads replication positions and lag, per database system: what `maxReplicaLag` and
 * `readYourWrites` need. `PgCluster` uses `Replication.postgres` unless told otherwise.
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"

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
 * which a promotion raises at once.
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
    )
}
