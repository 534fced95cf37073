import { MariaServer, Reliability } from "@dbpool/testing"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Scope } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { alive, mysqlClient, mysqlQuery, mysqlRun } from "./utils/Clients.js"
import { expectClosedAndDeleted, logTime } from "./utils/Wait.js"

describe("MariaServer", () => {
  it.scopedLive("starts, answers, stops, refuses connections, starts again", () =>
    Effect.gen(function*() {
      const server = yield* logTime(
        "MariaServer.make, the first of this process (mariadb-install-db into the template included)",
        MariaServer.make({ maxConnections: 20 })
      )
      expect(server.url).toBe(`mysql://root@127.0.0.1:${server.port}/test`)
      expect(yield* server.sql("SELECT 1 AS one, @@max_connections AS max, DATABASE() AS db")).toEqual([
        { one: 1, max: 20, db: "test" }
      ])
      // root from 127.0.0.1 with an empty password, like the main server; grants kept
      expect(yield* mysqlQuery({ port: server.port }, "SELECT CURRENT_USER() AS user")).toEqual([
        { user: "root@127.0.0.1" }
      ])
      const pid = (yield* server.pid)!

      yield* logTime("MariaServer.stop (fast)", server.stop())
      expect(yield* server.isRunning).toBe(false)
      expect(alive(pid)).toBe(false)
      const refused = yield* Effect.flip(mysqlQuery({ port: server.port }, "SELECT 1"))
      expect((refused as NodeJS.ErrnoException).code).toBe("ECONNREFUSED")

      yield* logTime("MariaServer.start (same datadir and port)", server.start)
      expect(yield* mysqlQuery({ port: server.port }, "SELECT 2 AS two")).toEqual([{ two: 2 }])
    }))

  it.scopedLive("an immediate stop (SIGKILL) cuts open sessions; committed data survives the recovery", () =>
    Effect.gen(function*() {
      const server = yield* MariaServer.make()
      yield* server.sql("CREATE TABLE kept (n int) ENGINE=InnoDB")
      yield* server.sql("INSERT INTO kept VALUES (1)")
      const conn = yield* mysqlClient({ port: server.port })
      yield* logTime("MariaServer.restart (immediate)", server.restart("immediate"))
      const cut = yield* Effect.flip(mysqlRun(conn, "SELECT 1"))
      expect(cut).toBeInstanceOf(Error)
      expect(yield* server.sql("SELECT n FROM kept")).toEqual([{ n: 1 }])
    }))

  it.scopedLive("counts and kills the connections of one user", () =>
    Effect.gen(function*() {
      const server = yield* MariaServer.make()
      yield* server.sql("CREATE USER app@'127.0.0.1' IDENTIFIED BY ''")
      yield* server.sql("GRANT ALL ON test.* TO app@'127.0.0.1'")
      const conns = yield* Effect.all([1, 2, 3].map(() => mysqlClient({ port: server.port, user: "app" })))
      const rootConn = yield* mysqlClient({ port: server.port })
      expect(yield* server.countConnections("app")).toBe(3)
      expect(yield* server.countConnections("root")).toBe(1) // the admin connection is not counted
      expect(yield* server.killConnections("app")).toBe(3)
      yield* Reliability.eventually("the killed threads to go", server.countConnections("app"), (n) => n === 0)
      // root's connection was not killed: it answers, and is root's only one once the admin's earlier
      // connections (one per admin call, closed before it returns) have left the processlist on a busy server
      expect(yield* mysqlRun(rootConn, "SELECT 1 AS one")).toEqual([{ one: 1 }])
      yield* Reliability.eventually("root's only connection to be the test's", server.countConnections("root"), (n) =>
        n === 1)
      const killed = yield* Effect.flip(mysqlRun(conns[0]!, "SELECT 1"))
      expect(killed).toBeInstanceOf(Error)
    }))

  it.scopedLive("a layer; closing the scope stops the server and deletes its directory", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const server = yield* logTime(
        "MariaServer.make (template copy)",
        Layer.build(MariaServer.layer()).pipe(Effect.map(Context.get(MariaServer.MariaServer)), Scope.extend(scope))
      )
      const pid = (yield* server.pid)!
      const dir = Path.dirname(server.dataDir)
      expect(Fs.existsSync(Path.join(dir, "data", "mysql"))).toBe(true)
      yield* expectClosedAndDeleted("MariaServer", scope, pid, dir)
    }))
})
