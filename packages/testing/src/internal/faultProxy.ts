import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"
import type * as FaultProxy from "../FaultProxy.js"
import { FaultProxyError } from "../FaultProxy.js"
import { sparePort } from "./port.js"

/** @internal */
export const TypeId: FaultProxy.TypeId = Symbol.for("@dbpool/testing/FaultProxy") as FaultProxy.TypeId

// What travels through one direction of a connection, in order: data, a clean end (FIN), or a reset (RST).
type Item = Buffer | "end" | "reset"

interface Queued {
  readonly item: Item
  readonly due: number
}

const quiet = (socket: Net.Socket) => {
  socket.removeAllListeners("error")
  socket.on("error", () => {})
}

/** Ends a socket with an RST where Node can (20+), else destroys it. */
const reset = (socket: Net.Socket) => {
  quiet(socket)
  if (socket.destroyed) return
  if (typeof socket.resetAndDestroy === "function") socket.resetAndDestroy()
  else socket.destroy()
}

class Proxy {
  mode: FaultProxy.Mode
  latency: number
  accepted = 0
  // Until both sides are closed: an upstream side outlives its client while what is queued for it drains.
  readonly connections = new Set<Connection>()
  listener: Net.Server | undefined
  closed = false

  constructor(readonly port: number, readonly target: FaultProxy.Target, mode: FaultProxy.Mode, latency: number) {
    this.mode = mode
    this.latency = latency
  }

  /** Whether data may flow on open connections: everything but a blackhole ("refuse" only stops new ones). */
  get flowing() {
    return !this.closed && this.mode !== "blackhole"
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = Net.createServer({ noDelay: true }, (socket) => this.accept(socket))
      server.once("error", reject)
      server.listen({ host: "127.0.0.1", port: this.port, exclusive: true }, () => {
        server.removeListener("error", reject)
        server.on("error", () => {})
        this.listener = server
        resolve()
      })
    })
  }

  /**
   * Stops listening: the port is free as soon as `close()` returns. Its "close" event waits for every
   * connection accepted on it, so only the final close waits for it (bounded, in case one lingers).
   */
  unlisten(awaitConnections: boolean): Promise<void> {
    const server = this.listener
    this.listener = undefined
    if (!server) return Promise.resolve()
    return new Promise((resolve) => {
      server.close(() => resolve())
      if (awaitConnections) setTimeout(resolve, 1000).unref()
      else resolve()
    })
  }

  accept(socket: Net.Socket) {
    this.accepted++
    if (this.closed || this.mode === "reset" || this.mode === "refuse") {
      // "refuse" only reaches here for a connection accepted just before the listener closed
      reset(socket)
      return
    }
    const connection = new Connection(this, socket)
    this.connections.add(connection)
    if (this.mode === "pass") connection.connectUpstream()
  }

  /** Starts or resumes forwarding everywhere (after a blackhole). */
  heal() {
    for (const connection of this.connections) {
      if (!connection.upstream && connection.open) connection.connectUpstream()
      connection.toUpstream.flush()
      connection.toClient.flush()
    }
  }

  resetAll() {
    for (const connection of [...this.connections]) connection.reset()
  }

  get liveSockets() {
    let live = 0
    for (const connection of this.connections) if (connection.open) live++
    return live
  }

  async setMode(mode: FaultProxy.Mode): Promise<void> {
    if (this.closed) return
    const previous = this.mode
    this.mode = mode
    if (mode === "refuse" && previous !== "refuse") await this.unlisten(false)
    if (mode !== "refuse" && previous === "refuse") {
      try {
        await this.listen()
      } catch (cause) {
        this.mode = previous
        throw cause
      }
    }
    if (mode === "reset") this.resetAll()
    if (mode === "pass") this.heal()
  }

  async close() {
    this.closed = true
    for (const connection of [...this.connections]) connection.destroy()
    await this.unlisten(true)
  }
}

class Direction {
  readonly queue: Array<Queued> = []
  timer: ReturnType<typeof setTimeout> | undefined
  done = false

  constructor(
    readonly proxy: Proxy,
    readonly source: () => Net.Socket | undefined,
    readonly dest: () => Net.Socket | undefined
  ) {}

  push(item: Item) {
    if (this.done) return
    this.queue.push({ item, due: performance.now() + this.proxy.latency })
    this.flush()
  }

  /** Delivers what is due, in order; waits for the head when it is not due yet; holds all in a blackhole. */
  flush() {
    if (this.timer !== undefined) return
    while (this.queue.length > 0 && this.proxy.flowing) {
      const dest = this.dest()
      if (dest === undefined || dest.connecting) return // flushed again once connected
      const head = this.queue[0]!
      const wait = head.due - performance.now()
      if (wait > 0) {
        this.timer = setTimeout(() => {
          this.timer = undefined
          this.flush()
        }, wait)
        return
      }
      this.queue.shift()
      this.deliver(dest, head.item)
    }
  }

