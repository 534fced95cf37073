/**
 * `PgClient.listen` on dbpool: one connection of its own, outside the pool, opened on the first `listen`
 * and shared by every channel (a LISTEN holds its session for as long as anyone listens, which a pooled
 * connection cannot do). A channel is LISTENed once, for its first subscriber, and UNLISTENed after its last.
 */
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import Pg from "pg"

interface Subscriber {
  readonly single: (payload: string) => void
  readonly fail: (error: SqlError) => void
}

const failure = (cause: unknown, what: string) =>
  new SqlError({ cause, message: `${what}: ${cause instanceof Error ? cause.message : String(cause)}` })

const query = (client: Pg.Client, text: string): Effect.Effect<void, SqlError> =>
  Effect.async<void, SqlError>((resume) => {
    client.query(
      text,
      (error: Error | null) =>
        resume(error ? Effect.fail(failure(error, `Failed to run ${text.split(" ")[0]}`)) : Effect.void)
    )
  })

const end = (client: Pg.Client): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    client.end().then(() => resume(Effect.void), () => resume(Effect.void))
  }).pipe(Effect.timeoutOption("2 seconds"), Effect.asVoid)

/** The `listen` of a PgClient; its connection is closed with `scope`. */
export const makeListen = (
  config: Pg.ClientConfig,
  scope: Scope.Scope
): Effect.Effect<(channel: string) => Stream.Stream<string, SqlError>> =>
  Effect.gen(function*() {
    const lock = yield* Effect.makeSemaphore(1)
    const channels = new Map<string, Set<Subscriber>>()
    let client: Pg.Client | undefined

    /** The connection is gone: every stream fails, the next `listen` opens another. */
    const lost = (self: Pg.Client, cause: unknown) => {
      if (client !== self) return
      client = undefined
      const error = failure(cause, "The LISTEN connection was lost")
      for (const subscribers of channels.values()) for (const s of subscribers) s.fail(error)
      channels.clear()
    }

    const open = Effect.async<Pg.Client, SqlError>((resume) => {
      const next = new Pg.Client(config)
      next.on("error", (error: Error) => lost(next, error))
      next.on("end", () => lost(next, new Error("Connection terminated")))
      next.on("notification", (message) => {
        for (const s of channels.get(message.channel) ?? []) s.single(message.payload ?? "")
      })
      next.connect((error: Error | undefined) => {
        if (error) {
          next.end().catch(() => {})
          resume(Effect.fail(failure(error, "Failed to open the LISTEN connection")))
        } else {
          resume(Effect.succeed(next))
        }
      })
    })
    const connection = Effect.suspend(() =>
      client !== undefined ? Effect.succeed(client) : Effect.tap(open, (opened) => {
        client = opened
      })
    )

    yield* Scope.addFinalizer(
      scope,
      lock.withPermits(1)(Effect.suspend(() => {
        const current = client
        client = undefined
        return current === undefined ? Effect.void : end(current)
      }))
    )

    const subscribe = (channel: string, subscriber: Subscriber) =>
      lock.withPermits(1)(Effect.gen(function*() {
        const c = yield* connection
        const subscribers = channels.get(channel) ?? new Set<Subscriber>()
        const first = subscribers.size === 0
        subscribers.add(subscriber)
        channels.set(channel, subscribers)
        if (first) {
          yield* Effect.tapError(query(c, `LISTEN ${c.escapeIdentifier(channel)}`), () =>
            Effect.sync(() => {
              subscribers.delete(subscriber)
              if (subscribers.size === 0) channels.delete(channel)
            }))
        }
      }))

    const unsubscribe = (channel: string, subscriber: Subscriber) =>
      lock.withPermits(1)(Effect.suspend(() => {
        const subscribers = channels.get(channel)
        if (subscribers === undefined || !subscribers.delete(subscriber) || subscribers.size > 0) return Effect.void
        channels.delete(channel)
        const c = client
        return c === undefined ? Effect.void : Effect.ignore(query(c, `UNLISTEN ${c.escapeIdentifier(channel)}`))
      }))

    return (channel: string) =>
      Stream.asyncPush<string, SqlError>((emit) => {
        const subscriber: Subscriber = {
          single: (payload) => emit.single(payload),
          fail: (error) => emit.fail(error)
        }
        return Effect.acquireRelease(subscribe(channel, subscriber), () => unsubscribe(channel, subscriber))
      })
  })
