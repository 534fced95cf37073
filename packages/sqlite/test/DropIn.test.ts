/**
 * @dbpool/sqlite as a drop-in for @effect/sql-sqlite-node: a program asking for
 * `SqliteClient.SqliteClient` gets one from `SqlitePool.layer` (config, export, backup, loadExtension),
 * the shared drop-in checks of @dbpool/testing, and `SqliteMigrator` dumping its schema with `sqlite3`.
 */
import { Pool } from "@dbpool/sql"
import { DropIn } from "@dbpool/testing"
import type * as Reactivity from "@effect/experimental/Reactivity"
import { SqlClient } from "@effect/sql"
import { SqliteClient, SqliteMigrator } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect, type Scope } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { tempFiles, withOwnPool } from "./utils/ownPool.js"

const { dir, next: tempFile } = tempFiles("dbpool-sqlite-dropin-", "dropin")

/** Runs `program` on a pool of its own (with the program's Reactivity); every connection is closed afterwards. */
const withLayer = <A, E>(
  program: Effect.Effect<
    A,
    E,
    SqlClient.SqlClient | SqliteClient.SqliteClient | Pool.Pool | Reactivity.Reactivity | Scope.Scope
  >,
  pool: { readonly minConnections?: number; readonly maxConnections?: number } = {}
) =>
  withOwnPool(program, {
    filename: tempFile(),
    pool: { minConnections: 1, maxConnections: 4, acquireTimeout: "5 seconds", ...pool }
  })

/** A tiny SQLite extension (one function, `dropin_answer()`), built with the system's C compiler. */
const extension = (): string => {
  const source = path.join(dir, "answer.c")
  fs.writeFileSync(
    source,
    [
      "#include <sqlite3ext.h>",
      "SQLITE_EXTENSION_INIT1",
      "static void answer(sqlite3_context *c, int n, sqlite3_value **v) { sqlite3_result_int(c, 42); }",
      "int sqlite3_extension_init(sqlite3 *db, char **e, const sqlite3_api_routines *api) {",
      "  SQLITE_EXTENSION_INIT2(api);",
      "  return sqlite3_create_function(db, \"dropin_answer\", 0, SQLITE_UTF8, 0, answer, 0, 0);",
      "}"
    ].join("\n")
  )
  const library = path.join(dir, "answer.so")
  execFileSync("cc", ["-shared", "-fPIC", "-o", library, source])
  return library
}

describe("@dbpool/sqlite as @effect/sql-sqlite-node", () => {
  for (const check of DropIn.checks("sqlite", "dropin_sqlite")) {
    it.live(check.name, () => withLayer(check.run))
  }

  it.live("SqliteClient.SqliteClient from SqlitePool.layer: statements, config, export and backup", () =>
    withLayer(Effect.gen(function*() {
      const sqlite = yield* SqliteClient.SqliteClient
      yield* sqlite`CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)`
      yield* sqlite.withTransaction(sqlite`INSERT INTO t ${sqlite.insert([{ name: "ada" }, { name: "alan" }])}`)
      expect(sqlite.config.filename).toMatch(/dropin-\d+\.db$/)
      const image = yield* sqlite.export
      expect(Buffer.from(image.subarray(0, 16)).toString("latin1")).toBe("SQLite format 3\u0000")
      const copy = tempFile()
      const meta = yield* sqlite.backup(copy)
      expect(meta.remainingPages).toBe(0)
      expect(meta.totalPages).toBeGreaterThan(0)
      const backup = new Database(copy, { readonly: true })
      expect(backup.prepare("SELECT name FROM t ORDER BY id").all()).toEqual([{ name: "ada" }, { name: "alan" }])
      backup.close()
      // A WAL database's image: opened from a file (deserialized in memory, SQLite refuses its WAL header).
      const imageFile = tempFile()
      fs.writeFileSync(imageFile, image)
      const restored = new Database(imageFile, { readonly: true })
      expect(restored.prepare("SELECT count(*) AS n FROM t").get()).toEqual({ n: 2 })
      restored.close()
      const pool = yield* Pool.Pool
      expect(yield* SqlClient.SqlClient).toBe(pool.sql)
      expect("export" in pool.sql).toBe(false)
    })))

  it.live("loadExtension: loaded on every connection of the pool, new ones included; a bad path fails with SqlError", () =>
    withLayer(
      Effect.gen(function*() {
        const sqlite = yield* SqliteClient.SqliteClient
        const error = yield* Effect.flip(sqlite.loadExtension(path.join(dir, "missing.so")))
        expect(error._tag).toBe("SqlError")
        yield* sqlite.loadExtension(extension())
        // All three connections at once (two open when it was loaded, one opened after): each answers with
        // the extension's function.
        const answers = yield* Pool.withConnection((a) =>
          Pool.withConnection((b) =>
            Pool.withConnection((c) =>
              Effect.forEach([a, b, c], (conn) => conn.sql<{ n: number }>`SELECT dropin_answer() AS n`)
            )
          )
        )
        expect(answers).toEqual([[{ n: 42 }], [{ n: 42 }], [{ n: 42 }]])
      }),
      { minConnections: 2, maxConnections: 3 }
    ))

  it.live("SqliteMigrator with schemaDirectory writes the sqlite3 dump of the schema", () =>
    withLayer(Effect.gen(function*() {
      const dump = yield* DropIn.migrateWithDump(SqliteMigrator.run, "dropin_migrated")
      expect(dump).toMatch(/CREATE TABLE (IF NOT EXISTS )?"dropin_migrated" \(id INT PRIMARY KEY/)
      expect(dump).toMatch(/INSERT INTO "?dropin_migrated_migrations"? VALUES\(1,/)
    })))
})
