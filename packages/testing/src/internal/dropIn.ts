/** The drop-in checks: @effect/sql's higher-level modules on a dbpool `SqlClient`. */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as NodeContext from "@effect/platform-node/NodeContext"
import type { CommandExecutor } from "@effect/platform/CommandExecutor"
import type { FileSystem } from "@effect/platform/FileSystem"
import type { Path } from "@effect/platform/Path"
import * as Migrator from "@effect/sql/Migrator"
import * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlResolver from "@effect/sql/SqlResolver"
import * as SqlSchema from "@effect/sql/SqlSchema"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type * as DropIn from "../DropIn.js"

/** Throws with both values when they differ (compared as JSON). */
const same = (what: string, actual: unknown, expected: unknown): Effect.Effect<void> =>
  Effect.suspend(() => {
    const a = JSON.stringify(actual)
    const e = JSON.stringify(expected)
    return a === e ? Effect.void : Effect.die(new Error(`${what}: expected ${e}, got ${a}`))
  })

const idColumn = (system: DropIn.System) =>
  system === "postgresql"
    ? "id SERIAL PRIMARY KEY"
    : system === "mysql"
    ? "id INT AUTO_INCREMENT PRIMARY KEY"
    : "id INTEGER PRIMARY KEY AUTOINCREMENT"

/** A table of people (id, name, age) for one check, dropped when the check's scope ends. */
const people = (system: DropIn.System, table: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`DROP TABLE IF EXISTS ${sql(table)}`
    yield* sql`CREATE TABLE ${sql(table)} (${
      sql.literal(idColumn(system))
    }, name VARCHAR(100) NOT NULL, age INT NOT NULL)`
    yield* Effect.addFinalizer(() => Effect.orDie(sql`DROP TABLE IF EXISTS ${sql(table)}`))
    return sql
  })

class Person extends Schema.Class<Person>("Person")({ id: Schema.Number, name: Schema.String, age: Schema.Number }) {}

const sqlSchema = (system: DropIn.System, table: string) =>
  Effect.gen(function*() {
    const sql = yield* people(system, table)
    const insert = SqlSchema.void({
      Request: Schema.Struct({ name: Schema.String, age: Schema.Number }),
      execute: (request) => sql`INSERT INTO ${sql(table)} ${sql.insert(request)}`
    })
    yield* insert({ name: "ada", age: 36 })
    yield* insert({ name: "alan", age: 41 })
    const byName = SqlSchema.findOne({
      Request: Schema.String,
      Result: Person,
      execute: (name) => sql`SELECT id, name, age FROM ${sql(table)} WHERE name = ${name}`
    })
    const all = SqlSchema.findAll({
      Request: Schema.Number,
      Result: Person,
      execute: (age) => sql`SELECT id, name, age FROM ${sql(table)} WHERE age > ${age} ORDER BY id`
    })
    const one = SqlSchema.single({
      Request: Schema.Number,
      Result: Person,
      execute: (id) => sql`SELECT id, name, age FROM ${sql(table)} WHERE id = ${id}`
    })
    const alan = yield* byName("alan")
    yield* same("findOne", Option.map(alan, (p) => [p.name, p.age]), Option.some(["alan", 41]))
    yield* same("findOne of nobody", yield* byName("grace"), Option.none())
    yield* same("findAll", (yield* all(30)).map((p) => p.name), ["ada", "alan"])
    yield* same("single", (yield* one(Option.getOrThrow(alan).id)).name, "alan")
    const missing = yield* Effect.flip(one(-1))
    yield* same("single of nothing fails with", missing._tag, "NoSuchElementException")
  })

const repository = (system: DropIn.System, table: string) =>
  Effect.gen(function*() {
    yield* people(system, table)
    class Member extends Model.Class<Member>("Member")({
      id: Model.Generated(Schema.Number),
      name: Schema.String,
      age: Schema.Number
    }) {}
    const repo = yield* Model.makeRepository(Member, { tableName: table, spanPrefix: "Members", idColumn: "id" })
    const ada = yield* repo.insert(Member.insert.make({ name: "ada", age: 36 }))
    yield* repo.insertVoid(Member.insert.make({ name: "alan", age: 41 }))
    yield* same("inserted", [ada.name, ada.age, typeof ada.id], ["ada", 36, "number"])
    const older = yield* repo.update(Member.update.make({ id: ada.id, name: "ada", age: 37 }))
    yield* same("updated", older.age, 37)
    yield* repo.updateVoid(Member.update.make({ id: ada.id, name: "ada lovelace", age: 37 }))
    const found = yield* repo.findById(ada.id)
    yield* same("found", Option.map(found, (m) => m.name), Option.some("ada lovelace"))
    yield* repo.delete(ada.id)
    yield* same("deleted", Option.isNone(yield* repo.findById(ada.id)), true)
  })

