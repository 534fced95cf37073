/**
 * A MariaDB primary (a disposable server with a binary log) and its replicas (disposable servers that
 * replicate from it by GTID): `CHANGE MASTER TO ... MASTER_USE_GTID=slave_pos` from an empty position, so
 * that a replica applies the primary's whole binary log. Both are copies of the same template, and the
 * primary logs from its first start on, so the replica starts from where the primary started.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as MariaReplica from "../MariaReplica.js"
import type * as MariaServer from "../MariaServer.js"
import { MariaServerError } from "../MariaServer.js"
import * as Maria from "./mariaServer.js"

/** The primary's server_id; replicas take the next ones, one each in this process. */
const primaryServerId = 1
let nextServerId = primaryServerId + 1

/** A GTID position (`domain-server-seq`, comma separated) as the highest sequence number of each domain. */
const domains = (position: string): Map<string, bigint> => {
  const seqs = new Map<string, bigint>()
  for (const gtid of position.split(",")) {
    const parts = gtid.trim().split("-")
    if (parts.length !== 3) continue
    const seq = BigInt(parts[2]!)
    const known = seqs.get(parts[0]!)
    if (known === undefined || seq > known) seqs.set(parts[0]!, seq)
  }
  return seqs
}

/** @internal */
export const gtidAtLeast = (a: string, b: string): boolean => {
  const have = domains(a)
  for (const [domain, seq] of domains(b)) {
    const reached = have.get(domain)
    if (reached === undefined || reached < seq) return false
  }
  return true
}

const single = (rows: ReadonlyArray<Record<string, unknown>>, column: string): unknown => rows[0]?.[column]

const positionOf = (server: MariaServer.MariaServer, variable: string) =>
  Effect.map(server.sql(`SELECT @@${variable} AS pos`), (rows) => String(single(rows, "pos") ?? ""))

/** @internal */
export const makePrimary = (
  options: MariaServer.Options = {}
): Effect.Effect<MariaServer.MariaServer, MariaServerError, Scope.Scope> =>
  Maria.make({
    ...options,
    settings: {
      "server-id": primaryServerId,
      "log-bin": "mariadb-bin",
      "binlog-format": "ROW",
      ...options.settings
    }
  })

const statusOf = (rows: ReadonlyArray<Record<string, unknown>>): MariaReplica.ReplicaStatus => {
  const row = rows[0]
  if (row === undefined) {
    return { ioThread: "No", sqlThread: "No", secondsBehindMaster: null, lastError: "not a replica", received: "" }
  }
  const behind = row.Seconds_Behind_Master
  return {
    ioThread: String(row.Slave_IO_Running),
    sqlThread: String(row.Slave_SQL_Running),
    secondsBehindMaster: behind === null || behind === undefined ? null : Number(behind),
    lastError: String(row.Last_IO_Error || row.Last_SQL_Error || ""),
    received: String(row.Gtid_IO_Pos ?? "")
  }
}

/** @internal */
export const semiSyncStatus = (
  primary: MariaServer.MariaServer
): Effect.Effect<MariaReplica.SemiSyncStatus, MariaServerError> =>
  Effect.map(
    primary.sql(
      "SHOW GLOBAL STATUS WHERE Variable_name IN ('Rpl_semi_sync_master_status', " +
        "'Rpl_semi_sync_master_clients', 'Rpl_semi_sync_master_yes_tx', 'Rpl_semi_sync_master_no_tx')"
    ),
    (rows) => {
      const value = (name: string) => String(rows.find((row) => row.Variable_name === name)?.Value ?? "")
      return {
        on: value("Rpl_semi_sync_master_status") === "ON",
        clients: Number(value("Rpl_semi_sync_master_clients") || 0),
        acknowledged: Number(value("Rpl_semi_sync_master_yes_tx") || 0),
        unacknowledged: Number(value("Rpl_semi_sync_master_no_tx") || 0)
      }
    }
  )

/**
 * Semi-synchronous replication from `primary` (built into MariaDB 10.3 and later): a commit is acknowledged
 * to its client only once a replica has it in its relay log (`AFTER_SYNC`: written to the binary log, sent,
 * acknowledged, then committed in the engine, so no client sees a commit the replica may not have). Waits
 * until the replica is connected as a semi-synchronous one.
 */
const enableSemiSync = (primary: MariaServer.MariaServer, timeout: Duration.DurationInput) =>
  Effect.gen(function*() {
    yield* primary.sql("SET GLOBAL rpl_semi_sync_master_wait_point = AFTER_SYNC")
    yield* primary.sql("SET GLOBAL rpl_semi_sync_master_timeout = ?", [Duration.toMillis(timeout)])
    yield* primary.sql("SET GLOBAL rpl_semi_sync_master_enabled = ON")
  })

const awaitSemiSyncClient = (primary: MariaServer.MariaServer) =>
  semiSyncStatus(primary).pipe(
    Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (s) => s.on && s.clients > 0 }),
    Effect.timeoutFail({
      duration: "30 seconds",
      onTimeout: () => new MariaServerError({ message: "the replica did not connect as semi-synchronous within 30 s" })
    })
  )

/**
 * Promotion: no more from the primary (the I/O thread stops, so that what was received is fixed), everything
 * received applied, replication forgotten, writable.
 */
