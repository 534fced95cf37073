/**
 * A disposable PgBouncer (the Debian package `pgbouncer`) in front of a PostgreSQL server, on a spare
 * port, in transaction mode unless told otherwise, with its own ini and auth file (trust) in a temporary
 * directory. It runs as the `postgres` user (PgBouncer refuses root), as a child of the test process:
 * closing the scope stops it and deletes the directory; if the test process dies first, an `exit` handler
 * and a watchdog kill it.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as DisposableServer from "./DisposableServer.js"
import * as internal from "./internal/pgBouncer.js"
import { PgCluster } from "./PgCluster.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = internal.TypeId

/**
 * How to stop PgBouncer: `"fast"` (SIGTERM: in PgBouncer 1.18, the immediate shutdown that closes every
 * client connection) or `"immediate"` (SIGKILL: a crash).
 *
 * @since 0.1.0
 * @category models
 */
export type StopMode = DisposableServer.StopMode

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends DisposableServer.Options {
  /** The PostgreSQL server; every database name is forwarded to it. */
  readonly target: { readonly host: string; readonly port: number }
  /** Default: `"transaction"`. */
  readonly poolMode?: "session" | "transaction" | "statement" | undefined
  /** Server connections per user and database. Default: 20. */
  readonly defaultPoolSize?: number | undefined
  /** Default: 200. */
  readonly maxClientConn?: number | undefined
  /** The users allowed in (trust, no password). Default: `["postgres"]`. */
  readonly users?: ReadonlyArray<string> | undefined
  /**
   * More `[pgbouncer]` settings, or overrides (booleans as 1/0). The defaults differ from PgBouncer's in
   * one way that matters to fault tests: `server_login_retry = 1` (not 15 s).
   */
  readonly settings?: Readonly<Record<string, string | number | boolean>> | undefined
}

/**
 * A running (or stopped) PgBouncer: `postgres://postgres@127.0.0.1:<port>/test`, its ini, auth file and
 * log in `dir`.
 *
 * @example
 * ```ts
 * import { PgBouncer, PgCluster } from "@dbpool/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const cluster = yield* PgCluster.make()
 *   const bouncer = yield* PgBouncer.make({ target: { host: cluster.host, port: cluster.port } })
 *   // a pool on bouncer.url ...
 *   yield* bouncer.restart()
 *   const pools = yield* bouncer.admin("SHOW POOLS")
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface PgBouncer extends DisposableServer.DisposableServer<PgBouncerError> {
  readonly [TypeId]: TypeId
  readonly target: { readonly host: string; readonly port: number }
  /** Its directory (ini, auth file, log). */
  readonly dir: string
  /** Runs a command on the admin console (database `pgbouncer`): `SHOW POOLS`, `SHOW SERVERS`, `RECONNECT`... */
  readonly admin: (command: string) => Effect.Effect<ReadonlyArray<Record<string, unknown>>, PgBouncerError>
}

/**
 * PgBouncer could not be set up or started, or an admin command failed.
 *
 * @since 0.1.0
 * @category errors
 */
export class PgBouncerError extends Data.TaggedError("PgBouncerError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * Creates a PgBouncer in front of `target` on a spare port and starts it (unless `start: false`).
 *
 * @example
 * ```ts
 * import { PgBouncer } from "@dbpool/testing"
 *
 * const bouncer = PgBouncer.make({ target: { host: "127.0.0.1", port: 5432 }, defaultPoolSize: 5 })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options: Options) => Effect.Effect<PgBouncer, PgBouncerError, Scope.Scope> = internal.make

/**
 * The tag of a PgBouncer provided by `layer` or `layerCluster`.
 *
 * @example
 * ```ts
 * import { PgBouncer } from "@dbpool/testing"
 * import { Effect } from "effect"
 *
 * const bounce = Effect.flatMap(PgBouncer.PgBouncer, (bouncer) => bouncer.restart())
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export const PgBouncer: Context.Tag<PgBouncer, PgBouncer> = Context.GenericTag<PgBouncer>(
  "@dbpool/testing/PgBouncer"
)

/**
 * PgBouncer as a layer, stopped and deleted with the layer's scope.
 *
 * @example
 * ```ts
 * import { PgBouncer } from "@dbpool/testing"
 *
 * const BouncerLive = PgBouncer.layer({ target: { host: "127.0.0.1", port: 5432 } })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<PgBouncer, PgBouncerError> =>
  Layer.scoped(PgBouncer, make(options))

/**
 * PgBouncer in front of the `PgCluster` of the context.
 *
 * @example
 * ```ts
 * import { PgBouncer, PgCluster } from "@dbpool/testing"
 * import { Layer } from "effect"
 *
 * const Live = PgBouncer.layerCluster().pipe(Layer.provideMerge(PgCluster.layer()))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerCluster = (
  options: Omit<Options, "target"> = {}
): Layer.Layer<PgBouncer, PgBouncerError, PgCluster> =>
  Layer.scoped(
    PgBouncer,
    Effect.flatMap(PgCluster, (cluster) => make({ ...options, target: { host: cluster.host, port: cluster.port } }))
  )

/**
 * Whether a value is a `PgBouncer`.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isPgBouncer = (u: unknown): u is PgBouncer => typeof u === "object" && u !== null && internal.TypeId in u
