import * as Effect from "effect/Effect"
import * as Fs from "node:fs"
import * as Net from "node:net"

const handedOut = new Set<number>()

/** Whether 127.0.0.1:port can be bound now; `0` asks the system for any free port and returns it. */
const tryBind = (port: number): Promise<number | undefined> =>
  new Promise((resolve) => {
    const server = Net.createServer()
    server.once("error", () => resolve(undefined))
    server.listen({ host: "127.0.0.1", port, exclusive: true }, () => {
      const bound = (server.address() as Net.AddressInfo).port
      server.close(() => resolve(bound))
    })
  })

/** The low end of the range the kernel picks outgoing connections' local ports from. */
const ephemeralLow = (): number => {
  try {
    const low = Number(Fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0])
    return Number.isInteger(low) && low > 2048 ? low : 32768
  } catch {
    return 32768
  }
}

/**
 * A port on 127.0.0.1 that nothing listens on now, never handed out before by this process.
 *
 * Servers that tests stop and start again keep their port, so it is chosen below the ephemeral range: an
 * outgoing connection (a pool retrying against the stopped server, say) could otherwise take it as its local
 * port while the server is down, and the restart would fail with EADDRINUSE. The pick is random, so that two
 * test processes rarely try the same one; a bound port (bind, read, close) from the system is the fallback.
 */
export const sparePort: Effect.Effect<number> = Effect.promise(async () => {
  const high = ephemeralLow() - 1
  const low = Math.max(1024, high - 12_000)
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1))
    if (handedOut.has(port)) continue
    if ((await tryBind(port)) === port) {
      handedOut.add(port)
      return port
    }
  }
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await tryBind(0)
    if (port !== undefined && !handedOut.has(port)) {
      handedOut.add(port)
      return port
    }
  }
  throw new Error("no free port on 127.0.0.1")
})

/** Whether something accepts TCP connections on 127.0.0.1:port now. */
export const isListening = (port: number, host = "127.0.0.1"): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const socket = Net.connect({ host, port })
    const done = (ok: boolean) => {
      socket.removeAllListeners()
      socket.on("error", () => {})
      socket.destroy()
      resume(Effect.succeed(ok))
    }
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
    socket.setTimeout(1000, () => done(false))
    return Effect.sync(() => {
      socket.removeAllListeners()
      socket.on("error", () => {})
      socket.destroy()
    })
  })
