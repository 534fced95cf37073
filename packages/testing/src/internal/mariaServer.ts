import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Fs from "node:fs"
import * as Path from "node:path"
import type * as MariaServer from "../MariaServer.js"
import { MariaServerError } from "../MariaServer.js"
import * as Admin from "./admin.js"
import * as Process from "./process.js"
import * as Server from "./server.js"

/** @internal */
export const TypeId: MariaServer.TypeId = Symbol.for("@dbpool/testing/MariaServer") as MariaServer.TypeId

const templateDatabase = "test"

// Small InnoDB files: the default 96 MB redo log would make every copy 5 times slower.
const innodbArgs = ["--innodb-buffer-pool-size=16M", "--innodb-log-file-size=4M"]

const serverBinary = Effect.suspend(() =>
  Process.findExecutable("mariadbd", [
    ...(process.env.DBPOOL_MARIADBD ? [process.env.DBPOOL_MARIADBD] : []),
    "/usr/sbin/mariadbd",
    "/usr/local/bin/mariadbd",
    ...Process.onPath("mariadbd"),
    "/usr/sbin/mysqld",
    ...Process.onPath("mysqld")
  ])
)

const installBinary = Effect.suspend(() =>
  Process.findExecutable("mariadb-install-db", [
    "/usr/bin/mariadb-install-db",
    "/usr/local/bin/mariadb-install-db",
    ...Process.onPath("mariadb-install-db"),
    "/usr/bin/mysql_install_db",
    ...Process.onPath("mysql_install_db")
  ])
)

const buildTemplate = (owner: Process.UserIds) =>
  Effect.gen(function*() {
    const install = yield* installBinary
    const dir = yield* Process.processDir("dbpool-mariatemplate-", owner)
    const data = Path.join(dir.path, "data")
    yield* Process.run({
      command: install,
      args: [
        "--no-defaults",
        `--datadir=${data}`,
        `--user=${owner.name}`,
        // root from 127.0.0.1 with an empty password, as on the main server; no unix_socket-only root
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        "--skip-name-resolve",
        // not $TMPDIR, which the mysql user may not be able to write to
        `--tmpdir=${dir.path}`,
        ...innodbArgs
      ],
      cwd: dir.path,
      timeout: "60 seconds"
    })
    // A database is a directory of the datadir: this makes `test` without starting the server.
    yield* Effect.try({
      try: () => {
        const db = Path.join(data, templateDatabase)
        Fs.mkdirSync(db, { mode: 0o700 })
        Fs.chownSync(db, owner.uid, owner.gid)
      },
      catch: (cause) => new Process.ProcessError({ message: `cannot create the test database`, cause })
    })
    return data
  })

// One mariadb-install-db per test process (about 0.5 s here); each server copies it (cp -a: under 0.1 s).
const templateData = Server.once(Effect.flatMap(Process.userIds("mysql"), buildTemplate))

const settingValue = (value: string | number | boolean) =>
  typeof value === "boolean" ? (value ? "ON" : "OFF") : String(value)

const fail = Server.failWith(() => MariaServerError)

/** @internal */
export const make = (
  options: MariaServer.Options = {}
): Effect.Effect<MariaServer.MariaServer, MariaServerError, Scope.Scope> =>
  Effect.gen(function*() {
    const owner = yield* Process.userIds("mysql")
    const binary = yield* serverBinary
    const { data, dir, logFile, port } = yield* Server.copyTemplate({
      template: yield* templateData,
      prefix: "dbpool-maria-",
      owner,
      crashSignal: "SIGKILL",
      logName: "mariadbd.log"
    })

    const host = "127.0.0.1"
    const name = `MariaDB on ${host}:${port}`
    const args = [
      "--no-defaults",
      `--datadir=${data}`,
      `--port=${port}`,
      `--socket=${Path.join(dir.path, "mariadbd.sock")}`,
      `--pid-file=${Path.join(dir.path, "mariadbd.pid")}`,
      `--tmpdir=${dir.path}`,
      `--bind-address=${host}`,
      `--user=${owner.name}`,
      "--skip-name-resolve",
      ...innodbArgs,
      // A disposable server: each commit is written to the OS but not flushed (an OS crash would lose it,
      // a server crash or SIGKILL does not). No native AIO: each server would take AIO contexts from a
      // machine-wide limit (fs.aio-max-nr) that the main server shares.
      "--innodb-flush-log-at-trx-commit=2",
      "--innodb-use-native-aio=0",
      ...(options.maxConnections !== undefined ? [`--max-connections=${options.maxConnections}`] : []),
      ...Object.entries(options.settings ?? {}).map(([key, value]) => `--${key}=${settingValue(value)}`)
    ]

    const server = yield* Server.controller({
      name,
      spawn: Process.spawn({ command: binary, args, logFile, crashSignal: "SIGKILL", watchdog: dir.watchdog }),
      // Not as soon as it listens: a SIGTERM before "ready for connections" is lost (seen on 10.11), and
      // a test that stops the server at once would wait for the stop timeout.
      ready: (daemon) => Process.logged(daemon, "ready for connections"),
      signals: { fast: "SIGTERM", immediate: "SIGKILL" },
      options
    })

    const queryTimeout = Server.queryTimeout(options)
    const admin: Admin.MysqlTarget = { host, port, user: "root", database: templateDatabase }

    const maria: MariaServer.MariaServer = {
      [TypeId]: TypeId,
      host,
      port,
      database: templateDatabase,
      user: "root",
      url: `mysql://root@${host}:${port}/${templateDatabase}`,
      dataDir: data,
      logFile,
      ...Server.lifecycle(server, name, fail),
      sql: (text, params) =>
        Admin.withMysql(admin, queryTimeout, (query) => query(text, params)).pipe(
          Effect.mapError(fail(`query on ${name} failed`))
        ),
      countConnections: (user) =>
        Admin.mysqlCount(admin, user, queryTimeout).pipe(Effect.mapError(fail(`cannot count connections on ${name}`))),
      killConnections: (user) =>
        Admin.mysqlKill(admin, user, queryTimeout).pipe(Effect.mapError(fail(`cannot kill connections on ${name}`)))
    }
    if (options.start !== false) yield* maria.start
    return maria
  }).pipe(Effect.mapError((e) => e._tag === "MariaServerError" ? e : fail("cannot set up a MariaDB server")(e)))
