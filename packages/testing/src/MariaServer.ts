/**
 * A disposable MariaDB server of the tests' own, on a spare port with its own datadir and socket, that a
 * test may stop, crash and start again without touching the machine's main server. `mariadb-install-db`
 * runs once per test process into a template (grant tables kept: root from 127.0.0.1 with an empty
 * password, as on the main server; a database `test`); each server is a copy of it (`cp -a`) in a fresh
 * temporary directory owned by `mysql`, with durability turned off.
 *
 * The server (`mariadbd --user=mysql`) is a child of the test process: closing the scope stops it and
 * deletes the directory; if the test process dies without closing it, an `exit` handler and a watchdog
 * process kill it and delete the directory.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as DisposableServer from "./DisposableServer.js"
import * as internal from "./internal/mariaServer.js"

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
 * How to stop the server: `"fast"` (SIGTERM: the normal shutdown, which ends every session) or
 * `"immediate"` (SIGKILL: a crash, with InnoDB recovery at the next start).
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
  /** `max_connections`. Default: MariaDB's (151); MariaDB raises anything below 10 to 10. */
  readonly maxConnections?: number | undefined
  /** More server options, passed as `--name=value` (booleans as ON/OFF). */
  readonly settings?: Readonly<Record<string, string | number | boolean>> | undefined
}

/**
 * A running (or stopped) disposable server: database `test`, user `root` with no password,
 * `mysql://root@127.0.0.1:<port>/test`.
 *
 * @example
 * ```ts
 * import { MariaServer } from "@dbpool/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* MariaServer.make({ maxConnections: 20 })
 *   // a pool on server.url ...
 *   yield* server.restart("immediate")
 *   const rows = yield* server.sql("SELECT 1 AS one") // [{ one: 1 }]
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface MariaServer extends DisposableServer.DatabaseServer<MariaServerError> {
  readonly [TypeId]: TypeId
  /** Kills (`KILL CONNECTION`) every connection of this user; returns how many. */
  readonly killConnections: (user: string) => Effect.Effect<number, MariaServerError>
  /** Connections of this user in the processlist (the admin connection is never counted). */
  readonly countConnections: (user: string) => Effect.Effect<number, MariaServerError>
}

/**
 * A server could not be set up or started, or an admin query failed.
 *
 * @since 0.1.0
 * @category errors
 */
export class MariaServerError extends Data.TaggedError("MariaServerError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * Creates a server on a spare port and starts it (unless `start: false`). Closing the scope stops the
 * server (SIGKILL: its files are deleted anyway) and deletes its directory.
 *
 * @example
 * ```ts
 * import { MariaServer } from "@dbpool/testing"
 * import { Effect } from "effect"
 *
 * const small = MariaServer.make({ maxConnections: 5, settings: { wait_timeout: 2 } })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: Options) => Effect.Effect<MariaServer, MariaServerError, Scope.Scope> = internal.make

/**
 * The tag of a server provided by `layer`.
 *
 * @example
 * ```ts
 * import { MariaServer } from "@dbpool/testing"
 * import { Effect } from "effect"
 *
 * const crash = Effect.flatMap(MariaServer.MariaServer, (server) => server.stop("immediate"))
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export const MariaServer: Context.Tag<MariaServer, MariaServer> = Context.GenericTag<MariaServer>(
  "@dbpool/testing/MariaServer"
)

/**
 * A server as a layer: started when the layer is built, stopped and deleted with the layer's scope.
 *
 * @example
 * ```ts
 * import { MariaServer } from "@dbpool/testing"
 *
 * const MariaLive = MariaServer.layer({ maxConnections: 20 })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<MariaServer, MariaServerError> =>
  Layer.scoped(MariaServer, make(options))

/**
 * Whether a value is a `MariaServer`.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isMariaServer = (u: unknown): u is MariaServer =>
  typeof u === "object" && u !== null && internal.TypeId in u
