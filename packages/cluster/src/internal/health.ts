/**
 * One node's health as the cluster sees it: consecutive failures of the statements it ran, down after
 * `threshold` of them or when its pool's published stats show its circuit open, then probed on the schedule until a probe
 * succeeds.
 */
import type * as Pool from "@dbpool/sql/Pool"
import type { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Cluster from "../Cluster.js"
import { ClusterEvent } from "../ClusterEvent.js"

const tagOf = (u: unknown): string | undefined =>
  typeof u === "object" && u !== null && "_tag" in u ? String((u as { _tag: unknown })._tag) : undefined

/** The causes that say the node (not the statement) failed: it could not be reached, or the session was lost. */
const nodeFailureTags = new Set(["ConnectError", "ConnectionLostError", "ServerUnreachableError"])

/** Whether a statement's error says that its node failed, rather than the statement itself. */
export const isNodeFailure = (error: SqlError): boolean => nodeFailureTags.has(tagOf(error.cause) ?? "")

/** Whether the statement never reached the server (the pool could not lend a connection): safe to run elsewhere. */
export const neverSent = (error: SqlError): boolean => tagOf(error.cause) === "ConnectError"

/** PostgreSQL's SQLSTATE for a write in a read-only transaction (a standby refuses every write with it). */
const readOnlyCodes = new Set(["25006", "ER_OPTION_PREVENTS_STATEMENT", "ER_READ_ONLY_MODE"])
/** MySQL/MariaDB: 1290 (`--read-only` prevents the statement), 1836 (read-only mode). */
const readOnlyErrnos = new Set([1290, 1836])

/** Whether the server refused a statement because it does not take writes: it did not run. */
export const isReadOnly = (error: SqlError): boolean => {
  const cause = error.cause as { code?: unknown; errno?: unknown } | null | undefined
  if (typeof cause !== "object" || cause === null) return false
  return (typeof cause.code === "string" && readOnlyCodes.has(cause.code)) ||
    (typeof cause.errno === "number" && readOnlyErrnos.has(cause.errno))
}

/**
 * Whether a transaction's `BEGIN READ WRITE` was refused because the node is a standby: PostgreSQL answers
 * SQLSTATE 0A000 ("cannot set transaction read-write mode during recovery", from the setting's check), not
 * 25006. Asked only of a failure at BEGIN, where nothing else raises it. (MariaDB's refusal of
 * `START TRANSACTION READ WRITE` on a `read_only` node is 1290, the error its writes get: `isReadOnly`.)
 */
export const refusedReadWrite = (error: SqlError): boolean =>
  (error.cause as { code?: unknown } | null | undefined)?.code === "0A000"

export interface Tracker {
  readonly state: () => Cluster.NodeHealth
  /** Up, and not further behind the primary than the bound. */
  readonly usable: () => boolean
  /** Takes the node down (once: a down node stays down until a probe succeeds), with why. */
  readonly markDown: (reason: string) => Effect.Effect<void>
  readonly succeeded: Effect.Effect<void>
  readonly failed: (error: SqlError) => Effect.Effect<void>
  /** The last lag measured (milliseconds behind the primary) and the replayed position it was read at. */
  readonly setLag: (millis: number, position: string) => void
}

export interface TrackerOptions {
  readonly name: string
  readonly pool: Pool.Pool<any>
  readonly threshold: number
  /** Over it (milliseconds), a node is not usable for reads. */
  readonly maxLag: number
  readonly probe: Schedule.Schedule<unknown, unknown>
  readonly publish: (event: ClusterEvent) => Effect.Effect<unknown>
  /** Where the probes run: the cluster's scope, so that they end with it. */
  readonly scope: Scope.Scope
  /** What a probe checks, instead of `SELECT 1` (a writer: that it takes writes). */
  readonly check?: Effect.Effect<void, unknown> | undefined
}

export const makeTracker = (options: TrackerOptions): Tracker => {
  let health: Cluster.NodeHealth = {
    up: true,
    failures: 0,
    reason: undefined,
    lagMillis: undefined,
    position: undefined
  }
  let downSince = 0
  const probeOnce = options.check ?? Effect.asVoid(options.pool.sql`SELECT 1`)

  const markUp = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    health = { ...health, up: true, failures: 0, reason: undefined }
    return options.publish(ClusterEvent.NodeUp({ node: options.name, downFor: now - downSince }))
  })

  /** Waits each of the schedule's delays, then probes; ends at the first success (true) or with the schedule. */
  const probe = Effect.gen(function*() {
    const driver = yield* Schedule.driver(options.probe)
    while (true) {
      if (Option.isNone(yield* Effect.option(driver.next(undefined)))) return false
      if (Either.isRight(yield* Effect.either(probeOnce))) return true
    }
  })

  const markDown = (reason: string): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (!health.up) return Effect.void
      health = { ...health, up: false, reason }
      return Effect.flatMap(Clock.currentTimeMillis, (now) => {
        downSince = now
        return Effect.zipRight(
          options.publish(ClusterEvent.NodeDown({ node: options.name, reason })),
          Effect.forkIn(Effect.flatMap(probe, (healthy) => healthy ? markUp : Effect.void), options.scope)
        )
      })
    })

  return {
    state: () => health,
    usable: () => health.up && (health.lagMillis ?? 0) <= options.maxLag,
    markDown,
    succeeded: Effect.sync(() => {
      if (health.failures > 0 && health.up) health = { ...health, failures: 0 }
    }),
    setLag: (lagMillis, position) => {
      health = { ...health, lagMillis, position }
    },
    failed: (error) =>
      Effect.suspend(() => {
        if (!isNodeFailure(error) || !health.up) return Effect.void
        const failures = health.failures + 1
        health = { ...health, failures }
        return failures >= options.threshold
          ? markDown(`${failures} failures in a row: ${error.message}`)
          : Effect.void
      })
  }
}

/**
 * Takes the node down when its pool's published stats (`changes`, every `statsInterval`) show its circuit
 * open: read from the stream, not per statement, so that routing never asks the pool for a snapshot.
 */
export const watchCircuit = (pool: Pool.Pool<any>, tracker: Tracker): Effect.Effect<void> =>
  Stream.runForEach(
    pool.changes,
    (stats) => stats.circuitState === "open" ? tracker.markDown("circuit open") : Effect.void
  )
