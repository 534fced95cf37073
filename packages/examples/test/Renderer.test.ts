import type { PoolStats } from "@dbpool/core/PoolStats"
import * as Renderer from "@dbpool/examples/demo/Renderer"
import { describe, expect, it } from "@effect/vitest"

const stats = (active: number, idle: number, waiting: number): PoolStats => ({
  name: "demo",
  minConnections: 2,
  maxConnections: 8,
  targetConnections: 2,
  ceilingConnections: 8,
  totalConnections: active + idle,
  activeConnections: active,
  idleConnections: idle,
  validatingConnections: 0,
  closingConnections: 0,
  pendingConnections: 0,
  waitingRequests: waiting,
  totalRequests: 0,
  successfulRequests: 0,
  failedRequests: 0,
  cancelledRequests: 0,
  timeouts: 0,
  averageAcquireTime: 0,
  healthyConnections: active + idle,
  unhealthyConnections: 0,
  connectionsCreated: active + idle,
  connectionsClosed: { idle: 0, lifetime: 0, unhealthy: 0, broken: 0, closed: 0 },
  connectFailures: 0,
  circuitState: "closed"
})

const frame = (elapsed: number, done: number): Renderer.Frame => ({
  elapsed,
  done,
  total: 2000,
  errors: 0,
  stats: stats(6, 2, 12)
})

describe("Renderer", () => {
  it("fills the progress bar in proportion, clamped to its width", () => {
    expect(Renderer.progressBar(0.5, 10)).toBe("█████░░░░░")
    expect(Renderer.progressBar(0, 4)).toBe("░░░░")
    expect(Renderer.progressBar(1.7, 4)).toBe("████")
  })

  it("computes queries per second between two frames", () => {
    expect(Renderer.rate(frame(1000, 400), frame(1500, 900))).toBe(1000)
    expect(Renderer.rate(undefined, frame(2000, 500))).toBe(250)
    expect(Renderer.rate(frame(1000, 400), frame(1000, 400))).toBe(0)
  })

  it("prints one plain line per update when the output is not a terminal", () => {
    const out: Array<string> = []
    const renderer = Renderer.make({ tty: false, write: (s) => out.push(s) })
    renderer.update(frame(1000, 500))
    renderer.update(frame(2000, 1500))
    renderer.finish()
    expect(out).toEqual([
      "[  1.0 s]  25%  500/2000 queries  500 q/s | active 6 idle 2 total 8/8 waiting 12 | errors 0\n",
      "[  2.0 s]  75%  1500/2000 queries  1000 q/s | active 6 idle 2 total 8/8 waiting 12 | errors 0\n"
    ])
  })

  it("redraws its two lines in place on a terminal", () => {
    const out: Array<string> = []
    const renderer = Renderer.make({ tty: true, write: (s) => out.push(s) })
    renderer.update(frame(1000, 500))
    renderer.update(frame(2000, 1500))
    expect(out).toHaveLength(2)
    expect(out[0].startsWith("\x1b[2K")).toBe(true)
    expect(out[1].startsWith("\x1b[2F\x1b[2K")).toBe(true)
    expect(out[1].split("\n")).toEqual([
      "\x1b[2F\x1b[2K  ████████████████████████░░░░░░░░  75%  1,500 / 2,000 queries   1,000 q/s  2.0 s",
      "\x1b[2K  connections  active   6   idle   2   total   8 / 8   waiting  12   errors 0",
      ""
    ])
  })

  it("cuts the lines to the terminal's width, so a narrow terminal still redraws in place", () => {
    const out: Array<string> = []
    const renderer = Renderer.make({ tty: true, write: (s) => out.push(s), columns: 40 })
    renderer.update(frame(1000, 500))
    expect(out[0].split("\n").map((line) => line.replace("\x1b[2K", "").length)).toEqual([39, 39, 0])
  })
})
