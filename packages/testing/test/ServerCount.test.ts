import { Reliability, ServerCount, SparePort } from "@dbpool/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mysqlClient, mysqlQuery, pgClient } from "./utils/Clients.js"

const { eventually } = Reliability

// The machine's main servers: outside CI a missing one skips its tests, saying so; in CI they must run.
const pgUp = await Effect.runPromise(SparePort.isListening(5432))
const mariaUp = await Effect.runPromise(SparePort.isListening(3306))
const ci = !!process.env.CI
if (!ci && !(pgUp && mariaUp)) {
  console.warn("The main PostgreSQL (5432) or MariaDB (3306) is not running: skipping its ServerCount tests")
}

describe("ServerCount", () => {
  it.scopedLive.skipIf(!pgUp && !ci)(
    "counts and terminates our backends on the main PostgreSQL",
    () =>
      Effect.gen(function*() {
        const app = `dbpool-testing-count-${process.pid}`
        yield* Effect.all([
          pgClient({ port: 5432, applicationName: app }),
          pgClient({ port: 5432, applicationName: app })
        ])
        expect(yield* ServerCount.postgres(app)).toBe(2)
        expect(yield* ServerCount.postgres(`${app}-other`)).toBe(0)
        expect(yield* ServerCount.terminatePostgres(app)).toBe(2)
        yield* eventually("the backends to exit", ServerCount.postgres(app), (n) => n === 0)
      })
  )

  it.scopedLive.skipIf(!mariaUp && !ci)(
    "counts and kills the connections of a user of our own on the main MariaDB",
    () =>
      Effect.gen(function*() {
        const user = yield* Effect.scoped(Effect.gen(function*() {
          const user = yield* ServerCount.mariadbUser()
          expect(user).toMatch(/^dbpool_\d+_\d+$/)
          yield* Effect.all([mysqlClient({ port: 3306, user }), mysqlClient({ port: 3306, user })])
          expect(yield* ServerCount.mariadb(user)).toBe(2)
          expect(yield* ServerCount.killMariadb(user)).toBe(2)
          yield* eventually("the killed threads to go", ServerCount.mariadb(user), (n) => n === 0)
          yield* mysqlClient({ port: 3306, user }) // still open when the scope drops the user
          return user
        }))
        // the user is gone with the scope, and so are its connections
        expect(yield* mysqlQuery({ port: 3306 }, `SELECT COUNT(*) AS n FROM mysql.user WHERE User = '${user}'`))
          .toEqual([
            { n: 0 }
          ])
        expect(yield* ServerCount.mariadb(user)).toBe(0)
      })
  )

  it.live("SparePort hands out free ports below the ephemeral range, never twice", () =>
    Effect.gen(function*() {
      const ports = yield* Effect.all(Array.from({ length: 20 }, () => SparePort.get))
      expect(new Set(ports).size).toBe(20)
      const [low] = (yield* Effect.promise(() => import("node:fs"))).readFileSync(
        "/proc/sys/net/ipv4/ip_local_port_range",
        "utf8"
      ).trim().split(/\s+/).map(Number)
      expect(ports.every((port) => port >= 1024 && port < low!)).toBe(true)
      expect(yield* Effect.all(ports.map((port) => SparePort.isListening(port)))).toEqual(ports.map(() => false))
    }))
})
