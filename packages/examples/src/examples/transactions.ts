/**
 * Transactions: `Pool.withTransaction` holds one connection from `BEGIN` to
 * `COMMIT`; a failure rolls everything back; a nested transaction is a
 * savepoint; statements through `SqlClient` inside the block join it.
 *
 * Run: `npx tsx packages/examples/src/examples/transactions.ts` (PostgreSQL on
 * 127.0.0.1:5432, or the server in `DATABASE_URL`)
 *
 * @since 0.1.0
 */
import * as PgPool from "@dbpool/pg/PgPool"
import * as Pool from "@dbpool/sql/Pool"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { databaseUrl, runIfMain } from "./run.js"

/**
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pool } from "@dbpool/sql"
 * import { PoolLive } from "@dbpool/examples/examples/transactions"
 *
 * const open = Effect.provide(Effect.map(Pool.stats, (s) => s.totalConnections), PoolLive)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const PoolLive = PgPool.layer({
  url: databaseUrl(),
  applicationName: "dbpool-example-transactions",
  pool: { minConnections: 1, maxConnections: 4 }
})

/**
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { InsufficientFunds } from "@dbpool/examples/examples/transactions"
 *
 * const refuse = Effect.fail(new InsufficientFunds({ account: "bob", balance: 80, amount: 500 }))
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class InsufficientFunds extends Data.TaggedError("InsufficientFunds")<{
  readonly account: string
  readonly balance: number
  readonly amount: number
}> {}

/** Moves money in one transaction: both updates happen, or neither. */
const transfer = (from: string, to: string, amount: number) =>
  Pool.withTransaction((conn) =>
    Effect.gen(function*() {
      yield* conn.sql`UPDATE example_accounts SET balance = balance - ${amount} WHERE name = ${from}`
      const [{ balance }] = yield* conn.sql<
        { balance: number }
      >`SELECT balance FROM example_accounts WHERE name = ${from}`
      if (balance < 0) return yield* new InsufficientFunds({ account: from, balance: balance + amount, amount })
      yield* conn.sql`UPDATE example_accounts SET balance = balance + ${amount} WHERE name = ${to}`
    })
  )

const balances = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql<{ name: string; balance: number }>`SELECT name, balance FROM example_accounts ORDER BY name`
)

/**
 * A committed transfer, one rolled back, and a savepoint.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { program, PoolLive } from "@dbpool/examples/examples/transactions"
 *
 * const result = Effect.runPromise(Effect.provide(program, PoolLive))
 * ```
 *
 * @since 0.1.0
 * @category programs
 */
export const program = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`DROP TABLE IF EXISTS example_accounts`
  yield* sql`CREATE TABLE example_accounts (name TEXT PRIMARY KEY, balance INTEGER NOT NULL)`
  yield* sql`INSERT INTO example_accounts ${
    sql.insert([{ name: "alice", balance: 100 }, { name: "bob", balance: 50 }])
  }`

  yield* transfer("alice", "bob", 30) // committed
  const refused = yield* transfer("bob", "alice", 500).pipe( // rolled back: bob's debit is undone
    Effect.catchTag(
      "InsufficientFunds",
      (e) => Effect.as(Console.log(`refused: ${e.account} has ${e.balance}, cannot send ${e.amount}`), e._tag)
    )
  )

  // A nested transaction is a savepoint: its failure undoes only its own work.
  yield* Pool.withTransaction(() =>
    Effect.gen(function*() {
      yield* sql`INSERT INTO example_accounts ${sql.insert({ name: "carol", balance: 10 })}` // joins the transaction
      yield* sql.withTransaction(sql`INSERT INTO example_accounts ${sql.insert({ name: "dave", balance: 10 })}`.pipe(
        Effect.zipRight(Effect.fail("dave's account is not approved"))
      )).pipe(Effect.ignore)
    })
  )

  const final = yield* balances
  yield* Console.log(final.map((a) => `${a.name}: ${a.balance}`).join(", "))
  return { refused, balances: final.map((a) => [a.name, a.balance] as const) }
})

/**
 * @example
 * ```ts
 * import { NodeRuntime } from "@effect/platform-node"
 * import { main } from "@dbpool/examples/examples/transactions"
 *
 * NodeRuntime.runMain(main)
 * ```
 *
 * @since 0.1.0
 * @category programs
 */
export const main = Effect.provide(program, PoolLive)

runIfMain(import.meta.url, main)
