/**
 * What the toolkit's disposable servers have in common (`PgCluster`, `MariaServer`, `PgBouncer`): one
 * server process of the test's own on a spare port of 127.0.0.1, started and stopped under one lock,
 * keeping its port and directory across restarts, and stopped and deleted when its scope closes.
 *
 * Each server's module adds what is its own (admin queries, counts and kills, its stop signals) and
 * documents it; a helper that only starts, stops or restarts a server can take any of them as a
 * `DisposableServer`.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"

/**
 * How to stop a server: `"fast"` is its clean shutdown, which ends every client session; `"immediate"` is
 * a crash. Each server's module says which signal each one sends.
 *
 * @since 0.1.0
 * @category models
 */
export type StopMode = "fast" | "immediate"

/**
 * The options every disposable server takes.
 *
 * @example
 * ```ts
 * import type { DisposableServer } from "@dbpool/testing"
 *
 * const patient: DisposableServer.Options = { startTimeout: "1 minute", stopTimeout: "20 seconds" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Whether `make` starts the server. Default: true. */
  readonly start?: boolean | undefined
  /** How long a start may take before the server is killed and `start` fails. Default: 30 seconds. */
  readonly startTimeout?: Duration.DurationInput | undefined
  /** How long a stop may take before the server is killed (SIGKILL). Default: 10 seconds. */
  readonly stopTimeout?: Duration.DurationInput | undefined
  /** The bound of each admin query or command (`sql`, counts, kills, `admin`). Default: 10 seconds. */
  readonly queryTimeout?: Duration.DurationInput | undefined
}

/**
 * A running (or stopped) disposable server, failing with `E` when it cannot start. Its port and directory
 * stay the same across restarts.
 *
 * @example
 * ```ts
 * import type { DisposableServer } from "@dbpool/testing"
 * import { Effect } from "effect"
 *
 * // any of PgCluster, MariaServer, PgBouncer
 * const bounce = <E>(server: DisposableServer.DisposableServer<E>) =>
 *   Effect.zipRight(server.stop("immediate"), Effect.zipRight(Effect.sleep("500 millis"), server.start))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface DisposableServer<E> {
  /** Always `"127.0.0.1"`. */
  readonly host: string
  readonly port: number
  /** A connection URL as the server's admin user, with no password. */
  readonly url: string
  /** The server's output, for a failing test to show. */
  readonly logFile: string
  /** Starts the server and waits until it accepts connections; does nothing if it runs. */
  readonly start: Effect.Effect<void, E>
  /** Stops the server (default `"fast"`) and waits for it to exit; does nothing if it is stopped. */
  readonly stop: (mode?: StopMode) => Effect.Effect<void>
  /** `stop(mode)` then `start`, under one lock. */
  readonly restart: (mode?: StopMode) => Effect.Effect<void, E>
  readonly isRunning: Effect.Effect<boolean>
  /** The server's pid (PostgreSQL: the postmaster's) while it runs. */
  readonly pid: Effect.Effect<number | undefined>
}

/**
 * A disposable database server (`PgCluster`, `MariaServer`): a data directory of its own, one database and
 * one admin user, and admin statements on short connections.
 *
 * @example
 * ```ts
 * import type { DisposableServer } from "@dbpool/testing"
 *
 * const version = <E>(server: DisposableServer.DatabaseServer<E>) => server.sql("SELECT version() AS v")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface DatabaseServer<E> extends DisposableServer<E> {
  /** The database of `url` and `sql`. */
  readonly database: string
  /** The admin user of `url` and `sql` (a superuser, no password). */
  readonly user: string
  readonly dataDir: string
  /** Runs one statement on a short admin connection, as `user` in `database`. */
  readonly sql: (
    text: string,
    params?: ReadonlyArray<unknown>
  ) => Effect.Effect<ReadonlyArray<Record<string, unknown>>, E>
  /** The server's count of the connections that `key` names (the admin connection is never counted). */
  readonly countConnections: (key: string) => Effect.Effect<number, E>
}
