/**
 * The MariaDB and MySQL replication queries: positions from global variables, time behind from the
 * replica's status row or a heartbeat row's age, and `read_only`. All read without the pool's
 * result-name transforms: the status row's columns keep the server's names.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"

export { mariadbAtLeast, mysqlAtLeast } from "./gtid.js"

/** `Seconds_Behind_Master` (or `_Source`) of a replica's status row; `null`, or no row: it cannot tell. */
const secondsBehind = (rows: ReadonlyArray<Record<string, unknown>>, column: string): number | undefined => {
  const value = rows[0]?.[column]
  return value === null || value === undefined ? undefined : Math.max(0, Number(value)) * 1000
}

/** `@@global.read_only = 0`: a server that takes writes from users without the privilege to bypass it. */
export const writable = (sql: SqlClient.SqlClient): Effect.Effect<boolean, SqlError> =>
  Effect.map(
    sql.withoutTransforms()<{ ro: number | string }>`SELECT @@global.read_only AS ro`,
    (rows) => Number(rows[0]!.ro) === 0
  )

/**
 * A replica's position (a global variable) and time behind (a column of its status row), read without the
 * pool's result-name transforms: the status row's columns keep the server's names.
 */
export const replicaOf = (positionVariable: string, status: string, column: string) => (sql: SqlClient.SqlClient) => {
  const raw = sql.withoutTransforms()
  return Effect.zipWith(
    raw.unsafe<{ pos: string | null }>(`SELECT @@global.${positionVariable} AS pos`),
    raw.unsafe<Record<string, unknown>>(status),
    (position, rows) => ({ position: position[0]!.pos ?? "", behindMillis: secondsBehind(rows, column) })
  )
}

export const positionOf = (variable: string) => (sql: SqlClient.SqlClient) =>
  Effect.map(
    sql.withoutTransforms().unsafe<{ pos: string | null }>(`SELECT @@global.${variable} AS pos`),
    (rows) => rows[0]!.pos ?? ""
  )

/** The replica's position and the age of the heartbeat row it has applied, in one query. */
export const heartbeatReplica = (table: string) => (sql: SqlClient.SqlClient) => {
  const raw = sql.withoutTransforms()
  return Effect.map(
    raw<{ pos: string | null; behind: number | string | null }>`SELECT @@global.gtid_slave_pos AS pos,
      (SELECT TIMESTAMPDIFF(MICROSECOND, ts, UTC_TIMESTAMP(6)) FROM ${raw(table)} WHERE id = 1) AS behind`,
    (rows) => ({
      position: rows[0]!.pos ?? "",
      behindMillis: rows[0]!.behind === null ? undefined : Math.max(0, Number(rows[0]!.behind)) / 1000
    })
  )
}

/**
 * How a cluster transaction begins on MariaDB and MySQL: a `read_only` server refuses it at once (1290,
 * `ER_OPTION_PREVENTS_STATEMENT`, which `isReadOnly` recognises), before the transaction's effect starts.
 */
export const beginReadWrite = "START TRANSACTION READ WRITE"
