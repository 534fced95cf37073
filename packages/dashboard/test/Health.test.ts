/**
 * Readiness against a real server that goes away and comes back: PostgreSQL
 * behind the fault proxy of @dbpool/testing, which resets every connection
 * and then refuses new ones, then passes again.
 */
import { PgPool } from "@dbpool/pg"
import * as Pool from "@dbpool/sql/Pool"
import { FaultProxy } from "@dbpool/testing"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Redacted } from "effect"
import pg from "pg"
import { getJson, serve } from "./utils/serve.js"

const ci = process.env.CI !== undefined && process.env.CI !== "" && process.env.CI !== "false"
const howToStart = "start it with `npm run test:env` (npm test runs it first)"

const postgresUp = async (): Promise<boolean> => {
  const client = new pg.Client({
    connectionString: "postgres://postgres@127.0.0.1:5432/test",
    connectionTimeoutMillis: 3000
  })
  client.on("error", () => {})
  try {
    await client.connect()
    return true
  } catch {
    return false
  } finally {
    await client.end().catch(() => {})
  }
}
const up = await postgresUp()

/** Asks /health/ready until its status is `status` (each answer within readyTimeout); returns that answer. */
const readyUntil = (url: string, status: number) =>
  Effect.gen(function*() {
    for (;;) {
      const answer = yield* getJson(`${url}health/ready`)
      if (answer.status === status) return answer
      yield* Effect.sleep("100 millis")
    }
  })

describe("/health/ready with a PostgreSQL server that goes away and comes back", () => {
  it.live(
    "is 200 while the server answers, 503 with the reason while it is gone, and 200 again once it is back",
    (ctx) => {
      if (!up) {
        const message = `PostgreSQL does not answer at 127.0.0.1:5432`
        if (ci) throw new Error(`${message}; CI must run this test: ${howToStart}`)
        console.warn(`${message}: skipping. To run it, ${howToStart}`)
        ctx.skip(message)
      }
      return Effect.gen(function*() {
        const proxy = yield* FaultProxy.make({ target: { host: "127.0.0.1", port: 5432 } })
        const context = yield* Layer.build(PgPool.layer({
          url: Redacted.make(`postgres://postgres@127.0.0.1:${proxy.port}/test`),
          pool: {
            name: "pg-health",
            minConnections: 1,
            maxConnections: 2,
            acquireTimeout: "2 seconds",
            connectTimeout: "1 second",
            retryInterval: "50 millis",
            maxRetries: 1
          }
        }))
        const pool = Context.get(context, Pool.Pool)
        const { url } = yield* serve({ pools: [pool], readyTimeout: "500 millis" })
        expect(yield* getJson(`${url}health/ready`)).toEqual({
          status: 200,
          json: { status: "ready", pools: [{ name: "pg-health", ready: true }] }
        })

        // The server goes away: open connections are reset, new ones refused.
        yield* proxy.setMode("reset")
        yield* proxy.setMode("refuse")
        const down = yield* readyUntil(url, 503)
        expect(down.json.status).toBe("not ready")
        expect(down.json.reason).toMatch(/^pool "pg-health": /)
        expect(down.json.pools).toEqual([{ name: "pg-health", ready: false, reason: down.json.reason }])
        expect(yield* getJson(`${url}health/live`)).toEqual({ status: 200, json: { status: "live" } })

        // It comes back.
        yield* proxy.setMode("pass")
        const back = yield* readyUntil(url, 200)
        expect(back.json).toEqual({ status: "ready", pools: [{ name: "pg-health", ready: true }] })
        // And the pool serves queries again.
        const rows = yield* pool.withConnection((conn) => conn.sql<{ n: number }>`SELECT 1 AS n`)
        expect(rows).toEqual([{ n: 1 }])
      }).pipe(Effect.scoped)
    },
    60_000
  )
})
