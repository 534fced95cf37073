/**
 * A TCP proxy on 127.0.0.1 that breaks the network between a client and a server on demand: it passes
 * data, swallows it, refuses or resets connections, or delays every chunk, and the mode can change at any
 * time, also while connections are open. It stands in for toxiproxy / `tc netem`, which these machines lack.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/faultProxy.js"

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
 * What the proxy does to connections:
 *
 * - `"pass"`: forwards both ways (after the latency, if any).
 * - `"blackhole"`: new connections are accepted (the client's connect succeeds) but never forwarded and
 *   never answered; open connections stop forwarding both ways. Nothing is lost: what arrives is held, like
 *   packets in a partitioned network, and delivered in order when the mode goes back to `"pass"`
 *   (connections accepted meanwhile connect to the target then). A client that closes its socket is
 *   noticed at once, so `liveSockets` follows it.
 * - `"refuse"`: the proxy stops listening, so a new connection fails with `ECONNREFUSED` right away, as
 *   when no server runs. Open connections keep passing data. Leaving the mode listens on the same port again.
 * - `"reset"`: every open connection is reset (RST: the client sees `ECONNRESET`), both sides; new
 *   connections are accepted and reset at once, so the client's connect may succeed and its first read or
 *   write fails with `ECONNRESET`.
 *
 * @since 0.1.0
 * @category models
 */
export type Mode = "pass" | "blackhole" | "refuse" | "reset"

/**
 * Where the proxy forwards to.
 *
 * @since 0.1.0
 * @category models
 */
export interface Target {
  readonly host: string
  readonly port: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly target: Target
  /** The initial mode. Default: `"pass"`. */
  readonly mode?: Mode | undefined
  /** The initial per-chunk latency. Default: none. */
  readonly latency?: Duration.DurationInput | undefined
}

/**
 * A running proxy.
 *
 * @example
 * ```ts
 * import { FaultProxy } from "@dbpool/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const proxy = yield* FaultProxy.make({ target: { host: "127.0.0.1", port: 5432 } })
 *   // point the pool at 127.0.0.1:proxy.port, then
 *   yield* proxy.setMode("blackhole")
 *   // ... the pool's connect times out ...
 *   yield* proxy.setMode("pass")
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface FaultProxy {
  readonly [TypeId]: TypeId
  /** Always `"127.0.0.1"`. */
  readonly host: string
  /** The port it listens on, the same for its whole life (also across `"refuse"`). */
  readonly port: number
  readonly target: Target
  readonly mode: Effect.Effect<Mode>
  /**
   * Switches the mode; applies to open connections at once. Fails only when leaving `"refuse"` finds the
   * port taken by someone else meanwhile (then the mode stays `"refuse"`).
   */
  readonly setMode: (mode: Mode) => Effect.Effect<void, FaultProxyError>
  readonly latency: Effect.Effect<Duration.Duration>
  /**
   * Delays each chunk, in both directions, by `latency` after it arrives; order is kept (a chunk never
   * overtakes an earlier one). Applies to chunks that arrive from now on. `0` turns it off.
   */
  readonly setLatency: (latency: Duration.DurationInput) => Effect.Effect<void>
  /** Client-side connections open now (accepted and not closed by either side). */
  readonly liveSockets: Effect.Effect<number>
  /** Connections accepted since the start, including those reset at once in `"reset"` mode. */
  readonly accepted: Effect.Effect<number>
  /** Resets (RST) every open connection now, both sides, and keeps the mode. */
  readonly resetAll: Effect.Effect<void>
}

/**
 * Raised when the proxy cannot listen on its port again after `"refuse"`.
 *
 * @since 0.1.0
 * @category errors
 */
export class FaultProxyError extends Data.TaggedError("FaultProxyError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * Starts a proxy on 127.0.0.1 (a spare port) in front of `target`. Closing the scope stops listening and
 * closes every connection, both sides.
 *
 * @example
 * ```ts
 * import { FaultProxy } from "@dbpool/testing"
 * import { Effect } from "effect"
 *
 * const slow = FaultProxy.make({ target: { host: "127.0.0.1", port: 3306 }, latency: "250 millis" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options: Options) => Effect.Effect<FaultProxy, never, Scope.Scope> = internal.make

/**
 * The tag of a proxy provided by `layer`.
 *
 * @example
 * ```ts
 * import { FaultProxy } from "@dbpool/testing"
 * import { Effect } from "effect"
 *
 * const cut = Effect.flatMap(FaultProxy.FaultProxy, (proxy) => proxy.setMode("reset"))
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export const FaultProxy: Context.Tag<FaultProxy, FaultProxy> = Context.GenericTag<FaultProxy>(
  "@dbpool/testing/FaultProxy"
)

/**
 * A proxy as a layer, closed with the layer's scope.
 *
 * @example
 * ```ts
 * import { FaultProxy } from "@dbpool/testing"
 *
 * const ProxyLive = FaultProxy.layer({ target: { host: "127.0.0.1", port: 5432 } })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<FaultProxy> => Layer.scoped(FaultProxy, make(options))

/**
 * Whether a value is a `FaultProxy`.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isFaultProxy = (u: unknown): u is FaultProxy => typeof u === "object" && u !== null && internal.TypeId in u
