/**
 * The dashboard's HTTP application: one handler that checks the token, then
 * dispatches on the path. Every route reads the pools through the sampler
 * (the live ones) or directly (`/stats`, the health routes: exact, now).
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as Assets from "./assets.js"
import * as Auth from "./auth.js"
import * as Health from "./health.js"
import * as Page from "./page.js"
import type { Message, Sampler } from "./sampler.js"
import type { PoolSource } from "./source.js"

export interface AppOptions {
  readonly sampler: Sampler
  readonly guard: Auth.Guard
  /** The pools `/health/ready` checks: a cluster's replicas that were not given are left out. */
  readonly ready: ReadonlyArray<PoolSource>
  readonly readyTimeout: Duration.Duration
  readonly metrics: Effect.Effect<string, unknown> | undefined
  readonly title: string
}

const json = (body: unknown, status = 200) =>
  HttpServerResponse.text(JSON.stringify(body, replacer), {
    status,
    contentType: "application/json",
    headers: { "cache-control": "no-store" }
  })

/** Causes of events are errors or unknown values: their message, never their fields (which may hold anything). */
function replacer(this: unknown, key: string, value: unknown): unknown {
  if (key !== "cause" || value === undefined || value === null || typeof value === "string") return value
  if (typeof value === "object" && "message" in value && typeof value.message === "string") return value.message
  return String(value)
}

const encoder = new TextEncoder()
const sse = (event: string, data: unknown): Uint8Array =>
  encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data, replacer)}\n\n`)

/**
 * The feed of one page: the pools and what the sampler kept, then every sample and notice as they come.
 * Subscribed in the stream's own scope, so the subscription lasts as long as the page listens, and taken
 * in the same step as the history, so nothing falls between the two.
 */
const events = (sampler: Sampler) => {
  const body = Stream.unwrapScoped(Effect.map(sampler.subscribe, (live) => {
    const { notices, samples } = sampler.history()
    const hello = sse("hello", {
      pools: sampler.pools.map((p) => p.config.name),
      samples,
      notices,
      latest: sampler.latest()
    })
    const messages = Stream.map(live, (m: Message) => m._tag === "sample" ? sse("sample", m) : sse("notice", m.notice))
    return Stream.concat(Stream.make(encoder.encode("retry: 2000\n\n"), hello), Stream.merge(messages, keepAlive))
  }))
  return HttpServerResponse.stream(body, {
    contentType: "text/event-stream",
    headers: { "cache-control": "no-store", "x-accel-buffering": "no" }
  })
}

// A comment every 15 s keeps proxies from closing an idle stream.
const keepAlive = Stream.fromSchedule(Schedule.spaced("15 seconds")).pipe(
  Stream.map(() => encoder.encode(": keep-alive\n\n"))
)

const stats = (sampler: Sampler) =>
  Effect.map(
    Effect.all({
      pools: Effect.forEach(sampler.pools, (pool) =>
        Effect.all({
          name: Effect.succeed(pool.config.name),
          stats: pool.stats,
          connections: pool.metrics,
          leases: pool.leases
        })),
      cluster: sampler.cluster === undefined ? Effect.succeed(undefined) : sampler.cluster.stats,
      groups: sampler.groups.length === 0
        ? Effect.succeed(undefined)
        : Effect.forEach(sampler.groups, (group) => group.stats)
    }),
    (body) => json(body)
  )

const unauthorized = json({ error: "unauthorized: this dashboard needs its bearer token" }, 401).pipe(
  HttpServerResponse.setHeader("www-authenticate", "Bearer realm=\"dbpool dashboard\"")
)

/** The request's token: from the header, the page's cookie, or (for `/` only) `?token=`. */
const presented = (request: HttpServerRequest.HttpServerRequest, url: URL): string | undefined =>
  Auth.bearer(request.headers["authorization"]) ??
    request.cookies[Auth.cookieName] ??
    (url.pathname === "/" ? url.searchParams.get("token") ?? undefined : undefined)

export const make = (options: AppOptions) => {
  const { guard, sampler } = options
  const page = Page.html(options.title)
  return Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const url = new URL(request.url, "http://dashboard")
    if (request.method !== "GET" && request.method !== "HEAD") {
      return json({ error: `method ${request.method} not allowed` }, 405)
    }
    const token = presented(request, url)
    if (guard.enabled && !guard.accepts(token)) return unauthorized
    // Opened with ?token=: keep it in a cookie for the page's own requests, and out of the address bar.
    if (guard.enabled && url.searchParams.has("token")) {
      return yield* HttpServerResponse.redirect("/", { status: 303 }).pipe(
        HttpServerResponse.setCookie(Auth.cookieName, token!, { httpOnly: true, sameSite: "strict", path: "/" }),
        Effect.orElseSucceed(() =>
          json({ error: "this token cannot be kept in a cookie: send it as a bearer token" }, 400)
        )
      )
    }
    switch (url.pathname) {
      case "/":
        return HttpServerResponse.text(page, {
          contentType: "text/html; charset=utf-8",
          headers: { "cache-control": "no-store" }
        })
      case "/assets/uPlot.min.js":
      case "/assets/uPlot.min.css": {
        const assets = Assets.load()
        if (typeof assets === "string") return json({ error: assets }, 500)
        const script = url.pathname.endsWith(".js")
        return HttpServerResponse.text(script ? assets.script : assets.style, {
          contentType: script ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8",
          headers: { "cache-control": "max-age=3600" }
        })
      }
      case "/stats":
        return yield* stats(sampler)
      case "/events":
        return events(sampler)
      case "/metrics":
        if (options.metrics === undefined) return json({ error: "no metrics exporter given to this dashboard" }, 404)
        return yield* options.metrics.pipe(
          Effect.map((text) =>
            HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4; charset=utf-8" })
          ),
          Effect.catchAll((error) => Effect.succeed(json({ error: String(error) }, 500)))
        )
      case "/health/live":
        return json({ status: "live" })
      case "/health/ready": {
        const readiness = yield* Health.readiness(options.ready, options.readyTimeout)
        return json(readiness, readiness.status === "ready" ? 200 : 503)
      }
      default:
        return json({ error: `no route ${url.pathname}` }, 404)
    }
  })
}
