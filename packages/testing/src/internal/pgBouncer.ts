import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Fs from "node:fs"
import * as Path from "node:path"
import type * as PgBouncer from "../PgBouncer.js"
import { PgBouncerError } from "../PgBouncer.js"
import * as Admin from "./admin.js"
import { isListening, sparePort } from "./port.js"
import * as Process from "./process.js"
import * as Server from "./server.js"

/** @internal */
export const TypeId: PgBouncer.TypeId = Symbol.for("@dbpool/testing/PgBouncer") as PgBouncer.TypeId

const binary = Effect.suspend(() =>
  Process.findExecutable("pgbouncer (Debian package pgbouncer)", [
    "/usr/sbin/pgbouncer",
    "/usr/local/bin/pgbouncer",
    "/usr/bin/pgbouncer",
    ...Process.onPath("pgbouncer")
  ])
)

const quote = (user: string) => `"${user.replace(/"/g, "\"\"")}"`

const settingValue = (value: string | number | boolean) =>
  typeof value === "boolean" ? (value ? "1" : "0") : String(value)

const fail = Server.failWith(() => PgBouncerError)

/** @internal */
export const make = (options: PgBouncer.Options): Effect.Effect<PgBouncer.PgBouncer, PgBouncerError, Scope.Scope> =>
  Effect.gen(function*() {
    const owner = yield* Process.userIds("postgres")
    const command = yield* binary
    const port = yield* sparePort
    const dir = yield* Process.ownedDir("dbpool-pgbouncer-", owner, "SIGKILL")
    const host = "127.0.0.1"
    const name = `PgBouncer on ${host}:${port}`
    const users = options.users ?? ["postgres"]
    const settings: Record<string, string | number | boolean> = {
      listen_addr: host,
      listen_port: port,
      // no unix socket: it would go to /tmp, outside our directory
      unix_socket_dir: "",
      auth_type: "trust",
      auth_file: Path.join(dir.path, "userlist.txt"),
      admin_users: "postgres",
      stats_users: "postgres",
      pool_mode: options.poolMode ?? "transaction",
      default_pool_size: options.defaultPoolSize ?? 20,
      max_client_conn: options.maxClientConn ?? 200,
      // node-postgres and others send it; PgBouncer refuses unknown startup parameters
      ignore_startup_parameters: "extra_float_digits",
      // After a failed server login PgBouncer waits this long before trying again (15 s by default),
      // which would hide a restarted server from the tests.
      server_login_retry: 1,
      // output goes to stderr, into our log file
      logfile: "",
      pidfile: "",
      ...options.settings
    }
    const ini = [
      "[databases]",
      // every database name goes to the target
      `* = host=${options.target.host} port=${options.target.port}`,
      "",
      "[pgbouncer]",
      ...Object.entries(settings).map(([key, value]) => `${key} = ${settingValue(value)}`),
      ""
    ].join("\n")
    const iniFile = Path.join(dir.path, "pgbouncer.ini")
    yield* Effect.try({
      try: () => {
        Fs.writeFileSync(iniFile, ini, { mode: 0o600 })
        Fs.writeFileSync(settings.auth_file as string, users.map((u) => `${quote(u)} ""\n`).join(""), { mode: 0o600 })
        Fs.chownSync(iniFile, owner.uid, owner.gid)
        Fs.chownSync(settings.auth_file as string, owner.uid, owner.gid)
      },
      catch: (cause) => new Process.ProcessError({ message: `cannot write the PgBouncer configuration`, cause })
    })
    const logFile = Path.join(dir.path, "pgbouncer.log")

    const server = yield* Server.controller({
      name,
      // PgBouncer refuses to run as root; it runs in the foreground (no -d), as our child.
      spawn: Process.spawn({
        command,
        args: [iniFile],
        logFile,
        crashSignal: "SIGKILL",
        watchdog: dir.watchdog,
        user: owner,
        cwd: dir.path
      }),
      ready: () => isListening(port),
      // SIGTERM is PgBouncer 1.18's immediate shutdown (it closes client connections); newer versions wait
      // for the clients, bounded by stopTimeout.
      signals: { fast: "SIGTERM", immediate: "SIGKILL" },
      options
    })

    const queryTimeout = Server.queryTimeout(options)
    const bouncer: PgBouncer.PgBouncer = {
      [TypeId]: TypeId,
      host,
      port,
      target: options.target,
      url: `postgres://postgres@${host}:${port}/test`,
      dir: dir.path,
      logFile,
      ...Server.lifecycle(server, name, fail),
      admin: (command) =>
        Admin.withPg({ host, port, user: "postgres", database: "pgbouncer" }, queryTimeout, (query) => query(command))
          .pipe(Effect.mapError(fail(`admin command on ${name} failed`)))
    }
    if (options.start !== false) yield* bouncer.start
    return bouncer
  }).pipe(Effect.mapError((e) => e._tag === "PgBouncerError" ? e : fail("cannot set up PgBouncer")(e)))
