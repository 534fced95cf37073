/**
 * What PgCluster, MariaServer and PgBouncer share: one server process at a time, started and stopped under
 * a lock, stopped when the scope closes; the template a server copies, built once per process; and the
 * public lifecycle (`start`, `stop`, `restart`, `isRunning`, `pid`) with each server's own error.
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Path from "node:path"
import type * as DisposableServer from "../DisposableServer.js"
import { sparePort } from "./port.js"
import * as Process from "./process.js"

/** How to stop: `fast` is the server's clean shutdown that ends client sessions, `immediate` a crash. */
export type StopMode = DisposableServer.StopMode

export interface Spec {
  /** For messages: "PostgreSQL on 127.0.0.1:5433". */
  readonly name: string
  readonly spawn: Effect.Effect<Process.Daemon, Process.ProcessError>
  /** Polled every 10 ms after the spawn until true. */
  readonly ready: (daemon: Process.Daemon) => Effect.Effect<boolean>
  readonly signals: Record<StopMode, NodeJS.Signals>
  /** The server's options: their timeouts, with the documented defaults. */
  readonly options: DisposableServer.Options
}

/** The bound of each admin query, as `DisposableServer.Options` documents it. */
export const queryTimeout = (options: DisposableServer.Options): Duration.DurationInput =>
  options.queryTimeout ?? "10 seconds"

export interface Controller {
  readonly start: Effect.Effect<void, Process.ProcessError>
  readonly stop: (mode: StopMode) => Effect.Effect<void>
  readonly restart: (mode: StopMode) => Effect.Effect<void, Process.ProcessError>
  readonly isRunning: Effect.Effect<boolean>
  readonly pid: Effect.Effect<number | undefined>
}

export const controller = (spec: Spec): Effect.Effect<Controller, never, Scope.Scope> =>
  Effect.gen(function*() {
    const lock = yield* Effect.makeSemaphore(1)
    const startTimeout = spec.options.startTimeout ?? "30 seconds"
    const stopTimeout = spec.options.stopTimeout ?? "10 seconds"
    let current: Process.Daemon | undefined

    const running = () => current !== undefined && current.exited() === undefined

    const stopUnlocked = (mode: StopMode) =>
      Effect.suspend(() => {
        const daemon = current
        current = undefined
        return daemon === undefined
          ? Effect.void
          : Effect.asVoid(Process.stop(daemon, spec.signals[mode], stopTimeout))
      })

    const startUnlocked = Effect.suspend(() => {
      if (running()) return Effect.void
      // A server that died by itself is forgotten; its exit was already seen.
      current = undefined
      return Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const daemon = yield* spec.spawn
          current = daemon
          // Not ready in time, or interrupted while waiting: it must not stay half started.
          yield* restore(
            Process.awaitReady(daemon, spec.name, spec.ready(daemon), startTimeout)
          ).pipe(Effect.onError(() => stopUnlocked("immediate")))
        })
      )
    })

    yield* Effect.addFinalizer(() => stopUnlocked("immediate"))

    return {
      start: lock.withPermits(1)(startUnlocked),
      stop: (mode) => lock.withPermits(1)(stopUnlocked(mode)),
      restart: (mode) => lock.withPermits(1)(Effect.zipRight(stopUnlocked(mode), startUnlocked)),
      isRunning: Effect.sync(running),
      pid: Effect.sync(() => running() ? current!.pid : undefined)
    }
  })

/**
 * Makes a server's own error from what went wrong: `cannot start X: <the cause's message>`. The error's
 * class is read when an error is made, not before: it lives in the public module, which imports this
 * module's caller, so it is not defined yet while they load.
 */
export const failWith = <E>(
  ServerError: () => new(args: { readonly message: string; readonly cause?: unknown }) => E
) =>
(what: string) =>
(cause: { readonly message: string }): E => new (ServerError())({ message: `${what}: ${cause.message}`, cause })

/**
 * The public lifecycle of a server over its controller, failing with the server's own error. `afterStart`
 * runs after every start and restart (PgCluster creates its database there).
 */
export const lifecycle = <E>(
  server: Controller,
  name: string,
  fail: (what: string) => (cause: { readonly message: string }) => E,
  afterStart: Effect.Effect<void, { readonly message: string }> = Effect.void
): Pick<DisposableServer.DisposableServer<E>, "start" | "stop" | "restart" | "isRunning" | "pid"> => ({
  start: server.start.pipe(Effect.zipRight(afterStart), Effect.mapError(fail(`cannot start ${name}`))),
  stop: (mode = "fast") => server.stop(mode),
  restart: (mode = "fast") =>
    server.restart(mode).pipe(Effect.zipRight(afterStart), Effect.mapError(fail(`cannot restart ${name}`))),
  isRunning: server.isRunning,
  pid: server.pid
})

/**
 * A new database server's place: a spare port, and a fresh directory of its own (owned by `owner`, deleted
 * with the scope or by the watchdog, which sends `crashSignal`) holding a copy of the template as `data`
 * (`cp -a`: under 0.1 s) and the log file `logName`.
 */
export const copyTemplate = (options: {
  readonly template: string
  readonly prefix: string
  readonly owner: Process.UserIds
  readonly crashSignal: NodeJS.Signals
  readonly logName: string
}) =>
  Effect.gen(function*() {
    const port = yield* sparePort
    const dir = yield* Process.ownedDir(options.prefix, options.owner, options.crashSignal)
    const data = Path.join(dir.path, "data")
    yield* Process.run({ command: "cp", args: ["-a", options.template, data], timeout: "60 seconds" })
    return { port, dir, data, logFile: Path.join(dir.path, options.logName) }
  })

/**
 * An effect that runs `build` once per test process, under a lock, and gives its result to every later
 * caller: the template (initdb, mariadb-install-db: about 0.5 s) that each server copies in under 0.1 s.
 */
export const once = <A, E, R>(build: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  const lock = Effect.unsafeMakeSemaphore(1)
  let built: { readonly value: A } | undefined
  return lock.withPermits(1)(Effect.suspend(() => {
    if (built !== undefined) return Effect.succeed(built.value)
    return Effect.tap(build, (value) => {
      built = { value }
    })
  }))
}
