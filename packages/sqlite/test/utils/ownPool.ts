/**
 * What the SQLite test files share: a temporary directory of their own for database files, and a pool of
 * its own per test that must leave no connection open.
 */
import type { Pool } from "@dbpool/sql"
import { SqlitePool } from "@dbpool/sqlite"
import * as Reactivity from "@effect/experimental/Reactivity"
import type { SqlClient } from "@effect/sql"
import type { SqliteClient } from "@effect/sql-sqlite-node"
import { afterAll, expect } from "@effect/vitest"
import type Database from "better-sqlite3"
import { Effect, Layer, type Scope } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** A directory under the system's temp directory, removed after the file's tests; `next` names a fresh file in it. */
export const tempFiles = (prefix: string, stem: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
  let files = 0
  return { dir, next: () => path.join(dir, `${stem}-${++files}.db`) }
}

/**
 * Runs `program` in a scope of its own on a pool of its own; every connection the pool opened is closed
 * afterwards. Reactivity is built in the same layer as the pool so that both share one instance (layers are
 * memoised within one build): `sql.reactive` must hear the program's `Reactivity.mutation`.
 */
export const withOwnPool = <A, E>(
  program: Effect.Effect<
    A,
    E,
    Pool.Pool | SqlClient.SqlClient | SqliteClient.SqliteClient | Reactivity.Reactivity | Scope.Scope
  >,
  options: Omit<SqlitePool.SqlitePoolOptions, "onConnect">
) =>
  Effect.gen(function*() {
    const opened: Array<Database.Database> = []
    const layer = SqlitePool.layer({ ...options, onConnect: (db) => Effect.sync(() => void opened.push(db)) })
    const result = yield* Effect.provide(Effect.scoped(program), Layer.merge(layer, Reactivity.layer))
    expect(opened.filter((db) => db.open)).toEqual([])
    return result
  })
