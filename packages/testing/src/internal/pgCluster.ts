import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Fs from "node:fs"
import * as Path from "node:path"
import type * as PgCluster from "../PgCluster.js"
import { PgClusterError } from "../PgCluster.js"
import * as Admin from "./admin.js"
import * as Process from "./process.js"
import * as Server from "./server.js"

/** @internal */
export const TypeId: PgCluster.TypeId = Symbol.for("@dbpool/testing/PgCluster") as PgCluster.TypeId

/** The database every cluster has from its template, as on the main server. */
const templateDatabase = "test"

const binDirCandidates = (): Array<string> => {
  const dirs = ["/usr/local/bin"]
  try {
    const versions = Fs.readdirSync("/usr/lib/postgresql").filter((v) => /^\d+$/.test(v)).sort((a, b) =>
      Number(b) - Number(a)
    )
    for (const version of versions) dirs.push(`/usr/lib/postgresql/${version}/bin`)
  } catch {
    // not the Debian layout
  }
  for (const candidate of Process.onPath("initdb")) dirs.push(Path.dirname(candidate))
  return dirs
}

/** The directory holding both `initdb` and `postgres` (of the same version). */
const binDir: Effect.Effect<string, Process.ProcessError> = Effect.suspend(() => {
  const envDir = process.env.DBPOOL_PG_BIN
  const dirs = envDir !== undefined && envDir !== "" ? [envDir] : binDirCandidates()
  const found = dirs.find((dir) => {
    try {
      Fs.accessSync(Path.join(dir, "initdb"), Fs.constants.X_OK)
      Fs.accessSync(Path.join(dir, "postgres"), Fs.constants.X_OK)
      return true
    } catch {
      return false
    }
  })
  return found === undefined
    ? Effect.fail(new Process.ProcessError({ message: `initdb and postgres not found in ${dirs.join(", ")}` }))
    : Effect.succeed(found)
})

const buildTemplate = (bin: string, owner: Process.UserIds) =>
  Effect.gen(function*() {
    const dir = yield* Process.processDir("dbpool-pgtemplate-", owner)
    const data = Path.join(dir.path, "data")
    yield* Process.run({
      command: Path.join(bin, "initdb"),
      // 1 MB WAL segments instead of 16: a third less to copy per cluster
      args: ["-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync", "--wal-segsize=1"],
      user: owner,
      cwd: dir.path,
      timeout: "60 seconds"
    })
    // Single-user mode creates the database without a port or a start/stop round.
    yield* Process.run({
      command: Path.join(bin, "postgres"),
      args: ["--single", "-D", data, "-F", "-c", "max_connections=20", "postgres"],
      input: `CREATE DATABASE ${templateDatabase};\n`,
      user: owner,
      cwd: dir.path,
      timeout: "60 seconds"
    })
    return data
  })

// One initdb per test process (about 0.5 s here); each cluster copies it (cp -a: under 0.1 s).
const templateData = Server.once(
  Effect.flatMap(Effect.zip(binDir, Process.userIds("postgres")), ([bin, owner]) => buildTemplate(bin, owner))
)

const settingValue = (value: string | number | boolean) =>
  typeof value === "boolean" ? (value ? "on" : "off") : String(value)

/**
 * Whether postmaster.pid says that this postmaster accepts connections (what `pg_ctl -w` waits for): `ready`,
 * or `standby` for a hot standby that accepts read-only connections.
 */
const isReady = (data: string, pid: number): Effect.Effect<boolean> =>
  Effect.sync(() => {
    try {
      const lines = Fs.readFileSync(Path.join(data, "postmaster.pid"), "utf8").split("\n")
      const status = lines[7]?.trim()
      return Number(lines[0]) === pid && (status === "ready" || status === "standby")
    } catch {
      return false
    }
  })

const fail = Server.failWith(() => PgClusterError)

/** Where a cluster lives and how its server runs: what `make` and `makeReplica` both serve. */
export interface Place {
  readonly bin: string
  readonly owner: Process.UserIds
  readonly data: string
  readonly dir: Process.OwnedDir
  readonly logFile: string
  readonly port: number
}

/** The server's binaries and owner (`initdb`'s directory, the `postgres` user). */
export const binaries: Effect.Effect<{ readonly bin: string; readonly owner: Process.UserIds }, Process.ProcessError> =
  Effect.map(Effect.zip(binDir, Process.userIds("postgres")), ([bin, owner]) => ({ bin, owner }))

/**
 * The settings every disposable cluster has. A primary that replicas may stream from needs no more:
 * `wal_level=replica` and 10 WAL senders are PostgreSQL's defaults, and initdb's pg_hba.conf trusts
 * replication connections from 127.0.0.1. `wal_keep_size` keeps the WAL a stopped replica needs to
 * catch up when it starts again (no replication slot that could fill the disk).
 */
