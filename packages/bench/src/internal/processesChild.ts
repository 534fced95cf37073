/**
 * One application process of the processes benchmark, started by `Processes.run` as
 * `node [--conditions=@dbpool/dist] --import tsx processesChild.ts CONFIG_JSON`. It builds a dbpool
 * `PgPool` of `pool` connections (min = max) on the target, prints `{"type":"ready"}` (with `error` if the
 * pool could not be built), then obeys one line of stdin at a time: a {@link Command} runs the workload on
 * `workers` fibers and prints one {@link ChildResult} line; `exit` closes the pool and ends the process.
 * The parent sends each command to every child at once, so the processes load the server together.
 */
import * as PgPool from "@dbpool/pg/PgPool"
import * as Pool from "@dbpool/sql/Pool"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import { createInterface } from "node:readline"
import type { ChildConfig, ChildResult, Command } from "./processesModel.js"
import { errorKind } from "./processesModel.js"

const config = JSON.parse(process.argv[2]!) as ChildConfig

const print = (line: unknown) => process.stdout.write(JSON.stringify(line) + "\n")

/** One operation of the workload: a `SELECT 1`, or BEGIN, three `SELECT $1`, COMMIT. */
const operation = (sql: SqlClient.SqlClient, workload: Command["workload"]): Effect.Effect<unknown, unknown> =>
  workload === "select1"
    ? sql`SELECT 1`
    : sql.withTransaction(Effect.forEach([1, 2, 3], (n) => sql`SELECT ${n}`, { discard: true }))

/**
 * `workers` fibers loop the operation until the window ends; operations finishing inside the window count.
 * After an error a worker waits 10 ms, so that a pool failing at once does not turn the run into a loop of
 * errors that starves the other processes of CPU.
 */
const runCommand = (pool: Pool.Pool, command: Command) =>
  Effect.gen(function*() {
    const sql = pool.sql
    const latencies: Array<number> = []
    const errorKinds: Record<string, number> = {}
    let errors = 0
    const from = performance.now() + command.warmupMs
    const until = from + command.durationMs
    const op = operation(sql, command.workload)
    const one = Effect.suspend(() => {
      const asked = performance.now()
      return Effect.matchEffect(op, {
        onFailure: (e) => {
          const now = performance.now()
          if (now >= from && now < until) {
            errors++
            const kind = errorKind(e)
            errorKinds[kind] = (errorKinds[kind] ?? 0) + 1
          }
          return Effect.sleep("10 millis")
        },
        onSuccess: () => {
          const done = performance.now()
          if (done >= from && done < until) latencies.push(Math.round((done - asked) * 1000) / 1000)
          return Effect.void
        }
      })
    })
    const loop = Effect.whileLoop({ while: () => performance.now() < until, body: () => one, step: () => {} })
    const fibers: Array<Fiber.RuntimeFiber<void>> = []
    for (let k = 0; k < config.workers; k++) fibers.push(yield* Effect.fork(loop))
    yield* Fiber.joinAll(fibers)
    const after = yield* pool.stats
    const preparedOnServer = yield* preparedStatements(sql)
    const result: ChildResult = {
      type: "result",
      workload: command.workload,
      windowMs: command.durationMs,
      latencies,
      errors,
      errorKinds,
      connections: after.totalConnections,
      connectFailures: after.connectFailures,
      preparedOnServer
    }
    return result
  })

/**
 * The most named prepared statements one server session holds, over `pool` statements run at once (each on
 * a connection of its own directly; behind PgBouncer, on whichever server sessions it lends): more than 0
 * means this process's connections cache prepared statements on the server.
 */
const preparedStatements = (sql: SqlClient.SqlClient): Effect.Effect<number | null> =>
  Effect.forEach(
    Array.from({ length: config.pool }),
    () => sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_prepared_statements`,
    { concurrency: "unbounded" }
  ).pipe(
    Effect.map((rows) => Math.max(...rows.map((r) => Number(r[0]?.n ?? 0)))),
    Effect.orElseSucceed(() => null)
  )

const main = Effect.gen(function*() {
  const scope = yield* Scope.make()
  const layer = PgPool.layer({
    url: Redacted.make(config.url),
    applicationName: config.applicationName,
    pool: {
      name: `process-${config.index}`,
      minConnections: config.pool,
      maxConnections: config.pool,
      acquireTimeout: config.acquireTimeout as Duration.DurationInput,
      // Shorter than the defaults (5 s doubling, 3 retries): a pool refused by a full server gives up on a
      // connection within a second, not after half a minute, so that a start that cannot fill the minimum
      // ends (with fewer connections, or failing if none opened) within the benchmark's patience.
      retryInterval: "250 millis",
      maxRetries: 2
    }
  })
  const built = yield* Effect.exit(Layer.buildWithScope(layer, scope))
  if (Exit.isFailure(built)) {
    print({ type: "ready", error: errorKind(Cause.squash(built.cause)) })
  } else {
    print({ type: "ready" })
  }
  const pool = Exit.isSuccess(built) ? Context.get(built.value, Pool.Pool) : undefined
  const lines = createInterface({ input: process.stdin })
  // The iterator buffers lines that arrive while a command runs.
  const next = lines[Symbol.asyncIterator]()
  for (;;) {
    const { done, value: line } = yield* Effect.promise(() => next.next())
    if (done === true || line.trim() === "exit") break
    const command = JSON.parse(line) as Command
    if (pool === undefined) {
      print(
        {
          type: "result",
          workload: command.workload,
          windowMs: command.durationMs,
          latencies: [],
          errors: 0,
          errorKinds: {},
          connections: 0,
          connectFailures: 0,
          preparedOnServer: null
        } satisfies ChildResult
      )
    } else {
      print(yield* runCommand(pool, command))
    }
  }
  lines.close()
  yield* Scope.close(scope, Exit.void)
})

Effect.runPromise(main).then(
  () => process.exit(0),
  (error) => {
    console.error(String(error))
    process.exit(1)
  }
)
