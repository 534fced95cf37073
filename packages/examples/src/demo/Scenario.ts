/**
 * The demo's workload: `workers` fibers, each running `queriesPerWorker`
 * queries against one pool — single inserts, selects, money transfers in
 * transactions, and now and then a transaction rolled back on purpose. The SQL
 * is plain enough for SQLite, PostgreSQL and MySQL alike.
 *
 * @since 0.1.0
 */
import * as Pool from "@dbpool/sql/Pool"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/**
 * How much work the scenario does.
 *
 * @example
 * ```ts
 * import * as Scenario from "@dbpool/examples/demo/Scenario"
 *
 * const quick: Scenario.Options = { ...Scenario.defaults, workers: 4, queriesPerWorker: 20 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Fibers working at once. */
  readonly workers: number
  /** Queries each worker runs (a transaction counts as one query). */
  readonly queriesPerWorker: number
  /** Application work done while a transaction holds its connection. */
  readonly workInTransaction: Duration.DurationInput
  /** Pause between two queries of one worker, outside any connection. */
  readonly pause: Duration.DurationInput
}

/**
 * The demo's default: 20 workers × 100 queries, a few seconds in all.
 *
 * @example
 * ```ts
 * import * as Scenario from "@dbpool/examples/demo/Scenario"
 *
 * const longer = { ...Scenario.defaults, queriesPerWorker: 1000 }
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults: Options = {
  workers: 20,
  queriesPerWorker: 100,
  workInTransaction: "2 millis",
  pause: "1 millis"
}

/**
 * Live counters, read by the status display while the scenario runs.
 *
 * @example
 * ```ts
 * import * as Scenario from "@dbpool/examples/demo/Scenario"
 *
 * const progress = Scenario.makeProgress(Scenario.defaults)
 * const percent = () => Math.floor((progress.done / progress.total) * 100)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Progress {
  readonly total: number
  done: number
  statements: number
  committed: number
  rolledBack: number
  errors: number
  firstError: string | undefined
}

/**
 * @example
 * ```ts
 * import * as Scenario from "@dbpool/examples/demo/Scenario"
 *
 * Scenario.makeProgress(Scenario.defaults).total // 2000
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeProgress = (options: Options): Progress => ({
  total: options.workers * options.queriesPerWorker,
  done: 0,
  statements: 0,
  committed: 0,
  rolledBack: 0,
  errors: 0,
  firstError: undefined
})

/**
 * The outcome, checked against the database after the run.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Scenario from "@dbpool/examples/demo/Scenario"
 *
 * const intact = Effect.map(Scenario.check, (o) => o.totalBalance === o.expectedBalance && o.rolledBackRowsFound === 0)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Outcome {
  /** Sum of all balances: transfers move money, so it never changes. */
  readonly totalBalance: number
  readonly expectedBalance: number
  /** Rows inserted by the transactions rolled back on purpose: must be 0. */
  readonly rolledBackRowsFound: number
  /** Rows in the events table. */
  readonly events: number
}

/**
 * The failure that rolls a transaction back on purpose.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pool } from "@dbpool/sql"
 * import * as Scenario from "@dbpool/examples/demo/Scenario"
 *
 * const undone = Pool.withTransaction(() => Effect.fail(new Scenario.DeliberateRollback({ worker: 1 }))).pipe(
 *   Effect.catchTag("DeliberateRollback", () => Effect.log("rolled back"))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class DeliberateRollback extends Data.TaggedError("DeliberateRollback")<{ readonly worker: number }> {}

const accounts = 100
const openingBalance = 1_000

/**
 * Drops and creates the demo's two tables and opens the accounts.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Scenario from "@dbpool/examples/demo/Scenario"
 *
 * const fresh = Effect.zipRight(Scenario.setup, Scenario.check) // balances 100,000, no events
 * ```
 *
 * @since 0.1.0
 * @category setup
 */
export const setup: Effect.Effect<void, SqlError, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`DROP TABLE IF EXISTS demo_events`
  yield* sql`DROP TABLE IF EXISTS demo_accounts`
  yield* sql`CREATE TABLE demo_accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)`
  yield* sql`CREATE TABLE demo_events (
    id BIGINT PRIMARY KEY,
    worker INTEGER NOT NULL,
    kind VARCHAR(16) NOT NULL,
    amount INTEGER NOT NULL
  )`
  const rows = Array.from({ length: accounts }, (_, id) => ({ id, balance: openingBalance }))
  yield* sql`INSERT INTO demo_accounts ${sql.insert(rows)}`
})

/** The kind of the `i`-th query of a worker: a fixed mix, so every run does the same work. */
const kindOf = (i: number): "insert" | "select" | "transfer" | "rollback" => {
  if (i % 50 === 49) return "rollback"
  const slot = i % 10
  return slot < 4 ? "insert" : slot < 7 ? "select" : slot < 9 ? "transfer" : "select"
}

