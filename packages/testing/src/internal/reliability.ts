import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import type * as Reliability from "../Reliability.js"
import * as Admin from "./admin.js"

/** @internal */
export const epsilon = 100

const now = () => performance.now()

/** @internal */
export const timed = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<Reliability.Timed<A, E>, never, R> =>
  Effect.suspend(() => {
    const start = now()
    return Effect.map(Effect.exit(effect), (exit) => ({ exit, elapsed: now() - start }))
  })

/** @internal */
export const until = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  condition: (a: A) => boolean,
  timeout = 3000,
  interval = 10
): Effect.Effect<Reliability.Polled<A>, E, R> =>
  Effect.gen(function*() {
    const start = now()
    let value = yield* effect
    while (!condition(value) && now() - start < timeout) {
      yield* Effect.sleep(interval)
      value = yield* effect
    }
    return { value, elapsed: Math.round(now() - start) }
  })

/** @internal */
export const eventually = <A, E, R>(
  what: string,
  effect: Effect.Effect<A, E, R>,
  condition: (a: A) => boolean,
  timeout = 3000
): Effect.Effect<A, E, R> =>
  Effect.flatMap(until(effect, condition, timeout), ({ value }) =>
    condition(value)
      ? Effect.succeed(value)
      : Effect.die(new Error(`timed out waiting for ${what} (last value: ${JSON.stringify(value)})`)))

/** @internal */
export const withinMax = (s: Reliability.SizeStats): boolean =>
  s.totalConnections + s.pendingConnections <= s.maxConnections

/** @internal */
export const consistent = (s: Reliability.SizeStats): boolean =>
  withinMax(s) && s.activeConnections + s.idleConnections <= s.totalConnections

/** @internal */
export const sampleSize = <S extends Reliability.SizeStats, R>(
  stats: Effect.Effect<S, never, R>,
  within: (s: S) => boolean = withinMax
): Effect.Effect<Reliability.SizeSampler<S>, never, R | Scope.Scope> =>
  Effect.gen(function*() {
    const samples: Array<Reliability.Sample<S>> = []
    const violations: Array<Reliability.Sample<S>> = []
    let maxSize = 0
    const fiber = yield* stats.pipe(
      Effect.tap((s) => {
        const sample = { ...s, at: now() }
        samples.push(sample)
        maxSize = Math.max(maxSize, s.totalConnections + s.pendingConnections)
        if (!within(s)) violations.push(sample)
      }),
      Effect.repeat(Schedule.spaced("10 millis")),
      Effect.forkScoped
    )
    return {
      samples,
      violations,
      get maxSize() {
        return maxSize
      },
      stop: Fiber.interrupt(fiber)
    }
  })

/** @internal */
export const watchUnhandled: Effect.Effect<ReadonlyArray<unknown>, never, Scope.Scope> = Effect.map(
  Effect.acquireRelease(
    Effect.sync(() => {
      const errors: Array<unknown> = []
      const record = (error: unknown) => {
        errors.push(error)
      }
      process.on("uncaughtException", record)
      process.on("unhandledRejection", record)
      return { errors, record }
    }),
    ({ record }) =>
      Effect.sync(() => {
        process.off("uncaughtException", record)
        process.off("unhandledRejection", record)
      })
  ),
  ({ errors }) => errors
)

const show = (value: unknown) => {
  try {
    return JSON.stringify(value)
  } catch {
    return String(value)
  }
}

/** @internal */
export const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got a success: ${show(exit.value)}`)
  if (Cause.isDie(exit.cause)) throw new Error(`expected a typed failure, got a defect: ${Cause.pretty(exit.cause)}`)
  if (Cause.isInterruptedOnly(exit.cause)) {
    throw new Error(`expected a typed failure, got an interruption: ${Cause.pretty(exit.cause)}`)
  }
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) throw new Error(`expected a typed failure: ${Cause.pretty(exit.cause)}`)
  return failure.value
}

/** @internal */
export const taggedFailure = (exit: Exit.Exit<unknown, unknown>): Reliability.Tagged => {
  if (Exit.isFailure(exit) && Cause.isInterrupted(exit.cause)) {
    throw new Error(`expected a typed failure, got an interruption: ${Cause.pretty(exit.cause)}`)
  }
  const error = failureOf(exit) as { readonly _tag?: unknown }
  if (typeof error?._tag !== "string") throw new Error(`expected a tagged error, got ${show(error)}`)
  return error as Reliability.Tagged
}

/** @internal */
export const layerError = <E>(
  layer: Layer.Layer<never, E>
): Effect.Effect<{ readonly error: E; readonly elapsed: number }> =>
  Effect.map(timed(Effect.scoped(Layer.build(layer))), ({ elapsed, exit }) => {
    if (Exit.isSuccess(exit)) throw new Error("expected the layer to fail, it was built")
    return { error: failureOf(exit), elapsed }
  })

/** @internal */
export const renderings = (error: unknown): ReadonlyArray<string> => [
  String((error as { readonly message?: unknown } | undefined)?.message),
  String(error),
  show(error)
]

/** @internal */
export const closeAndCount = <S extends Reliability.SizeStats, E, R, E2, R2>(
  close: Effect.Effect<S, E, R>,
  count: Effect.Effect<number, E2, R2>,
  timeout = 3000
): Effect.Effect<S, E | E2, R | R2> =>
  Effect.gen(function*() {
    const stats = yield* close
    if (stats.totalConnections !== 0) {
      return yield* Effect.die(new Error(`the closed pool still counts ${stats.totalConnections} connections`))
    }
    yield* eventually("the server to count none of our connections", count, (n) => n === 0, timeout)
    return stats
  })

/** @internal */
export const ownScope = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<Reliability.OwnScope<A>, E, Exclude<R, Scope.Scope> | Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.acquireRelease(Scope.make(), (scope) => Scope.close(scope, Exit.void))
    const value = yield* Scope.extend(effect, scope)
    return { value, scope, close: Scope.close(scope, Exit.void) }
  })

/** @internal */
export const random = (seed: number): Reliability.Random => {
  // mulberry32
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    seed,
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    below: (n) => Math.floor(next() * n),
    pick: (items) => items[Math.floor(next() * items.length)]!
  }
}

/** @internal */
export const seeds = (defaults: ReadonlyArray<number>): ReadonlyArray<number> => {
  const given = process.env.DBPOOL_SEED
  if (given === undefined || given.trim() === "") return defaults
  return given.split(",").map((s) => Number(s.trim()))
}

const probes = {
  postgresql: Admin.withPg(
    { host: "127.0.0.1", port: 5432, user: "postgres", database: "test" },
    "5 seconds",
    (query) => query("SELECT 1")
  ),
  mariadb: Admin.withMysql(
    { host: "127.0.0.1", port: 3306, user: "root", database: "test" },
    "5 seconds",
    (query) => query("SELECT 1")
  )
}

const ports = { postgresql: 5432, mariadb: 3306 }
const names = { postgresql: "PostgreSQL", mariadb: "MariaDB" }
const startCommands = {
  postgresql: "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
  mariadb: "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql"
}

/** @internal */
export const mainServer = (system: Reliability.System, suite: string): Effect.Effect<boolean> =>
  Effect.map(Effect.isSuccess(probes[system]), (available) => {
    if (available) return true
    if (process.env.CI) return true
    console.warn(
      `${names[system]} is not running on 127.0.0.1:${ports[system]}: skipping ${suite}. ` +
        `Start it with \`${startCommands[system]}\``
    )
    return false
  })