const baseSettings = (host: string, port: number, dir: string) => ({
  listen_addresses: host,
  port,
  unix_socket_directories: dir,
  // A disposable cluster: no fsync (an OS crash would lose it, a server crash does not). Commits stay
  // synchronous, so that a test's committed data survives its "immediate" stop.
  fsync: false,
  full_page_writes: false,
  shared_buffers: "32MB",
  wal_keep_size: "64MB"
})

/** Runs a PostgreSQL server in `place` (started unless `start: false`) and gives its cluster handle. */
export const serve = (
  place: Place,
  options: PgCluster.Options,
  extraSettings: Readonly<Record<string, string | number | boolean>> = {},
  /** A replica has its databases from the primary's base backup, and could not create one. */
  replica = false
): Effect.Effect<PgCluster.PgCluster, PgClusterError, Scope.Scope> =>
  Effect.gen(function*() {
    const { bin, data, dir, logFile, owner, port } = place
    const database = options.database ?? templateDatabase
    const host = "127.0.0.1"
    const name = `PostgreSQL on ${host}:${port}`
    const settings: Record<string, string | number | boolean> = {
      ...baseSettings(host, port, dir.path),
      ...extraSettings,
      ...(options.maxConnections !== undefined ? { max_connections: options.maxConnections } : {}),
      ...options.settings
    }
    const args = ["-D", data]
    for (const [key, value] of Object.entries(settings)) args.push("-c", `${key}=${settingValue(value)}`)

    const server = yield* Server.controller({
      name,
      spawn: Process.spawn({
        command: Path.join(bin, "postgres"),
        args,
        logFile,
        crashSignal: "SIGQUIT",
        watchdog: dir.watchdog,
        user: owner,
        cwd: dir.path
      }),
      ready: (daemon) => isReady(data, daemon.pid),
      signals: { fast: "SIGINT", immediate: "SIGQUIT" },
      options
    })

    const queryTimeout = Server.queryTimeout(options)
    const admin = (db: string): Admin.PgTarget => ({ host, port, user: "postgres", database: db })

    // Another database than the template's is created at the first start.
    let created = replica || database === templateDatabase || database === "postgres"
    const ensureDatabase = Effect.suspend(() => {
      if (created) return Effect.void
      return Admin.withPg(
        admin("postgres"),
        queryTimeout,
        (query) => query(`CREATE DATABASE "${database.replace(/"/g, "\"\"")}"`)
      ).pipe(Effect.tap(() => {
        created = true
      }))
    })

    const cluster: PgCluster.PgCluster = {
      [TypeId]: TypeId,
      host,
      port,
      database,
      user: "postgres",
      url: `postgres://postgres@${host}:${port}/${database}`,
      dataDir: data,
      logFile,
      ...Server.lifecycle(server, name, fail, ensureDatabase),
      sql: (text, params) =>
        Admin.withPg(admin(database), queryTimeout, (query) => query(text, params)).pipe(
          Effect.mapError(fail(`query on ${name} failed`))
        ),
      countConnections: (applicationName) =>
        Admin.pgCount(admin(database), applicationName, queryTimeout).pipe(
          Effect.mapError(fail(`cannot count connections on ${name}`))
        ),
      terminateBackends: (applicationName) =>
        Admin.pgTerminate(admin(database), applicationName, queryTimeout).pipe(
          Effect.mapError(fail(`cannot terminate backends on ${name}`))
        )
    }
    if (options.start !== false) yield* cluster.start
    return cluster
  })

/** Gives a cluster's setup failures the cluster's own error. */
export const asClusterError = <A, R>(
  effect: Effect.Effect<A, PgClusterError | { readonly _tag: string; readonly message: string }, R>,
  what: string
): Effect.Effect<A, PgClusterError, R> =>
  Effect.mapError(effect, (e) => e._tag === "PgClusterError" ? e as PgClusterError : fail(what)(e))

/** @internal */
export const make = (
  options: PgCluster.Options = {}
): Effect.Effect<PgCluster.PgCluster, PgClusterError, Scope.Scope> =>
  asClusterError(
    Effect.gen(function*() {
      const { bin, owner } = yield* binaries
      const copied = yield* Server.copyTemplate({
        template: yield* templateData,
        prefix: "dbpool-pg-",
        owner,
        crashSignal: "SIGQUIT",
        logName: "postgres.log"
      })
      return yield* serve({ bin, owner, ...copied }, options)
    }),
    "cannot set up a PostgreSQL cluster"
  )
