/**
 * The dashboard served on a free port over pools of a counted fake resource,
 * and a small HTTP client for the tests (Node's fetch; the event feed read as
 * a stream of parsed server-sent events).
 */
import { ResourcePool } from "@dbpool/core"
import type { PoolConfig } from "@dbpool/core"
import * as Dashboard from "@dbpool/dashboard/Dashboard"
import { Context, Effect, Layer } from "effect"

/** A pool of plain objects, each counted, with the test's configuration. */
export const fakePool = (config: PoolConfig.Input) => {
  let opened = 0
  return ResourcePool.make({ acquire: Effect.sync(() => ({ id: ++opened })), config })
}

/** Serves the dashboard in the current scope; returns its address. */
export const serve = <P = never, A = never, M = never>(options: Dashboard.Options<P, A, M>) =>
  Effect.map(
    Layer.build(Dashboard.layer({ port: 0, ...options })),
    (context) => Context.get(context, Dashboard.Dashboard)
  )

export interface Reply {
  readonly status: number
  readonly headers: Headers
  readonly body: string
}

export const get = (url: string, headers: Record<string, string> = {}, redirect: "manual" | "follow" = "manual") =>
  Effect.promise(async (): Promise<Reply> => {
    const response = await fetch(url, { headers, redirect })
    return { status: response.status, headers: response.headers, body: await response.text() }
  })

export const getJson = (url: string, headers: Record<string, string> = {}) =>
  Effect.map(get(url, headers), (r) => ({ status: r.status, json: JSON.parse(r.body) as any }))

export interface Feed {
  /** The next event whose name and data satisfy `accept`, waiting for it; earlier ones are dropped. */
  readonly next: (accept: (event: string, data: any) => boolean) => Effect.Effect<{ event: string; data: any }>
  readonly close: () => void
}

/** Opens `/events` and parses what comes: `event: name` and `data: json` blocks. */
export const feed = (url: string, headers: Record<string, string> = {}) =>
  Effect.acquireRelease(
    Effect.promise(async (): Promise<Feed> => {
      const controller = new AbortController()
      const response = await fetch(url, { headers, signal: controller.signal })
      if (response.status !== 200) throw new Error(`feed: status ${response.status}`)
      const reader = response.body!.getReader()
      const decoder = new TextDecoder()
      let buffer = ""
      const read = async (): Promise<{ event: string; data: any }> => {
        for (;;) {
          const end = buffer.indexOf("\n\n")
          if (end >= 0) {
            const block = buffer.slice(0, end)
            buffer = buffer.slice(end + 2)
            const event = /^event: (.*)$/m.exec(block)?.[1]
            const data = /^data: (.*)$/m.exec(block)?.[1]
            if (event !== undefined && data !== undefined) return { event, data: JSON.parse(data) }
            continue
          }
          const chunk = await reader.read()
          if (chunk.done) throw new Error("feed: the stream ended")
          buffer += decoder.decode(chunk.value, { stream: true })
        }
      }
      return {
        next: (accept) =>
          Effect.promise(async () => {
            for (;;) {
              const e = await read()
              if (accept(e.event, e.data)) return e
            }
          }),
        close: () => controller.abort()
      }
    }),
    (f) => Effect.sync(() => f.close())
  )
