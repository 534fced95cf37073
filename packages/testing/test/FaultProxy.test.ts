import { FaultProxy, Reliability } from "@dbpool/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, Scope } from "effect"
import { connect, echoServer } from "./utils/Tcp.js"
import { until } from "./utils/Wait.js"

const setup = Effect.gen(function*() {
  const echo = yield* echoServer
  const proxy = yield* FaultProxy.make({ target: { host: "127.0.0.1", port: echo.port } })
  return { echo, proxy }
})

describe("FaultProxy", () => {
  it.scopedLive("passes data both ways and counts accepted and live sockets", () =>
    Effect.gen(function*() {
      const { echo, proxy } = yield* setup
      const client = yield* connect(proxy.port)
      yield* client.send("hello")
      yield* until("the echo", () => client.received() === "hello")
      expect(yield* proxy.accepted).toBe(1)
      expect(yield* proxy.liveSockets).toBe(1)
      expect(echo.open()).toBe(1)
      client.socket.end()
      yield* until("the proxy to see the close", () => Effect.runSync(proxy.liveSockets) === 0)
      // the end went through to the server, which closed its side
      yield* until("the server to see the close", () => echo.open() === 0)
      expect(client.error()).toBe(undefined)
    }))

  it.scopedLive("blackhole: a new connection is accepted but never answered, and flows once healed", () =>
    Effect.gen(function*() {
      const { echo, proxy } = yield* setup
      yield* proxy.setMode("blackhole")
      const client = yield* connect(proxy.port)
      yield* client.send("ping")
      yield* Effect.sleep("300 millis")
      expect(client.received()).toBe("")
      expect(echo.open()).toBe(0) // never forwarded: the server knows nothing
      expect(yield* proxy.liveSockets).toBe(1)
      yield* proxy.setMode("pass")
      // what was held is delivered, in order, once the network heals
      yield* until("the held data", () => client.received() === "ping")
      expect(echo.open()).toBe(1)
    }))

  it.scopedLive("blackhole: an open connection stops forwarding both ways; a client giving up is seen at once", () =>
    Effect.gen(function*() {
      const { echo, proxy } = yield* setup
      const client = yield* connect(proxy.port)
      yield* client.send("one")
      yield* until("the echo", () => client.received() === "one")
      yield* proxy.setMode("blackhole")
      yield* client.send("two")
      yield* Effect.sleep("300 millis")
      expect(client.received()).toBe("one")
      client.socket.destroy()
      yield* until("the proxy to see the close", () => Effect.runSync(proxy.liveSockets) === 0)
      expect(echo.open()).toBe(1) // the server side hears nothing during the partition
      yield* proxy.setMode("pass")
      yield* until("the server side to close after healing", () => echo.open() === 0)
    }))

  it.scopedLive("refuse: new connections fail with ECONNREFUSED, open ones keep passing, pass listens again", () =>
    Effect.gen(function*() {
      const { proxy } = yield* setup
      const open = yield* connect(proxy.port)
      yield* proxy.setMode("refuse")
      const refused = yield* Effect.either(connect(proxy.port))
      expect(Either.isLeft(refused) && refused.left.code).toBe("ECONNREFUSED")
      yield* open.send("still")
      yield* until("the echo on the open connection", () => open.received() === "still")
      expect(yield* proxy.accepted).toBe(1)
      yield* proxy.setMode("pass")
      const again = yield* connect(proxy.port)
      yield* again.send("back")
      yield* until("the echo after refuse", () => again.received() === "back")
      expect(yield* proxy.accepted).toBe(2)
    }))

  it.scopedLive("reset: open connections see ECONNRESET, new ones are reset at once", () =>
    Effect.gen(function*() {
      const { echo, proxy } = yield* setup
      const open = yield* connect(proxy.port)
      yield* open.send("x")
      yield* until("the echo", () => open.received() === "x")
      yield* proxy.setMode("reset")
      yield* until("the reset", () => open.closed())
      expect(open.error()?.code).toBe("ECONNRESET")
      yield* until("the server side to be reset too", () => echo.open() === 0)
      // the connect itself may succeed before the RST arrives; either way the client sees ECONNRESET
      const late = yield* Effect.either(connect(proxy.port))
      const code = Either.isLeft(late)
        ? late.left.code
        : yield* until("the reset of the new connection", () => late.right.closed()).pipe(
          Effect.map(() => late.right.error()?.code)
        )
      expect(code).toBe("ECONNRESET")
      expect(yield* proxy.accepted).toBe(2)
      expect(yield* proxy.liveSockets).toBe(0)
      yield* proxy.setMode("pass")
      const healed = yield* connect(proxy.port)
      yield* healed.send("ok")
      yield* until("the echo after reset", () => healed.received() === "ok")
    }))

  it.scopedLive("resetAll resets the open connections and keeps the mode", () =>
    Effect.gen(function*() {
      const { proxy } = yield* setup
      const a = yield* connect(proxy.port)
      const b = yield* connect(proxy.port)
      yield* until("both accepted", () => Effect.runSync(proxy.liveSockets) === 2)
      yield* proxy.resetAll
      yield* until("both reset", () => a.closed() && b.closed())
      expect([a.error()?.code, b.error()?.code]).toEqual(["ECONNRESET", "ECONNRESET"])
      expect(yield* proxy.mode).toBe("pass")
      expect(yield* proxy.liveSockets).toBe(0)
      const c = yield* connect(proxy.port)
      yield* c.send("c")
      yield* until("the echo after resetAll", () => c.received() === "c")
    }))

  it.scopedLive("latency delays each chunk in both directions and keeps their order", () =>
    Effect.gen(function*() {
      const { proxy } = yield* setup
      const client = yield* connect(proxy.port)
      const lag = yield* Reliability.makeLagMeter
      yield* proxy.setLatency("150 millis")
      const start = performance.now()
      yield* client.send("a")
      yield* Effect.sleep("20 millis")
      yield* client.send("b")
      yield* Effect.sleep("20 millis")
      yield* client.send("c")
      yield* until("the first echo", () => client.received().length > 0)
      const firstRoundTrip = performance.now() - start
      yield* until("all echoes", () => client.received() === "abc")
      // 150 ms each way; timers may fire up to a millisecond early against performance.now()
      expect(firstRoundTrip).toBeGreaterThanOrEqual(298)
      expect(firstRoundTrip).toBeLessThan(yield* lag.widen(1000))
      yield* proxy.setLatency(0)
      const fast = performance.now()
      yield* client.send("d")
      yield* until("the echo without latency", () => client.received() === "abcd")
      // (100 ms, widened by the lag measured: a busy machine delays the echo, not the proxy)
      expect(performance.now() - fast).toBeLessThan(yield* lag.widen(100))
    }))

  it.scopedLive("passes a large stream intact, with latency, in order", () =>
    Effect.gen(function*() {
      const { proxy } = yield* setup
      yield* proxy.setLatency("5 millis")
      const client = yield* connect(proxy.port)
      const line = "0123456789abcdef".repeat(64) // 1 KiB
      const payload = Array.from({ length: 4096 }, (_, i) => `${i}:${line}\n`).join("") // about 4 MiB
      yield* client.send(payload)
      yield* until("the whole echo", () => client.received().length >= payload.length, 10_000)
      expect(client.received() === payload).toBe(true)
    }))

  it.scopedLive("a target that refuses is a reset for the client", () =>
    Effect.gen(function*() {
      // nothing listens on port 1 (tcpmux) here
      const proxy = yield* FaultProxy.make({ target: { host: "127.0.0.1", port: 1 } })
      const client = yield* connect(proxy.port)
      yield* until("the reset", () => client.closed())
      expect(client.error()?.code).toBe("ECONNRESET")
    }))

  it.scopedLive("closing the scope closes every connection and the port", () =>
    Effect.gen(function*() {
      const echo = yield* echoServer
      const scope = yield* Scope.make()
      const proxy = yield* FaultProxy.make({ target: { host: "127.0.0.1", port: echo.port } }).pipe(
        Scope.extend(scope)
      )
      const clients = yield* Effect.all([connect(proxy.port), connect(proxy.port), connect(proxy.port)])
      yield* until("three live sockets", () => Effect.runSync(proxy.liveSockets) === 3 && echo.open() === 3)
      yield* proxy.setMode("blackhole") // held data and all: closing still ends everything
      yield* clients[0].send("held")
      yield* Scope.close(scope, Exit.void)
      expect(yield* proxy.liveSockets).toBe(0)
      yield* until("the clients to see the close", () => clients.every((c) => c.closed()))
      yield* until("the server side to close", () => echo.open() === 0)
      const after = yield* Effect.either(connect(proxy.port))
      expect(Either.isLeft(after) && after.left.code).toBe("ECONNREFUSED")
    }))
})
