import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Context from "effect/Context"
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgPool from "@dbpool/pg/PgPool"
import Pg from "pg"
const loop = (q: Effect.Effect<unknown, unknown>, ms: number) => Effect.gen(function*() {
  yield* Effect.forEach(Array.from({ length: 10 }), () => q, { concurrency: "unbounded", discard: true })
  let n = 0; const until = performance.now() + ms; const c0 = process.cpuUsage()
  const fs = []
  for (let k = 0; k < 50; k++) fs.push(yield* Effect.fork(Effect.whileLoop({ while: () => performance.now() < until, body: () => Effect.map(q, () => { n++ }), step: () => {} })))
  yield* Fiber.joinAll(fs)
  const c = process.cpuUsage(c0); return `${Math.round(n / (ms / 1000))} q/s user ${(c.user / n).toFixed(1)} sys ${(c.system / n).toFixed(1)}`
})
const pgRound = (ms: number) => Effect.scoped(Effect.gen(function*() {
  const p = new Pg.Pool({ host: "127.0.0.1", user: "postgres", database: "test", max: 10 })
  const q = Effect.async<unknown>((resume) => { p.query("SELECT 1", (e: any, r: any) => resume(e ? Effect.die(e) : Effect.succeed(r))) })
  const r = yield* loop(q, ms); yield* Effect.promise(() => p.end()); return r
}))
const dbRound = (ms: number) => Effect.scoped(Effect.gen(function*() {
  const ctx = yield* Layer.build(PgPool.layer({ host: "127.0.0.1", username: "postgres", database: "test", pool: { minConnections: 10, maxConnections: 10 } }))
  const sql = Context.get(ctx, SqlClient.SqlClient)
  return yield* loop(sql`SELECT 1`, ms)
}))
for (let r = 0; r < 3; r++) console.log("effect.async pg.Pool", await Effect.runPromise(pgRound(2000)), " | dbpool", await Effect.runPromise(dbRound(2000)))
