/**
 * What PgCluster, MariaServer and PgBouncer share: one server process at a time, started and stopped under
 * a lock, stopped when the scope closes.
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Process from "./process.js"

/** How to stop: `fast` is the server's clean shutdown that ends client sessions, `immediate` a crash. */
export type StopMode = "fast" | "immediate"

export interface Spec {
  /** For messages: "PostgreSQL on 127.0.0.1:5433". */
  readonly name: string
  readonly spawn: Effect.Effect<Process.Daemon, Process.ProcessError>
  /** Polled every 10 ms after the spawn until true. */
  readonly ready: (daemon: Process.Daemon) => Effect.Effect<boolean>
  readonly signals: Record<StopMode, NodeJS.Signals>
  readonly startTimeout: Duration.DurationInput
  readonly stopTimeout: Duration.DurationInput
}

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
    let current: Process.Daemon | undefined

    const running = () => current !== undefined && current.exited() === undefined

    const stopUnlocked = (mode: StopMode) =>
      Effect.suspend(() => {
        const daemon = current
        current = undefined
        return daemon === undefined
          ? Effect.void
          : Effect.asVoid(Process.stop(daemon, spec.signals[mode], spec.stopTimeout))
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
            Process.awaitReady(daemon, spec.name, spec.ready(daemon), spec.startTimeout)
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
