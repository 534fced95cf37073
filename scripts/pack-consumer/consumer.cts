// The same packages seen from a CommonJS TypeScript module (the `require` conditions' own .d.ts).
import { ResourcePool } from "@dbpool/core"
import { Pool } from "@dbpool/sql"
import { SqlitePool } from "@dbpool/sqlite"
import { Effect } from "effect"

export const program = Effect.scoped(
  Effect.flatMap(ResourcePool.make({ acquire: Effect.succeed(1) }), (pool) => pool.use((l) => Effect.succeed(l.resource)))
)
export const sqlite = Pool.withConnection((conn) => conn.sql`SELECT 1`).pipe(
  Effect.provide(SqlitePool.layer({ filename: "app.db" }))
)
