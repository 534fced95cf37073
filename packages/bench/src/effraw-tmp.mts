import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import Pg from "pg"
const mk = () => new Pg.Pool({ host: "127.0.0.1", user: "postgres", database: "test", max: 10 })
const effRound = (p: Pg.Pool, ms: number) => Effect.gen(function*() {
  const q = Effect.async<unknown>((resume) => { p.query("SELECT 1", (e: any, r: any) => resume(e ? Effect.die(e) : Effect.succeed(r))) })
  let n = 0; const until = performance.now() + ms; const c0 = process.cpuUsage()
  const fs = []
  for (let k = 0; k < 50; k++) fs.push(yield* Effect.fork(Effect.whileLoop({ while: () => performance.now() < until, body: () => Effect.map(q, () => { n++ }), step: () => {} })))
  yield* Fiber.joinAll(fs)
  const c = process.cpuUsage(c0); return [Math.round(n / (ms / 1000)), ((c.user + c.system) / n).toFixed(1)]
})
async function rawRound(p: Pg.Pool, ms: number) {
  let n = 0; const until = performance.now() + ms; const c0 = process.cpuUsage()
  await Promise.all(Array.from({ length: 50 }, async () => { while (performance.now() < until) { await p.query("SELECT 1"); n++ } }))
  const c = process.cpuUsage(c0); return [Math.round(n / (ms / 1000)), ((c.user + c.system) / n).toFixed(1)]
}
for (let r = 0; r < 3; r++) {
  const p1 = mk(); await Promise.all(Array.from({ length: 10 }, () => p1.query("SELECT 1")))
  const a = await rawRound(p1, 2000); await p1.end()
  const p2 = mk(); await Promise.all(Array.from({ length: 10 }, () => p2.query("SELECT 1")))
  const b = await Effect.runPromise(effRound(p2, 2000)); await p2.end()
  console.log("raw", a, "effect.async over pg.Pool", b)
}
