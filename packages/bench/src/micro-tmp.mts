import * as Pool from "@dbpool/sql/Pool"
import { makeCompiler } from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"

const rows = [{ "?column?": 1 }]
const run = Effect.async<any, any>((resume) => { setImmediate(() => resume(Effect.succeed(rows))) })
const connection: any = {
  execute: () => run, executeRaw: () => run, executeValues: () => run, executeUnprepared: () => run, executeStream: () => { throw new Error() }
}
const connector: any = {
  system: "fake", connect: () => Effect.succeed({}), close: () => Effect.void, validate: () => Effect.void, cancel: () => Effect.void,
  connection: () => connection, isConnectionError: () => false, compiler: makeCompiler(), spanAttributes: []
}
const wl = process.env.WL ?? "select1"
const main = Effect.gen(function*() {
  const ctx = yield* Layer.build(Pool.layer(connector, { minConnections: 10, maxConnections: 10 }))
  const sql = Context.get(ctx, SqlClient.SqlClient)
  const q = wl === "select1" ? sql`SELECT 1` : sql.withTransaction(Effect.forEach([1, 2, 3], (n) => sql`SELECT ${n}`, { discard: true }))
  for (let round = 0; round < 4; round++) {
    let n = 0
    const until = performance.now() + 1500
    const c0 = process.cpuUsage()
    const fibers = []
    for (let k = 0; k < 50; k++) fibers.push(yield* Effect.fork(Effect.whileLoop({ while: () => performance.now() < until, body: () => Effect.map(q, () => { n++ }), step: () => {} })))
    yield* Fiber.joinAll(fibers)
    const c = process.cpuUsage(c0)
    console.log(`${wl}: ${n} ops, ${((c.user + c.system) / n).toFixed(2)} µs CPU/op`)
  }
})
Effect.runPromise(Effect.scoped(main))
