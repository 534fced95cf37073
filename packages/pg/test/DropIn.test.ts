/**
 * @dbpool/pg as a drop-in for @effect/sql-pg: a program asking for `PgClient.PgClient` gets one from
 * `PgPool.layer` (every member of the interface used), the shared drop-in checks of @dbpool/testing,
 * `PgMigrator` dumping its schema, and a reserved or pooled connection kept after a cancelled statement.
 * Everything runs in a database of its own, dropped at the end.
 */
import { PgPool } from "@dbpool/pg"
import { Pool } from "@dbpool/sql"
import { DropIn, Reliability, ServerCount } from "@dbpool/testing"
import * as Reactivity from "@effect/experimental/Reactivity"
import { SqlClient } from "@effect/sql"
import { PgClient, PgMigrator } from "@effect/sql-pg"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Chunk, Config, ConfigProvider, Effect, Fiber, Layer, Option, Redacted, type Scope, Stream } from "effect"
import Pg from "pg"
import { parse } from "pg-connection-string"

const appName = `dbpool-dropin-pg-${process.pid}`
const database = `dbpool_dropin_${process.pid}`
const admin = { host: "127.0.0.1", port: 5432, database: "test", user: "postgres" } as const

const run = await Effect.runPromise(Reliability.mainServer("postgresql", "the @dbpool/pg drop-in tests"))
const describeDb = run ? describe : describe.skip

