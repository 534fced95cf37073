/**
 * Liveness and readiness, as Kubernetes probes read them. Live: the process
 * answers. Ready: every pool hands out a connection within a short bound and
 * no pool's circuit breaker is open.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { PoolSource } from "./source.js"

export interface PoolHealth {
  readonly name: string
  readonly ready: boolean
  /** Why not, in words; absent when ready. */
  readonly reason?: string | undefined
}

export interface Readiness {
  readonly status: "ready" | "not ready"
  /** The first pool's reason when not ready. */
  readonly reason?: string | undefined
  readonly pools: ReadonlyArray<PoolHealth>
}

const describe = (error: unknown): string => {
  if (typeof error === "object" && error !== null && "message" in error && typeof error.message === "string") {
    return error.message
  }
  return String(error)
}

/** One pool: its circuit first (no connection attempt while it is open), then a connection within `bound`. */
export const checkPool = (pool: PoolSource, bound: Duration.Duration): Effect.Effect<PoolHealth> =>
  Effect.gen(function*() {
    const name = pool.config.name
    const stats = yield* pool.stats
    if (stats.circuitState === "open") {
      return { name, ready: false, reason: `pool "${name}": circuit breaker open (the database cannot be reached)` }
    }
    // Interruptible whatever the caller's region (an HTTP server may run handlers uninterruptibly): the bound
    // must be able to stop the wait.
    return yield* Effect.interruptible(pool.use(() => Effect.void)).pipe(
      Effect.timeoutFail({ duration: bound, onTimeout: () => "timeout" as const }),
      Effect.match({
        onSuccess: (): PoolHealth => ({ name, ready: true }),
        onFailure: (error): PoolHealth => ({
          name,
          ready: false,
          reason: error === "timeout"
            ? `pool "${name}": no connection within ${Duration.format(bound)}`
            : `pool "${name}": ${describe(error)}`
        })
      })
    )
  })

/** Every pool, at once (a slow pool must not make the probe of the others late). */
export const readiness = (pools: ReadonlyArray<PoolSource>, bound: Duration.Duration): Effect.Effect<Readiness> =>
  Effect.map(Effect.forEach(pools, (p) => checkPool(p, bound), { concurrency: "unbounded" }), (results) => {
    const failed = results.find((r) => !r.ready)
    return failed === undefined
      ? { status: "ready", pools: results }
      : { status: "not ready", reason: failed.reason, pools: results }
  })
