/**
 * The protocol's cancel request, shared by the connector (an interrupted statement, `queryTimeout`) and the
 * pipeline (a statement given up while nothing else is in flight on its connection).
 */
import * as Effect from "effect/Effect"
import * as net from "node:net"
import type Pg from "pg"

/**
 * The protocol's CancelRequest on a socket of its own: no login, no connection slot (it works when the
 * server is at max_connections). Succeeds with whether the request was sent.
 */
export const cancelRequest = (client: Pg.Client): Effect.Effect<boolean> =>
  Effect.suspend(() => {
    let sent = false
    return Effect.async<boolean>((resume) => {
      const { processID, secretKey } = client as unknown as { processID: number | null; secretKey: number | null }
      const { host, port } = (client as unknown as { connectionParameters: { host: string; port: number } })
        .connectionParameters
      if (processID === null || secretKey === null || typeof host !== "string") return resume(Effect.succeed(false))
      const socket = host.startsWith("/")
        ? net.connect(`${host}/.s.PGSQL.${port}`)
        : net.connect(port, host)
      socket.once("connect", () => {
        const message = Buffer.alloc(16)
        message.writeInt32BE(16, 0)
        message.writeInt32BE(80877102, 4)
        message.writeInt32BE(processID, 8)
        message.writeInt32BE(secretKey, 12)
        // Written, not ended: the server closes the socket once it has handled the request, and libpq waits for
        // that. Ending our side first made PgBouncer 1.18 exit (FATAL in disconnect_client, pgbouncer#801) when
        // the end arrived before it had forwarded the request.
        socket.write(message, () => {
          sent = true
        })
      })
      socket.once("error", () => resume(Effect.succeed(sent)))
      socket.once("close", () => resume(Effect.succeed(sent)))
      return Effect.sync(() => socket.destroy())
    }).pipe(Effect.timeoutTo({ duration: "1 second", onTimeout: () => false, onSuccess: (done) => done }))
  })
