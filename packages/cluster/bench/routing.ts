/**
 * What routing costs: microseconds of CPU per statement through one pool's own client, through a cluster's
 * client to the primary, and as a read to a replica (round robin, least busy), all on drivers that answer at
 * once, so that only dbpool's work is counted. Rounds alternate the contenders; the median round is shown.
 *
 *   npx tsx packages/cluster/bench/routing.ts [statements per round, default 20000] [rounds, default 5]
 */
import { Cluster } from "@dbpool/cluster"
import type { Connector } from "@dbpool/sql/Connector"
import * as Pool from "@dbpool/sql/Pool"
import * as Statement from "@effect/sql/Statement"
import { Effect, Stream } from "effect"

const instant: Connector<object> = {
  system: "instant",
  connect: () => Effect.succeed({}),
  close: () => Effect.void,
  validate: () => Effect.void,
  cancel: () => Effect.void,
  connection: () => {
    const rows = Effect.succeed([{ one: 1 }])
    return {
      execute: () => rows,
      executeRaw: () => rows,
      executeValues: () => Effect.succeed([[1]]),
      executeUnprepared: () => rows,
      executeStream: () => Stream.make({ one: 1 })
    }
  },
  isConnectionError: () => false,
  compiler: Statement.makeCompilerSqlite(),
  spanAttributes: []
}

const n = Number(process.argv[2] ?? 20_000)
const rounds = Number(process.argv[3] ?? 5)
const config = { minConnections: 1, maxConnections: 1 }

const program = Effect.gen(function*() {
  const single = yield* Pool.make(instant, { ...config, name: "single" })
  const cluster = yield* Cluster.make(["p", "r1", "r2"].map((name, i) => ({
    name,
    role: i === 0 ? "primary" as const : "replica" as const,
    pool: Pool.make(instant, { ...config, name })
  })))
  const contenders: Record<string, Effect.Effect<unknown, unknown>> = {
    "pool.sql (one pool)": single.sql`SELECT 1`,
    "cluster.sql, primary": cluster.sql`SELECT 1`,
    "Cluster.read, round robin": Cluster.read(cluster.sql`SELECT 1`),
    "Cluster.readWith(leastBusy)": Cluster.readWith("leastBusy")(cluster.sql`SELECT 1`)
  }
  const times: Record<string, Array<number>> = {}
  for (let round = 0; round < rounds + 1; round++) {
    for (const [name, statement] of Object.entries(contenders)) {
      const loop = Effect.repeatN(statement, n - 1)
      const before = process.cpuUsage()
      yield* loop
      const used = process.cpuUsage(before)
      // the first round warms up
      if (round > 0) (times[name] ??= []).push((used.user + used.system) / n)
    }
  }
  for (const [name, list] of Object.entries(times)) {
    const sorted = [...list].sort((a, b) => a - b)
    console.log(`${name.padEnd(30)} ${sorted[Math.floor(sorted.length / 2)]!.toFixed(2)} µs CPU per statement`)
  }
}).pipe(Effect.scoped)

Effect.runPromise(program).catch((e) => {
  console.error(e)
  process.exitCode = 1
})
