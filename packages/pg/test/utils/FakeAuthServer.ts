/**
 * A TCP server that speaks just enough of the PostgreSQL protocol to refuse a
 * password: it asks for a cleartext password and answers with the server's
 * own "password authentication failed" error (SQLSTATE 28P01). The machine's
 * PostgreSQL trusts every local connection, so a wrong password cannot be
 * produced there.
 */
import * as net from "node:net"

const errorResponse = (fields: ReadonlyArray<readonly [string, string]>): Buffer => {
  const body = Buffer.concat([
    ...fields.map(([code, value]) => Buffer.concat([Buffer.from(code), Buffer.from(value), Buffer.from([0])])),
    Buffer.from([0])
  ])
  const header = Buffer.alloc(5)
  header.write("E", 0)
  header.writeInt32BE(body.length + 4, 1)
  return Buffer.concat([header, body])
}

export const startFakeAuthServer = (): Promise<{ readonly port: number; readonly close: () => Promise<void> }> =>
  new Promise((resolve) => {
    const sockets = new Set<net.Socket>()
    const server = net.createServer((socket) => {
      sockets.add(socket)
      socket.on("close", () => sockets.delete(socket))
      socket.on("error", () => {})
      let sawStartup = false
      socket.on("data", (data) => {
        if (!sawStartup) {
          sawStartup = true
          const askPassword = Buffer.alloc(9)
          askPassword.write("R", 0)
          askPassword.writeInt32BE(8, 1)
          askPassword.writeInt32BE(3, 5)
          socket.write(askPassword)
          return
        }
        if (data[0] === "p".charCodeAt(0)) {
          socket.end(errorResponse([
            ["S", "FATAL"],
            ["V", "FATAL"],
            ["C", "28P01"],
            ["M", "password authentication failed for user \"postgres\""]
          ]))
        }
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      resolve({
        port,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy()
            server.close(() => done())
          })
      })
    })
  })
