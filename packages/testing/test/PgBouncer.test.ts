import { PgBouncer, PgCluster, Reliability } from "@dbpool/testing"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import * as Fs from "node:fs"
import { alive, pgClient, pgQuery } from "./utils/Clients.js"
import { logTime } from "./utils/Wait.js"

describe("PgBouncer", () => {
  it.scopedLive("answers in transaction mode in front of a cluster; stops, refuses, starts, restarts", () =>
    Effect.gen(function*() {
      const cluster = yield* PgCluster.make()
      const bouncer = yield* logTime(
        "PgBouncer.make",
        PgBouncer.make({ target: { host: cluster.host, port: cluster.port }, defaultPoolSize: 2 })
      )
      expect(bouncer.url).toBe(`postgres://postgres@127.0.0.1:${bouncer.port}/test`)
      expect(yield* pgQuery({ port: bouncer.port, applicationName: "through" }, "SELECT current_database() AS db"))
        .toEqual([{ db: "test" }])
      const pools = yield* bouncer.admin("SHOW POOLS")
      expect(pools.filter((p) => p.database === "test").map((p) => [p.user, p.pool_mode])).toEqual([
        ["postgres", "transaction"]
      ])

      const open = yield* pgClient({ port: bouncer.port })
      const pid = (yield* bouncer.pid)!
      yield* logTime("PgBouncer.stop (fast)", bouncer.stop())
      expect(alive(pid)).toBe(false)
      expect(yield* Effect.flip(Effect.tryPromise(() => open.query("SELECT 1")))).toBeInstanceOf(Error)
      const refused = yield* Effect.flip(pgQuery({ port: bouncer.port }, "SELECT 1"))
      expect((refused as NodeJS.ErrnoException).code).toBe("ECONNREFUSED")

      yield* logTime("PgBouncer.start", bouncer.start)
      expect(yield* pgQuery({ port: bouncer.port }, "SELECT 1 AS one")).toEqual([{ one: 1 }])
      yield* logTime("PgBouncer.restart (immediate)", bouncer.restart("immediate"))
      expect(yield* pgQuery({ port: bouncer.port }, "SELECT 2 AS two")).toEqual([{ two: 2 }])
    }))

  it.scopedLive("reaches a restarted cluster again within a second or so (server_login_retry = 1)", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.build(
        PgBouncer.layerCluster().pipe(Layer.provideMerge(PgCluster.layer()))
      ).pipe(Scope.extend(scope))
      const cluster = Context.get(context, PgCluster.PgCluster)
      const bouncer = Context.get(context, PgBouncer.PgBouncer)
      expect(bouncer.target).toEqual({ host: "127.0.0.1", port: cluster.port })
      expect(yield* pgQuery({ port: bouncer.port }, "SELECT 1 AS one")).toEqual([{ one: 1 }])
      yield* cluster.stop("immediate")
      // PgBouncer logs the client in (it knows the server's parameters) and queues the query
      const queued = yield* Effect.flip(pgQuery({ port: bouncer.port, queryTimeout: 500 }, "SELECT 1"))
      expect(queued.message).toMatch(/timeout/i)
      yield* cluster.start
      const start = performance.now()
      const rows = yield* Reliability.eventually(
        "a query through PgBouncer to succeed",
        Effect.either(pgQuery({ port: bouncer.port, queryTimeout: 1000 }, "SELECT 3 AS three")),
        (r) => r._tag === "Right",
        5000
      )
      expect(rows._tag === "Right" && rows.right).toEqual([{ three: 3 }])
      // PgBouncer's default server_login_retry (15 s) would not make it
      expect(performance.now() - start).toBeLessThan(4000)
      const dir = bouncer.dir
      yield* Scope.close(scope, Exit.void)
      expect(Fs.existsSync(dir)).toBe(false)
    }))
})