const resolver = (system: DropIn.System, table: string) =>
  Effect.gen(function*() {
    const sql = yield* people(system, table)
    yield* sql`INSERT INTO ${sql(table)} ${
      sql.insert([{ name: "a", age: 1 }, { name: "b", age: 2 }, { name: "c", age: 3 }])
    }`
    let batches = 0
    const InsertPerson = yield* SqlResolver.ordered("InsertPerson", {
      Request: Schema.Struct({ name: Schema.String, age: Schema.Number }),
      Result: Schema.Struct({ name: Schema.String }),
      execute: (requests) =>
        Effect.gen(function*() {
          batches++
          yield* sql`INSERT INTO ${sql(table)} ${sql.insert(requests)}`
          return requests.map((r) => ({ name: r.name }))
        })
    })
    const inserted = yield* Effect.forEach(
      [{ name: "d", age: 4 }, { name: "e", age: 5 }],
      (r) => InsertPerson.execute(r),
      { batching: true }
    )
    yield* same("ordered", inserted, [{ name: "d" }, { name: "e" }])
    yield* same("ordered ran as one batch", batches, 1)
    const ByAge = yield* SqlResolver.findById("PersonByAge", {
      Id: Schema.Number,
      Result: Schema.Struct({ name: Schema.String, age: Schema.Number }),
      ResultId: (row) => row.age,
      execute: (ages) => sql`SELECT name, age FROM ${sql(table)} WHERE ${sql.in("age", ages)}`
    })
    const found = yield* Effect.forEach([3, 9, 1], (age) => ByAge.execute(age), { batching: true })
    yield* same("findById", found.map(Option.map((p) => p.name)), [Option.some("c"), Option.none(), Option.some("a")])
    const ByFirstLetter = yield* SqlResolver.grouped("PeopleByAgeAbove", {
      Request: Schema.Number,
      RequestGroupKey: (age) => age,
      Result: Schema.Struct({ name: Schema.String, age: Schema.Number }),
      ResultGroupKey: (row) => row.age,
      execute: (ages) => sql`SELECT name, age FROM ${sql(table)} WHERE ${sql.in("age", ages)} ORDER BY name`
    })
    const groups = yield* Effect.forEach([2, 5], (age) => ByFirstLetter.execute(age), { batching: true })
    yield* same("grouped", groups.map((g) => g.map((p) => p.name)), [["b"], ["e"]])
  })

const reactive = (system: DropIn.System, table: string) =>
  Effect.gen(function*() {
    const sql = yield* people(system, table)
    const counts = yield* sql.reactive(
      [table],
      Effect.map(sql<{ n: number }>`SELECT COUNT(*) AS n FROM ${sql(table)}`, (rows) => Number(rows[0]!.n))
    ).pipe(Stream.take(3), Stream.runCollect, Effect.fork)
    // The stream's first run starts in its fiber: wait for it (the count is read before any insert).
    yield* Effect.yieldNow()
    yield* Effect.sleep("100 millis")
    yield* Reactivity.mutation(sql`INSERT INTO ${sql(table)} ${sql.insert({ name: "ada", age: 36 })}`, [table])
    yield* Effect.sleep("100 millis")
    yield* Reactivity.mutation(sql`INSERT INTO ${sql(table)} ${sql.insert({ name: "alan", age: 41 })}`, [table])
    const seen = yield* Fiber.join(counts).pipe(
      Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("reactive did not re-run") })
    )
    yield* same("reactive counts", Chunk.toReadonlyArray(seen), [0, 1, 2])
  })

const savepoints = (system: DropIn.System, table: string) =>
  Effect.gen(function*() {
    const sql = yield* people(system, table)
    const add = (name: string) => sql`INSERT INTO ${sql(table)} ${sql.insert({ name, age: 1 })}`
    const boom = new Error("boom")
    yield* sql.withTransaction(Effect.gen(function*() {
      yield* add("outer")
      yield* sql.withTransaction(Effect.gen(function*() {
        yield* add("middle")
        yield* sql.withTransaction(Effect.zipRight(add("inner"), Effect.fail(boom))).pipe(Effect.ignore)
        yield* add("middle 2")
      }))
      yield* sql.withTransaction(Effect.zipRight(add("rolled back"), Effect.fail(boom))).pipe(Effect.ignore)
    }))
    const names = yield* sql<{ name: string }>`SELECT name FROM ${sql(table)} ORDER BY id`
    yield* same("kept by the savepoints", names.map((r) => r.name), ["outer", "middle", "middle 2"])
    const failed = yield* sql.withTransaction(Effect.zipRight(add("gone"), Effect.fail(boom))).pipe(Effect.flip)
    yield* same("the outermost failure", failed, boom)
    yield* same("rolled back", (yield* sql`SELECT name FROM ${sql(table)} WHERE name = 'gone'`).length, 0)
  })

