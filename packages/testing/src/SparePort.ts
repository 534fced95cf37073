/**
 * Free ports on 127.0.0.1 for the servers and proxies of the tests.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as internal from "./internal/port.js"

/**
 * A port on 127.0.0.1 that nothing listens on now and that this process has not handed out before.
 *
 * It is tried by binding it and closing it again, so another process could still take it before the
 * caller binds it: the caller retries on `EADDRINUSE`. The port is picked at random below the kernel's
 * ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`), not with a bind to port 0: a server that a
 * test stops and starts again keeps its port, and while it is down, an outgoing connection (say a pool
 * retrying against it) could otherwise get that very port as its local port, and the restart would fail.
 * When no such port is free, it falls back to a port from a bind to port 0.
 *
 * @example
 * ```ts
 * import { SparePort } from "@dbpool/testing"
 * import { Effect } from "effect"
 *
 * const nothingListens = Effect.map(SparePort.get, (port) => `postgres://postgres@127.0.0.1:${port}/test`)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const get: Effect.Effect<number> = internal.sparePort

/**
 * Whether something accepts TCP connections on the port (127.0.0.1 unless told) now.
 *
 * @example
 * ```ts
 * import { SparePort } from "@dbpool/testing"
 *
 * const up = SparePort.isListening(5432)
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const isListening: (port: number, host?: string) => Effect.Effect<boolean> = internal.isListening
