/**
 * A streaming replica of a disposable PostgreSQL cluster: a base backup of the primary taken with
 * `pg_basebackup -R` (which writes `standby.signal` and `primary_conninfo`) into a directory of its own,
 * served on a spare port like any disposable cluster, with the standby's controls on top.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Fs from "node:fs"
import * as Path from "node:path"
import type * as PgCluster from "../PgCluster.js"
import { PgClusterError } from "../PgCluster.js"
import { asClusterError, binaries, serve } from "./pgCluster.js"
import { sparePort } from "./port.js"
import * as Process from "./process.js"

/** One text value of one row: what the standby's functions answer. */
const single = (rows: ReadonlyArray<Record<string, unknown>>, column: string): unknown => rows[0]?.[column]

const lsnOf = (cluster: PgCluster.PgCluster, expression: string): Effect.Effect<string, PgClusterError> =>
  Effect.map(cluster.sql(`SELECT (${expression})::text AS lsn`), (rows) => String(single(rows, "lsn")))

/** Whether LSN `a` is at or after LSN `b` (both `X/Y` in hexadecimal). */
export const lsnAtLeast = (a: string, b: string): boolean => {
  const value = (lsn: string) => {
    const [high, low] = lsn.split("/")
    return BigInt(`0x${high}`) * 0x1_0000_0000n + BigInt(`0x${low}`)
  }
  return value(a) >= value(b)
}

/**
 * `pg_basebackup` of the same version as `postgres`: beside it, or beside what it links to (a
 * `/usr/local/bin/postgres` that links into `/usr/lib/postgresql/15/bin`).
 */
const baseBackupCommand = (bin: string) =>
  Effect.suspend(() => {
    let real = bin
    try {
      real = Path.dirname(Fs.realpathSync(Path.join(bin, "postgres")))
    } catch {
      // no link to follow
    }
    return Process.findExecutable("pg_basebackup", [bin, real].map((dir) => Path.join(dir, "pg_basebackup")))
  })

const takeBaseBackup = (primary: PgCluster.PgCluster, place: { bin: string; owner: Process.UserIds; data: string }) =>
  Effect.gen(function*() {
    return yield* Process.run({
      command: yield* baseBackupCommand(place.bin),
      args: [
        "-h",
        primary.host,
        "-p",
        String(primary.port),
        "-U",
        primary.user,
        "-D",
        place.data,
        "-R",
        "-X",
        "stream",
        "-c",
        "fast",
        "--no-sync"
      ],
      user: place.owner,
      cwd: Path.dirname(place.data),
      timeout: "120 seconds"
    })
  })

const controls = (replica: PgCluster.PgCluster, primary: PgCluster.PgCluster) => {
  const replayLsn = lsnOf(replica, "pg_last_wal_replay_lsn()")
  const awaitReplay = (lsn: string, timeout: Duration.DurationInput = "30 seconds") =>
    replayLsn.pipe(
      Effect.repeat({ schedule: Schedule.spaced("10 millis"), until: (replayed) => lsnAtLeast(replayed, lsn) }),
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () =>
          new PgClusterError({ message: `the replica did not replay up to ${lsn} within ${Duration.format(timeout)}` })
      }),
      Effect.asVoid
    )
  return {
    primary,
    replayLsn,
    awaitReplay,
    catchUp: (timeout?: Duration.DurationInput) =>
      Effect.flatMap(lsnOf(primary, "pg_current_wal_lsn()"), (lsn) => awaitReplay(lsn, timeout)),
    pauseReplay: Effect.asVoid(replica.sql("SELECT pg_wal_replay_pause()")),
    resumeReplay: Effect.asVoid(replica.sql("SELECT pg_wal_replay_resume()")),
    isInRecovery: Effect.map(replica.sql("SELECT pg_is_in_recovery() AS r"), (rows) => single(rows, "r") === true),
    promote: Effect.flatMap(
      replica.sql("SELECT pg_promote(true, 60) AS promoted"),
      (rows) =>
        single(rows, "promoted") === true
          ? Effect.void
          : Effect.fail(new PgClusterError({ message: `${replica.url} was not promoted within 60 s` }))
    )
  }
}

/** @internal */
export const makeReplica = (
  primary: PgCluster.PgCluster,
  options: PgCluster.Options = {}
): Effect.Effect<PgCluster.PgReplica, PgClusterError, Scope.Scope> =>
  asClusterError(
    Effect.gen(function*() {
      const { bin, owner } = yield* binaries
      const port = yield* sparePort
      const dir = yield* Process.ownedDir("dbpool-pgreplica-", owner, "SIGQUIT")
      const data = Path.join(dir.path, "data")
      yield* takeBaseBackup(primary, { bin, owner, data })
      const replica = yield* serve(
        { bin, owner, data, dir, port, logFile: Path.join(dir.path, "postgres.log") },
        { database: primary.database, ...options },
        // the standby answers reads while it replays; WAL is asked for again soon after the primary is back
        { hot_standby: true, wal_retrieve_retry_interval: "200ms" },
        true
      )
      return { ...replica, ...controls(replica, primary) }
    }),
    `cannot set up a replica of ${primary.url}`
  )
