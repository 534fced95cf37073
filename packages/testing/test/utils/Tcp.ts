import { Effect } from "effect"
import type { Scope } from "effect"
import * as Net from "node:net"

/** An echo server on 127.0.0.1 that counts its open connections. */
export interface EchoServer {
  readonly port: number
  readonly open: () => number
}

export const echoServer: Effect.Effect<EchoServer, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(() =>
    new Promise<{ server: Net.Server; sockets: Set<Net.Socket> }>((resolve) => {
      const sockets = new Set<Net.Socket>()
      const server = Net.createServer((socket) => {
        sockets.add(socket)
        socket.on("error", () => {})
        socket.on("close", () => sockets.delete(socket))
        socket.pipe(socket)
      })
      server.listen(0, "127.0.0.1", () => resolve({ server, sockets }))
    })
  ),
  ({ server, sockets }) =>
    Effect.promise(() =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      })
    )
).pipe(Effect.map(({ server, sockets }) => ({
  port: (server.address() as Net.AddressInfo).port,
  open: () => sockets.size
})))

/** A test client: what it received, the error it saw, whether it is closed. */
export interface Client {
  readonly socket: Net.Socket
  readonly received: () => string
  readonly error: () => NodeJS.ErrnoException | undefined
  readonly closed: () => boolean
  readonly send: (text: string) => Effect.Effect<void>
}

/** Connects to 127.0.0.1:port; fails with the connect error (ECONNREFUSED...). Destroyed with the scope. */
export const connect = (port: number): Effect.Effect<Client, NodeJS.ErrnoException, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<Client, NodeJS.ErrnoException>((resume) => {
      const socket = Net.connect({ host: "127.0.0.1", port })
      let received = ""
      let error: NodeJS.ErrnoException | undefined
      let closed = false
      let connected = false
      socket.on("data", (chunk: Buffer) => {
        received += chunk.toString()
      })
      socket.on("error", (e: NodeJS.ErrnoException) => {
        error = e
        if (!connected) resume(Effect.fail(e))
      })
      socket.on("close", () => {
        closed = true
      })
      socket.on("connect", () => {
        connected = true
        resume(Effect.succeed({
          socket,
          received: () => received,
          error: () => error,
          closed: () => closed,
          send: (text) => Effect.sync(() => socket.write(text))
        }))
      })
    }),
    (client) => Effect.sync(() => client.socket.destroy())
  )
