import { FaultProxy, PgCluster, Reliability } from "@dbpool/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Scope } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { alive, pgClient, pgQuery } from "./utils/Clients.js"
import { expectClosedAndDeleted, logTime, until } from "./utils/Wait.js"

describe("PgCluster", () => {
  it.scopedLive("starts, answers, stops, refuses connections, starts again", () =>
    Effect.gen(function*() {
      const cluster = yield* logTime(
        "PgCluster.make, the first of this process (initdb into the template included)",
        PgCluster.make({ maxConnections: 20 })
      )
      expect(cluster.url).toBe(`postgres://postgres@127.0.0.1:${cluster.port}/test`)
      expect(yield* cluster.sql("SELECT 1 AS one")).toEqual([{ one: 1 }])
      expect(yield* cluster.sql("SELECT current_setting('max_connections') AS n")).toEqual([{ n: "20" }])
      expect(yield* pgQuery({ port: cluster.port }, "SELECT current_database() AS db")).toEqual([{ db: "test" }])
      const pid = (yield* cluster.pid)!
      expect(alive(pid)).toBe(true)

      yield* logTime("PgCluster.stop (fast)", cluster.stop())
      expect(yield* cluster.isRunning).toBe(false)
      expect(yield* cluster.pid).toBe(undefined)
      expect(alive(pid)).toBe(false)
      const refused = yield* Effect.flip(pgQuery({ port: cluster.port }, "SELECT 1"))
      expect((refused as NodeJS.ErrnoException).code).toBe("ECONNREFUSED")
      yield* cluster.stop() // stopping a stopped cluster does nothing

      yield* logTime("PgCluster.start (same directory and port)", cluster.start)
      expect(yield* pgQuery({ port: cluster.port }, "SELECT 2 AS two")).toEqual([{ two: 2 }])
      yield* cluster.start // starting a running cluster does nothing
      expect(yield* cluster.pid).not.toBe(pid)
    }))

  it.scopedLive("an immediate stop cuts open sessions; the cluster recovers at the next start", () =>
    Effect.gen(function*() {
      const cluster = yield* PgCluster.make()
      yield* cluster.sql("CREATE TABLE kept (n int)")
      yield* cluster.sql("INSERT INTO kept VALUES (1)")
      const client = yield* pgClient({ port: cluster.port })
      yield* logTime("PgCluster.restart (immediate)", cluster.restart("immediate"))
      const cut = yield* Effect.flip(Effect.tryPromise(() => client.query("SELECT 1")))
      expect(cut).toBeInstanceOf(Error)
      expect(yield* cluster.sql("SELECT n FROM kept")).toEqual([{ n: 1 }])
    }))

  it.scopedLive("counts and terminates the backends of one application_name", () =>
    Effect.gen(function*() {
      const cluster = yield* PgCluster.make()
      const a = yield* Effect.all([1, 2, 3].map(() => pgClient({ port: cluster.port, applicationName: "app-a" })))
      yield* pgClient({ port: cluster.port, applicationName: "app-b" })
      expect(yield* cluster.countConnections("app-a")).toBe(3)
      expect(yield* cluster.countConnections("app-b")).toBe(1)
      expect(yield* cluster.countConnections("dbpool-testing-admin")).toBe(0)
      expect(yield* cluster.terminateBackends("app-a")).toBe(3)
      yield* Reliability.eventually("the backends to exit", cluster.countConnections("app-a"), (n) => n === 0)
      expect(yield* cluster.countConnections("app-b")).toBe(1)
      const terminated = yield* Effect.flip(Effect.tryPromise(() => a[0]!.query("SELECT 1")))
      expect(terminated).toBeInstanceOf(Error)
    }))

  it.scopedLive("a layer, a database of its own, and several clusters at once", () =>
    Effect.gen(function*() {
      const [db, other] = yield* logTime(
        "two more PgCluster.make at once (template copies)",
        Effect.all([
          Effect.flatMap(PgCluster.PgCluster, (c) => c.sql("SELECT current_database() AS db")).pipe(
            Effect.provide(PgCluster.layer({ database: "other" }))
          ),
          PgCluster.make()
        ], { concurrency: 2 })
      )
      expect(db).toEqual([{ db: "other" }])
      expect(yield* other.sql("SELECT 1 AS one")).toEqual([{ one: 1 }])
    }))

  it.scopedLive("closing the scope stops the server and deletes its directory", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const cluster = yield* logTime("PgCluster.make (template copy)", PgCluster.make().pipe(Scope.extend(scope)))
      const pid = (yield* cluster.pid)!
      const dir = Path.dirname(cluster.dataDir)
      expect(Fs.existsSync(Path.join(dir, "data", "PG_VERSION"))).toBe(true)
      yield* expectClosedAndDeleted("PgCluster", scope, pid, dir)
    }))

  it.scopedLive("behind a FaultProxy: a blackholed connect times out, leaves no socket, and works once healed", () =>
    Effect.gen(function*() {
      const cluster = yield* PgCluster.make()
      const proxy = yield* FaultProxy.make({ target: { host: cluster.host, port: cluster.port } })
      expect(yield* pgQuery({ port: proxy.port }, "SELECT 1 AS one")).toEqual([{ one: 1 }])
      yield* proxy.setMode("blackhole")
      const start = performance.now()
      const timedOut = yield* Effect.flip(pgQuery({ port: proxy.port, connectTimeout: 300 }, "SELECT 1"))
      expect(timedOut.message).toMatch(/timeout/i)
      expect(performance.now() - start).toBeGreaterThanOrEqual(295)
      yield* until("the proxy to see the client go", () => Effect.runSync(proxy.liveSockets) === 0)
      expect(yield* cluster.countConnections("dbpool-testing-test")).toBe(0)
      yield* proxy.setMode("pass")
      expect(yield* pgQuery({ port: proxy.port }, "SELECT 2 AS two")).toEqual([{ two: 2 }])
    }))
})