const adminRun = async (text: string) => {
  const client = new Pg.Client(admin)
  await client.connect()
  try {
    await client.query(text)
  } finally {
    await client.end()
  }
}
beforeAll(async () => {
  if (!run) return
  await adminRun(`DROP DATABASE IF EXISTS ${database}`)
  await adminRun(`CREATE DATABASE ${database}`)
})
afterAll(async () => {
  if (run) await adminRun(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
})

/** The server holds no connection of the pool named `name` (its backends exit shortly after the close). */
const noneLeft = (name: string) =>
  Reliability.eventually("no connection left", Effect.orDie(ServerCount.postgres(name)), (n) => n === 0, 5000)

/**
 * LISTEN is issued when a listen stream starts, and a notification sent before it is not delivered: sends
 * `notifications` every 50 ms until `heard` holds.
 */
const notifyUntil = (
  pg: PgClient.PgClient,
  notifications: ReadonlyArray<readonly [channel: string, payload: string]>,
  heard: () => boolean
) =>
  Effect.gen(function*() {
    for (const [channel, payload] of notifications) yield* pg.notify(channel, payload)
    yield* Effect.sleep("50 millis")
  }).pipe(Effect.repeat({ until: heard }))

let pools = 0
const options = (pool: PgPool.PgPoolOptions["pool"] = {}) => {
  const name = `${appName}-${++pools}`
  return {
    name,
    options: {
      host: "127.0.0.1",
      port: 5432,
      database,
      username: "postgres",
      applicationName: name,
      pool: { minConnections: 1, maxConnections: 4, shutdownTimeout: "2 seconds", ...pool }
    } satisfies PgPool.PgPoolOptions
  }
}

/** Runs `program` on a layer of its own (with the program's Reactivity), then checks the server holds none of ours. */
const withLayer = <A, E>(
  program: Effect.Effect<
    A,
    E,
    SqlClient.SqlClient | PgClient.PgClient | Pool.Pool | Reactivity.Reactivity | Scope.Scope
  >,
  pool: PgPool.PgPoolOptions["pool"] = {}
) => {
  const { name, options: o } = options(pool)
  return Effect.scoped(program).pipe(
    Effect.provide(Layer.merge(PgPool.layer(o), Reactivity.layer)),
    Effect.zipLeft(noneLeft(name))
  )
}

const backendPid = (sql: SqlClient.SqlClient) =>
  Effect.map(sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`, (rows) => rows[0]!.pid)

describeDb("@dbpool/pg as @effect/sql-pg", () => {
  for (const check of DropIn.checks("postgresql", `dropin_pg_${process.pid}`)) {
    it.live(check.name, () => withLayer(check.run))
  }

  it.live("PgClient.PgClient from PgPool.layer: statements, config, json, notify and listen", () =>
    withLayer(Effect.gen(function*() {
      const pg = yield* PgClient.PgClient
      const sql = yield* SqlClient.SqlClient
      expect(yield* pg<{ n: number }>`SELECT 1 + 1 AS n`).toEqual([{ n: 2 }])
      // config: what the pool connects with, the URL saying the same as the fields
      expect(pg.config).toMatchObject({ host: "127.0.0.1", port: 5432, database, username: "postgres" })
      const url = parse(Redacted.value(pg.config.url!))
      expect([url.host, url.port, url.database, url.user]).toEqual(["127.0.0.1", "5432", database, "postgres"])
      // json
      const [row] = yield* pg<{ doc: unknown }>`SELECT ${pg.json({ a: [1, "b"] })}::jsonb AS doc`
      expect(row!.doc).toEqual({ a: [1, "b"] })
      // listen and notify: the listener's own connection is outside the pool
      const before = (yield* Pool.stats).totalConnections
      const received = yield* pg.listen("dropin channel").pipe(Stream.take(2), Stream.runCollect, Effect.fork)
      const other = yield* pg.listen("dropin_other").pipe(Stream.take(1), Stream.runCollect, Effect.fork)
      yield* notifyUntil(
        pg,
        [["dropin channel", "hello"], ["dropin_other", "other"]],
        () => received.unsafePoll() !== null && other.unsafePoll() !== null
      )
      expect(Chunk.toReadonlyArray(yield* Fiber.join(received))).toEqual(["hello", "hello"])
      expect(Chunk.toReadonlyArray(yield* Fiber.join(other))).toEqual(["other"])
      expect((yield* Pool.stats).totalConnections).toBe(before)
      // the same pool under both tags; the pool's own client has none of PgClient's members
      const pool = yield* Pool.Pool
      expect(sql).toBe(pool.sql)
      expect("listen" in pool.sql).toBe(false)
      yield* pg.withTransaction(pg`SELECT 1`)
    })))

  it.live("PgClient.layer's listen: its connection is closed with the layer", () =>
    Effect.gen(function*() {
      const { name, options: o } = options()
      yield* Effect.gen(function*() {
        const pg = yield* PgClient.PgClient
        const heard = yield* pg.listen("dropin_close").pipe(Stream.take(1), Stream.runCollect, Effect.fork)
        yield* notifyUntil(pg, [["dropin_close", "x"]], () => heard.unsafePoll() !== null)
        expect(Chunk.toReadonlyArray(yield* Fiber.join(heard))).toEqual(["x"])
      }).pipe(Effect.provide(PgPool.layer(o)))
      yield* noneLeft(name)
    }))

  it.live("listen: when its connection is lost the streams fail with SqlError, and the next listen opens another", () =>
    withLayer(Effect.gen(function*() {
      const pg = yield* PgClient.PgClient
      const first = yield* pg.listen("dropin_lost").pipe(Stream.runCollect, Effect.either, Effect.fork)
      const listener = (yield* Reliability.eventually(
        "the LISTEN to run",
        pg<{ pid: number }>`SELECT pid FROM pg_stat_activity WHERE datname = ${database} AND query LIKE 'LISTEN%'`,
        (rows) => rows.length === 1
      ))[0]!.pid
      yield* pg`SELECT pg_terminate_backend(${listener})`
      const lost = yield* Fiber.join(first)
      expect(lost._tag === "Left" && lost.left._tag).toBe("SqlError")
      const again = yield* pg.listen("dropin_lost").pipe(Stream.take(1), Stream.runCollect, Effect.fork)
      yield* notifyUntil(pg, [["dropin_lost", "back"]], () => again.unsafePoll() !== null)
      expect(Chunk.toReadonlyArray(yield* Fiber.join(again))).toEqual(["back"])
    })))

  it.live("PgPool.layerConfig provides PgClient too, its config read from Config", () =>
    Effect.gen(function*() {
      const name = `${appName}-config`
      const pg = yield* PgClient.PgClient.pipe(
        Effect.provide(PgPool.layerConfig({
          url: Config.redacted("DATABASE_URL"),
          applicationName: Config.succeed(name),
          pool: Config.succeed({ minConnections: 0, maxConnections: 2 })
        })),
        Effect.withConfigProvider(
          ConfigProvider.fromMap(new Map([["DATABASE_URL", `postgres://postgres@127.0.0.1:5432/${database}`]]))
        )
      )
      expect(pg.config).toMatchObject({ host: "127.0.0.1", port: 5432, database, maxConnections: 2 })
      expect(Redacted.value(pg.config.url!)).toBe(`postgres://postgres@127.0.0.1:5432/${database}`)
      yield* noneLeft(name)
    }))

  it.live("PgMigrator with schemaDirectory writes the pg_dump of the schema", () =>
    withLayer(Effect.gen(function*() {
      const dump = yield* DropIn.migrateWithDump(PgMigrator.run, `dropin_migrated_${process.pid}`)
      expect(dump).toContain(`CREATE TABLE public.dropin_migrated_${process.pid}`)
      expect(dump).toContain(`INSERT INTO public.dropin_migrated_${process.pid}_migrations`)
    })))

  it.live("layerFromPool: a new client over an existing pool, its config read from the pool's settings", () =>
    withLayer(Effect.gen(function*() {
      const pool = yield* Pool.Pool
      const context = yield* Layer.build(PgPool.layerFromPool({
        acquire: Effect.succeed(pool),
        transformQueryNames: (name) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`),
        transformResultNames: (name) => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())
      }))
      const snake = yield* Effect.provide(PgClient.PgClient, context)
      const plain = yield* Effect.provide(
        PgClient.PgClient,
        yield* Layer.build(PgPool.layerFromPool({ acquire: Pool.Pool }))
      )
      expect(snake.config.host).toBe("127.0.0.1")
      expect(snake.config.port).toBe(5432)
      expect(snake.config.database).toBe(database)
      expect(snake.config.username).toBe("postgres")
      expect(parse(Redacted.value(snake.config.url!)).database).toBe(database)
      expect(snake`SELECT * FROM ${snake("peopleTest")}`.compile()[0]).toBe(`SELECT * FROM "people_test"`)
      expect(yield* snake<{ fooBar: number }>`SELECT 1 AS foo_bar`).toEqual([{ fooBar: 1 }])
      expect(yield* plain<{ foo_bar: number }>`SELECT 1 AS foo_bar`).toEqual([{ foo_bar: 1 }])
      // new objects: the pool's client untouched, each client its own config
      expect(snake).not.toBe(pool.sql)
      expect(snake.config).not.toBe(plain.config)
      expect("config" in pool.sql).toBe(false)
      expect(yield* Effect.provide(SqlClient.SqlClient, context)).toBe(snake)
    })))

  it.live("sql.reserve: a statement cancelled by Effect.timeout leaves the connection usable, same backend", () =>
    withLayer(
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const conn = yield* sql.reserve
        const pidOf = Effect.map(
          conn.execute("SELECT pg_backend_pid() AS pid", [], undefined),
          (rows: any) => rows[0].pid
        )
        const pid = yield* pidOf
        const stray: Array<unknown> = []
        for (let i = 0; i < 40; i++) {
          const slept = yield* Effect.timeout(conn.execute("SELECT pg_sleep(5)", [], undefined), "20 millis").pipe(
            Effect.option
          )
          expect(Option.isNone(slept)).toBe(true)
          const again = yield* Effect.either(pidOf)
          if (again._tag === "Left") stray.push(again.left)
          else expect(again.right).toBe(pid)
        }
        expect(stray).toEqual([])
        expect((yield* Pool.stats).connectionsClosed).toMatchObject({ broken: 0 })
      }),
      { minConnections: 1, maxConnections: 1 }
    ))

  it.live("a pooled statement cancelled by Effect.timeout: no stray cancel, the connection kept once settled", () =>
    withLayer(
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        // the statements after each timeout meet no late cancel (57014)
        const { changes, errors } = yield* DropIn.identityAfterTimeouts({
          rounds: 40,
          timedOut: Effect.timeout(sql`SELECT pg_sleep(5)`, "20 millis").pipe(Effect.option),
          identity: backendPid(sql)
        })
        expect(errors).toEqual([])
        // Held until the verdict, then kept; closed only past the verdict's bound (a machine loaded beyond it):
        // the backend changed exactly as often as a connection was closed.
        const stats = yield* Pool.stats
        expect(stats.connectionsClosed.broken).toBe(changes)
        expect(stats.connectionsCreated).toBe(changes + 1)
      }),
      { minConnections: 1, maxConnections: 1 }
    ))

  it.live("an interrupted statement inside a transaction still closes its connection", () =>
    withLayer(
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const pid = yield* backendPid(sql)
        yield* Effect.timeout(sql.withTransaction(sql`SELECT pg_sleep(5)`), "50 millis").pipe(Effect.option)
        expect(yield* backendPid(sql)).not.toBe(pid)
      }),
      { minConnections: 1, maxConnections: 1 }
    ))
})
