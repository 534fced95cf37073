/**
 * @effect/sql-sqlite-node's `SqliteClient` answered over a dbpool pool: statements, `export` and `backup`
 * borrow the pool's connections; `loadExtension` loads on one connection now and on every other before
 * its next statement (and on each new one).
 */
import type { Connector } from "@dbpool/sql/Connector"
import * as Pool from "@dbpool/sql/Pool"
import type * as SqliteClientNs from "@effect/sql-sqlite-node/SqliteClient"
import { SqliteClient, TypeId } from "@effect/sql-sqlite-node/SqliteClient"
import { SqlError } from "@effect/sql/SqlError"
import type Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as SqlitePool from "../SqlitePool.js"
import { extensionsOf } from "./sqlite.js"

const failure = (cause: unknown, what: string) =>
  new SqlError({ cause, message: `${what}: ${cause instanceof Error ? cause.message : String(cause)}` })

export const configOf = (options: SqlitePool.SqlitePoolOptions): SqliteClientNs.SqliteClientConfig => ({
  filename: options.filename,
  readonly: options.readonly,
  disableWAL: options.disableWAL,
  spanAttributes: options.spanAttributes,
  transformResultNames: options.transformResultNames,
  transformQueryNames: options.transformQueryNames
})

/** A new SqliteClient over the pool; the pool's own `sql` is not touched. */
export const make = (
  pool: Pool.Pool<Database.Database>,
  connector: Connector<Database.Database, any>,
  config: SqliteClientNs.SqliteClientConfig
): SqliteClientNs.SqliteClient => {
  const onConnection = <A>(what: string, f: (db: Database.Database) => A | Promise<A>) =>
    Effect.mapError(
      pool.withConnection((conn) => Effect.tryPromise(async () => f(conn.native))),
      (cause) => failure(cause instanceof Error && "error" in cause ? (cause as any).error : cause, what)
    )
  const extensions = extensionsOf.get(connector)!
  return Object.assign(Pool.makeClient(pool), {
    [TypeId]: TypeId,
    config,
    export: onConnection("Failed to export the database", (db) => db.serialize() as Uint8Array),
    backup: (destination: string) => onConnection("Failed to back up the database", (db) => db.backup(destination)),
    loadExtension: (path: string) => onConnection("Failed to load the extension", (db) => extensions.load(db, path))
  }) as unknown as SqliteClientNs.SqliteClient
}

/** The layer's services: `Pool.layer`'s (the pool and its SqlClient), and a SqliteClient over that pool. */
export const layer = <E>(
  connector: Effect.Effect<Connector<Database.Database, any>, E>,
  options: SqlitePool.SqlitePoolOptions
) =>
  Layer.unwrapEffect(Effect.map(connector, (c) =>
    Layer.effect(
      SqliteClient,
      Effect.map(Pool.Pool, (pool) => make(pool as Pool.Pool<Database.Database>, c, configOf(options)))
    ).pipe(Layer.provideMerge(Pool.layer(c, options.pool)))))
