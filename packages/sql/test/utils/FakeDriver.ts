/**
 * A driver without a database: each connection records the statements it ran
 * and answers by the statement's text. `fail` is a query error, `drop` a
 * connection-level error, `hang` never answers until cancelled.
 */
import type { Connector } from "@dbpool/sql/Connector"
import { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import { Effect, Stream } from "effect"

export class FakeNative {
  readonly log: Array<string> = []
  open = true
  cancelled = 0
  healthy = true
  hanging: (() => void) | undefined
  constructor(readonly n: number) {}
}

export class ConnectionLost extends Error {
  readonly code = "CONNECTION_LOST"
}

export interface FakeDriver {
  readonly connector: Connector<FakeNative>
  readonly all: Array<FakeNative>
  readonly opened: () => number
  readonly openNow: () => number
  readonly onBroken: Map<FakeNative, (cause: unknown) => void>
}

export const makeFakeDriver = (): FakeDriver => {
  const all: Array<FakeNative> = []
  const onBroken = new Map<FakeNative, (cause: unknown) => void>()
  const run = (native: FakeNative, sql: string): Effect.Effect<ReadonlyArray<any>, SqlError> =>
    Effect.suspend(() => {
      if (!native.open) return Effect.fail(new SqlError({ message: "closed", cause: new ConnectionLost("closed") }))
      native.log.push(sql)
      if (sql.includes("fail")) {
        return Effect.fail(new SqlError({ message: "syntax error", cause: new Error("syntax error") }))
      }
      if (sql.includes("drop")) {
        native.open = false
        return Effect.fail(new SqlError({ message: "connection lost", cause: new ConnectionLost("socket closed") }))
      }
      if (sql.includes("hang")) {
        return Effect.async<ReadonlyArray<any>, SqlError>((resume) => {
          native.hanging = () => resume(Effect.succeed([]))
        })
      }
      return Effect.succeed([{ conn: native.n, sql }])
    })
  const connector: Connector<FakeNative> = {
    system: "fake",
    connect: (hooks) =>
      Effect.sync(() => {
        const native = new FakeNative(all.length + 1)
        all.push(native)
        onBroken.set(native, hooks.onBroken)
        return native
      }),
    close: (native) =>
      Effect.sync(() => {
        native.open = false
      }),
    validate: (native) => native.healthy ? Effect.void : Effect.never,
    cancel: (native) =>
      Effect.sync(() => {
        native.cancelled++
        native.hanging?.()
      }),
    connection: (native) => ({
      execute: (sql) => run(native, sql),
      executeRaw: (sql) => run(native, sql),
      executeValues: (sql) => Effect.map(run(native, sql), (rows) => rows.map((row) => Object.values(row))),
      executeUnprepared: (sql) => run(native, sql),
      executeStream: (sql) => Stream.fromIterableEffect(run(native, sql))
    }),
    isConnectionError: (cause) => cause instanceof ConnectionLost,
    compiler: Statement.makeCompilerSqlite(),
    spanAttributes: [["db.system.name", "fake"]]
  }
  return {
    connector,
    all,
    onBroken,
    opened: () => all.length,
    openNow: () => all.filter((n) => n.open).length
  }
}