const promoteWith = (
  replica: MariaServer.MariaServer,
  awaitPosition: (gtid: string, timeout?: Duration.DurationInput) => Effect.Effect<void, MariaServerError>
) =>
(options: MariaReplica.PromoteOptions = {}) =>
  Effect.gen(function*() {
    // The SQL thread first (a warning if it runs): in GTID mode, a SQL thread started while the I/O thread
    // is stopped drops the relay log (it would fetch it again from the primary), and with it what was
    // received but not applied: with the primary gone, acknowledged commits.
    yield* replica.sql("START SLAVE SQL_THREAD")
    yield* replica.sql("STOP SLAVE IO_THREAD")
    const received = statusOf(yield* replica.sql("SHOW SLAVE STATUS")).received
    yield* awaitPosition(received, options.timeout)
    yield* replica.sql("STOP SLAVE")
    yield* replica.sql("RESET SLAVE ALL")
    if (options.termTable !== undefined) {
      // still read-only (root may write): the node is writable with its new term at once
      yield* replica.sql(
        `INSERT INTO \`${options.termTable.replaceAll("`", "``")}\` (id, term) VALUES (1, 1) ` +
          "ON DUPLICATE KEY UPDATE term = term + 1"
      )
    }
    yield* replica.sql("SET GLOBAL read_only = 0")
  }).pipe(
    Effect.mapError((e) => new MariaServerError({ message: `cannot promote ${replica.url}: ${e.message}`, cause: e }))
  )

const controls = (replica: MariaServer.MariaServer, primary: MariaServer.MariaServer, serverId: number) => {
  const position = positionOf(replica, "gtid_slave_pos")
  const status = Effect.map(replica.sql("SHOW SLAVE STATUS"), statusOf)
  const awaitPosition = (gtid: string, timeout: Duration.DurationInput = "30 seconds") =>
    position.pipe(
      Effect.repeat({ schedule: Schedule.spaced("10 millis"), until: (applied) => gtidAtLeast(applied, gtid) }),
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () =>
          new MariaServerError({
            message: `the replica did not apply up to ${gtid || "(empty)"} within ${Duration.format(timeout)}`
          })
      }),
      Effect.asVoid
    )
  return {
    primary,
    serverId,
    position,
    status,
    awaitPosition,
    catchUp: (timeout?: Duration.DurationInput) =>
      Effect.flatMap(positionOf(primary, "gtid_binlog_pos"), (gtid) => awaitPosition(gtid, timeout)),
    promote: promoteWith(replica, awaitPosition),
    stopSqlThread: Effect.asVoid(replica.sql("STOP SLAVE SQL_THREAD")),
    startSqlThread: Effect.asVoid(replica.sql("START SLAVE SQL_THREAD"))
  }
}

/** Replicating (both threads running), or a `MariaServerError` with the replica's own reason. */
const awaitReplicating = (status: Effect.Effect<MariaReplica.ReplicaStatus, MariaServerError>) =>
  Effect.delay(status, "20 millis").pipe(
    Effect.repeat({ until: (s) => (s.ioThread === "Yes" && s.sqlThread === "Yes") || s.lastError !== "" }),
    Effect.timeoutFail({
      duration: "30 seconds",
      onTimeout: () => new MariaServerError({ message: "replication did not start within 30 s" })
    }),
    Effect.flatMap((s) =>
      s.lastError === ""
        ? Effect.void
        : Effect.fail(new MariaServerError({ message: `replication failed to start: ${s.lastError}` }))
    )
  )

/** @internal */
export const make = (
  primary: MariaServer.MariaServer,
  options: MariaReplica.Options = {}
): Effect.Effect<MariaReplica.MariaReplica, MariaServerError, Scope.Scope> =>
  Effect.gen(function*() {
    const logBin = single(yield* primary.sql("SELECT @@log_bin AS b"), "b")
    if (Number(logBin) !== 1) {
      return yield* new MariaServerError({
        message: `${primary.url} has no binary log to replicate from: make it with MariaReplica.makePrimary`
      })
    }
    const serverId = nextServerId++
    const { semiSync = false, semiSyncTimeout = "60 seconds", ...serverOptions } = options
    if (semiSync) yield* enableSemiSync(primary, semiSyncTimeout)
    const replica = yield* Maria.make({
      ...serverOptions,
      settings: {
        "server-id": serverId,
        "read-only": true,
        "relay-log": "relay-bin",
        // a binary log of its own with what it applies: promoted, it is a primary like the first
        "log-bin": "mariadb-bin",
        "log-slave-updates": true,
        "binlog-format": "ROW",
        ...(semiSync ? { "rpl-semi-sync-slave-enabled": true } : {}),
        ...serverOptions.settings
      }
    })
    // Root may connect from 127.0.0.1 with no password (the template's grants); retries every second
    // while the primary is down.
    yield* replica.sql(
      "CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = '', " +
        "MASTER_CONNECT_RETRY = 1, MASTER_USE_GTID = slave_pos",
      [primary.host, primary.port, primary.user]
    )
    yield* replica.sql("START SLAVE")
    const replicaControls = controls(replica, primary, serverId)
    yield* awaitReplicating(replicaControls.status)
    if (semiSync) yield* awaitSemiSyncClient(primary)
    return { ...replica, ...replicaControls }
  }).pipe(
    Effect.mapError((e) =>
      e.message.startsWith("cannot set up")
        ? e
        : new MariaServerError({ message: `cannot set up a replica of ${primary.url}: ${e.message}`, cause: e })
    )
  )