  deliver(dest: Net.Socket, item: Item) {
    if (item === "reset") {
      this.done = true
      reset(dest)
    } else if (item === "end") {
      this.done = true
      if (!dest.destroyed) dest.end()
    } else if (!dest.destroyed && !dest.writableEnded) {
      // Backpressure: stop reading the other side until the slow side drains.
      if (!dest.write(item)) {
        const source = this.source()
        if (source && !source.destroyed && !source.isPaused()) {
          source.pause()
          dest.once("drain", () => source.resume())
        }
      }
    }
  }

  clear() {
    this.done = true
    this.queue.length = 0
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }
}

class Connection {
  upstream: Net.Socket | undefined
  open = true
  readonly toUpstream: Direction
  readonly toClient: Direction

  constructor(readonly proxy: Proxy, readonly client: Net.Socket) {
    this.toUpstream = new Direction(proxy, () => this.client, () => this.upstream)
    this.toClient = new Direction(proxy, () => this.upstream, () => this.client)
    client.setNoDelay(true)
    client.on("data", (chunk: Buffer) => this.toUpstream.push(chunk))
    client.on("end", () => {
      // Nothing to forward it to, ever: a connection accepted in a blackhole that its client gave up on.
      if (!this.upstream) this.forget()
      else this.toUpstream.push("end")
    })
    client.on("error", () => {})
    client.on("close", (hadError) => {
      if (hadError && this.upstream) this.toUpstream.push("reset")
      this.forget()
    })
  }

  connectUpstream() {
    if (this.upstream || !this.open) return
    const upstream = Net.connect({ host: this.proxy.target.host, port: this.proxy.target.port })
    this.upstream = upstream
    upstream.setNoDelay(true)
    upstream.on("connect", () => this.toUpstream.flush())
    upstream.on("data", (chunk: Buffer) => this.toClient.push(chunk))
    upstream.on("end", () => this.toClient.push("end"))
    upstream.on("error", () => {})
    upstream.on("close", (hadError) => {
      // Refused or reset by the server: the client sees a reset too.
      if (hadError) this.toClient.push("reset")
      this.toUpstream.clear()
      this.release()
    })
  }

  /** The client side is gone; the upstream side stays until what is queued for it is delivered. */
  forget() {
    if (!this.open) return
    this.open = false
    this.toClient.clear()
    if (!this.upstream) this.toUpstream.clear()
    this.release()
  }

  /** Forgotten by the proxy once both sides are gone (the upstream side may still be draining). */
  release() {
    if (!this.open && (!this.upstream || this.upstream.destroyed)) this.proxy.connections.delete(this)
  }

  reset() {
    this.toUpstream.clear()
    this.toClient.clear()
    reset(this.client)
    if (this.upstream) reset(this.upstream)
    this.forget()
  }

  destroy() {
    this.toUpstream.clear()
    this.toClient.clear()
    quiet(this.client)
    this.client.destroy()
    if (this.upstream) {
      quiet(this.upstream)
      this.upstream.destroy()
    }
    this.forget()
  }
}

const describe = (cause: unknown) => cause instanceof Error ? cause.message : String(cause)

/** @internal */
export const make = (options: FaultProxy.Options): Effect.Effect<FaultProxy.FaultProxy, never, Scope.Scope> =>
  Effect.gen(function*() {
    const latency = Duration.toMillis(options.latency ?? 0)
    // A port below the ephemeral range (see sparePort), so that "refuse" can give it up and take it back safely.
    const listen = Effect.flatMap(sparePort, (port) =>
      Effect.tryPromise(() => {
        const proxy = new Proxy(port, options.target, "pass", latency)
        return proxy.listen().then(() => proxy)
      }))
    const proxy = yield* Effect.acquireRelease(
      Effect.orDie(Effect.retry(listen, { times: 4 })),
      (proxy) => Effect.promise(() => proxy.close())
    )
    if (options.mode !== undefined && options.mode !== "pass") {
      yield* Effect.orDie(setMode(proxy, options.mode))
    }
    const self: FaultProxy.FaultProxy = {
      [TypeId]: TypeId,
      host: "127.0.0.1",
      port: proxy.port,
      target: options.target,
      mode: Effect.sync(() => proxy.mode),
      setMode: (mode) => setMode(proxy, mode),
      latency: Effect.sync(() => Duration.millis(proxy.latency)),
      setLatency: (latency) =>
        Effect.sync(() => {
          proxy.latency = Duration.toMillis(latency)
        }),
      liveSockets: Effect.sync(() => proxy.liveSockets),
      accepted: Effect.sync(() => proxy.accepted),
      resetAll: Effect.sync(() => proxy.resetAll())
    }
    return self
  })

const setMode = (proxy: Proxy, mode: FaultProxy.Mode): Effect.Effect<void, FaultProxyError> =>
  Effect.tryPromise({
    try: () => proxy.setMode(mode),
    catch: (cause) =>
      new FaultProxyError({ message: `cannot listen on 127.0.0.1:${proxy.port} again: ${describe(cause)}`, cause })
  })