const streams = (system: DropIn.System, table: string) =>
  Effect.gen(function*() {
    const sql = yield* people(system, table)
    const rows = Array.from({ length: 500 }, (_, i) => ({ name: `p${i}`, age: i }))
    yield* sql`INSERT INTO ${sql(table)} ${sql.insert(rows)}`
    const query = sql<{ age: number }>`SELECT age FROM ${sql(table)} ORDER BY age`
    const all = yield* Stream.runCollect(query.stream)
    yield* same("streamed rows", [all.length, Chunk.unsafeGet(all, 499).age], [500, 499])
    const firstTen = yield* query.stream.pipe(Stream.take(10), Stream.runCollect)
    yield* same("an early end", Chunk.toReadonlyArray(firstTen).map((r) => r.age), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    const inTransaction = yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql`INSERT INTO ${sql(table)} ${sql.insert({ name: "late", age: 1000 })}`
      // The stream runs on the transaction's connection: it sees the row not yet committed.
      return yield* Stream.runCount(query.stream)
    }))
    yield* same("streamed inside a transaction", inTransaction, 501)
  })

export const checks = (system: DropIn.System, prefix: string): ReadonlyArray<DropIn.Check> => {
  let n = 0
  const table = () => `${prefix}_${++n}`
  const check = (
    name: string,
    f: (system: DropIn.System, table: string) => Effect.Effect<void, unknown, any>
  ): DropIn.Check => ({
    name,
    run: Effect.suspend(() => f(system, table())) as Effect.Effect<
      void,
      unknown,
      SqlClient.SqlClient | Reactivity.Reactivity | Scope.Scope
    >
  })
  return [
    check("SqlSchema: void, findOne, findAll and single decode the rows", sqlSchema),
    check("Model.makeRepository: insert, update, findById and delete", repository),
    check("SqlResolver: ordered, findById and grouped batch their requests", resolver),
    check("sql.reactive runs again after each Reactivity.mutation of its key", reactive),
    check("nested withTransaction: savepoints keep what succeeded and undo what failed", savepoints),
    check("streams: every row, an early end, inside a transaction", streams)
  ]
}

export const migrateWithDump = <E, R>(
  run: (options: Migrator.MigratorOptions) => Effect.Effect<ReadonlyArray<readonly [number, string]>, E, R>,
  table: string
): Effect.Effect<string, unknown, Exclude<R, CommandExecutor | FileSystem | Path> | SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), "dbpool-dropin-"))
    const migrations = `${table}_migrations`
    yield* Effect.addFinalizer(() =>
      Effect.all([sql`DROP TABLE IF EXISTS ${sql(table)}`, sql`DROP TABLE IF EXISTS ${sql(migrations)}`]).pipe(
        Effect.ignore,
        Effect.zipRight(Effect.sync(() => fs.rmSync(directory, { recursive: true, force: true })))
      )
    )
    const ran = yield* run({
      loader: Migrator.fromRecord({
        "1_create": Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql`CREATE TABLE ${sql(table)} (id INT PRIMARY KEY, name VARCHAR(20))`
        )
      }),
      schemaDirectory: directory,
      table: migrations
    })
    yield* same("migrations run", ran, [[1, "create"]])
    const file = path.join(directory, "_schema.sql")
    if (!fs.existsSync(file)) return yield* Effect.die(new Error(`no schema dump in ${directory}`))
    return fs.readFileSync(file, "utf8")
  }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)) as any

/** @internal */
export const identityAfterTimeouts = <X, E, R>(options: {
  readonly rounds: number
  readonly timedOut: Effect.Effect<X, never, R>
  readonly identity: Effect.Effect<number, E, R>
}): Effect.Effect<DropIn.IdentityChanges<E>, E, R> =>
  Effect.gen(function*() {
    let id = yield* options.identity
    let changes = 0
    const errors: Array<E> = []
    for (let i = 0; i < options.rounds; i++) {
      yield* options.timedOut
      // the next statements must meet no late cancel or kill of the one cut short
      for (let j = 0; j < 3; j++) {
        const next = yield* Effect.either(options.identity)
        if (next._tag === "Left") errors.push(next.left)
        else if (next.right !== id) {
          changes++
          id = next.right
        }
      }
    }
    return { changes, errors }
  })