const describe = (error: unknown): string => error instanceof Error ? `${error.name}: ${error.message}` : String(error)

/** One query of one worker. */
const query = (worker: number, i: number, options: Options, progress: Progress) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const id = worker * 1_000_000 + i
    const amount = 1 + ((worker * 31 + i * 17) % 50)
    switch (kindOf(i)) {
      case "insert": {
        yield* sql`INSERT INTO demo_events ${sql.insert({ id, worker, kind: "insert", amount })}`
        progress.statements += 1
        return
      }
      case "select": {
        yield* sql`SELECT id, amount FROM demo_events WHERE worker = ${worker} ORDER BY id DESC LIMIT 5`
        progress.statements += 1
        return
      }
      case "transfer": {
        const from = (worker * 7 + i) % accounts
        const to = (from + 1 + (i % (accounts - 1))) % accounts
        // Rows are locked in id order, so two opposite transfers never deadlock on a server database.
        const [first, second] = [{ id: from, delta: -amount }, { id: to, delta: amount }].sort((a, b) => a.id - b.id)
        yield* Pool.withTransaction((conn) =>
          Effect.gen(function*() {
            yield* conn.sql`UPDATE demo_accounts SET balance = balance + ${first.delta} WHERE id = ${first.id}`
            yield* Effect.sleep(options.workInTransaction)
            yield* conn.sql`UPDATE demo_accounts SET balance = balance + ${second.delta} WHERE id = ${second.id}`
            yield* conn.sql`INSERT INTO demo_events ${conn.sql.insert({ id, worker, kind: "transfer", amount })}`
          })
        )
        progress.statements += 3
        progress.committed += 1
        return
      }
      case "rollback": {
        yield* Pool.withTransaction((conn) =>
          Effect.gen(function*() {
            yield* conn.sql`INSERT INTO demo_events ${conn.sql.insert({ id, worker, kind: "rollback", amount })}`
            yield* conn.sql`UPDATE demo_accounts SET balance = balance + 1000000 WHERE id = ${worker % accounts}`
            yield* Effect.sleep(options.workInTransaction)
            return yield* new DeliberateRollback({ worker })
          })
        ).pipe(Effect.catchTag("DeliberateRollback", () => Effect.sync(() => progress.rolledBack += 1)))
        progress.statements += 2
        return
      }
    }
  })

/**
 * Runs the workers to the end. A failed query is counted (and the first one
 * kept for the summary); it never stops the run.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Scenario from "@dbpool/examples/demo/Scenario"
 *
 * const progress = Scenario.makeProgress(Scenario.defaults)
 * const work = Scenario.setup.pipe(Effect.zipRight(Scenario.run(Scenario.defaults, progress)))
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const run = (
  options: Options,
  progress: Progress
): Effect.Effect<void, never, Pool.Pool | SqlClient.SqlClient> =>
  Effect.forEach(
    Array.from({ length: options.workers }, (_, worker) => worker),
    (worker) =>
      Effect.forEach(
        Array.from({ length: options.queriesPerWorker }, (_, i) => i),
        (i) =>
          query(worker, i, options, progress).pipe(
            Effect.catchAllCause((cause) =>
              Effect.sync(() => {
                progress.errors += 1
                progress.firstError ??= describe(Cause.squash(cause))
              })
            ),
            Effect.zipRight(Effect.sync(() => progress.done += 1)),
            Effect.zipRight(Effect.sleep(options.pause))
          ),
        { discard: true }
      ),
    { concurrency: "unbounded", discard: true }
  )

/**
 * Reads back what the run left in the database.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Scenario from "@dbpool/examples/demo/Scenario"
 *
 * const report = Effect.map(Scenario.check, (o) => `${o.events} events, balance ${o.totalBalance}`)
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const check: Effect.Effect<Outcome, SqlError, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [balance] = yield* sql<{ total: number | string }>`SELECT SUM(balance) AS total FROM demo_accounts`
  const [rolledBack] = yield* sql<{ n: number | string }>`SELECT COUNT(*) AS n FROM demo_events WHERE kind = 'rollback'`
  const [events] = yield* sql<{ n: number | string }>`SELECT COUNT(*) AS n FROM demo_events`
  return {
    totalBalance: Number(balance.total),
    expectedBalance: accounts * openingBalance,
    rolledBackRowsFound: Number(rolledBack.n),
    events: Number(events.n)
  }
})

/**
 * Rows the events table must hold after a run of these options with no errors.
 *
 * @example
 * ```ts
 * import * as Scenario from "@dbpool/examples/demo/Scenario"
 *
 * Scenario.expectedEvents(Scenario.defaults) // 1200: 20 workers × (40 inserts + 20 transfers)
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const expectedEvents = (options: Options): number => {
  let perWorker = 0
  for (let i = 0; i < options.queriesPerWorker; i++) {
    const kind = kindOf(i)
    if (kind === "insert" || kind === "transfer") perWorker++
  }
  return perWorker * options.workers
}
