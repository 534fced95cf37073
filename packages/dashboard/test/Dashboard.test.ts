import { PoolGroup } from "@dbpool/core"
import * as Dashboard from "@dbpool/dashboard/Dashboard"
import { Alerts, Prometheus } from "@dbpool/observability"
import { describe, expect, it } from "@effect/vitest"
import type { Scope } from "effect"
import { Context, Deferred, Effect, Exit, Fiber, Layer, Redacted } from "effect"
import { fakePool, feed, get, getJson, serve } from "./utils/serve.js"

const quiet = { statsInterval: "1 day" } as const

/**
 * A test in a scope of its own; `done` releases its holders, completed whatever happens before the scope
 * closes, so that a failed expectation never leaves the pool's shutdown waiting for a lease.
 */
const withDone = <A, E>(f: (done: Deferred.Deferred<void>) => Effect.Effect<A, E, Scope.Scope>) =>
  Effect.flatMap(
    Deferred.make<void>(),
    (done) => Effect.scoped(Effect.ensuring(f(done), Deferred.succeed(done, undefined)))
  )

describe("Dashboard", () => {
  it.live("serves each pool's exact statistics, connections and holders by name at /stats", () =>
    withDone((done) =>
      Effect.gen(function*() {
        const primary = yield* fakePool({ ...quiet, name: "primary", minConnections: 2, maxConnections: 4 })
        const replica = yield* fakePool({ ...quiet, name: "replica", minConnections: 1, maxConnections: 2 })
        const { url } = yield* serve({ pools: [primary, replica] })
        const holder = yield* Effect.fork(primary.use(() => Deferred.await(done)))
        while ((yield* primary.stats).activeConnections === 0) yield* Effect.yieldNow()
        yield* replica.use(() => Effect.void)
        const { json, status } = yield* getJson(`${url}stats`)
        expect(status).toBe(200)
        expect(json.pools.map((p: any) => p.name)).toEqual(["primary", "replica"])
        const [p, r] = json.pools
        expect(p.stats).toEqual(yield* primary.stats)
        expect(r.stats).toEqual(yield* replica.stats)
        expect(p.connections.map((c: any) => c.state).sort()).toEqual(["active", "idle"])
        expect(p.leases).toHaveLength(1)
        expect(p.leases[0].connectionId).toBe(p.connections.find((c: any) => c.state === "active").id)
        expect(r.stats.successfulRequests).toBe(1)
        yield* Deferred.succeed(done, undefined)
        yield* Fiber.join(holder)
      })
    ))

  it.live("answers the health routes: live always, ready with 200 while every pool lends, 503 with a reason when one cannot", () =>
    withDone((done) =>
      Effect.gen(function*() {
        const pool = yield* fakePool({ ...quiet, name: "only", minConnections: 1, maxConnections: 1 })
        const { url } = yield* serve({ pools: [pool], readyTimeout: "200 millis" })
        expect(yield* getJson(`${url}health/live`)).toEqual({ status: 200, json: { status: "live" } })
        expect(yield* getJson(`${url}health/ready`)).toEqual({
          status: 200,
          json: { status: "ready", pools: [{ name: "only", ready: true }] }
        })
        // Its only connection held: no connection within the bound.
        const holder = yield* Effect.fork(pool.use(() => Deferred.await(done)))
        while ((yield* pool.stats).activeConnections === 0) yield* Effect.yieldNow()
        const reason = "pool \"only\": no connection within 200ms"
        expect(yield* getJson(`${url}health/ready`)).toEqual({
          status: 503,
          json: { status: "not ready", reason, pools: [{ name: "only", ready: false, reason }] }
        })
        yield* Deferred.succeed(done, undefined)
        yield* Fiber.join(holder)
        expect((yield* getJson(`${url}health/ready`)).status).toBe(200)
      })
    ))

  it.live("pushes a sample of every pool over /events, with the numbers moving as the pool works, and its notices", () =>
    withDone((done) =>
      Effect.gen(function*() {
        const pool = yield* fakePool({
          ...quiet,
          name: "feed",
          minConnections: 1,
          maxConnections: 1,
          acquireTimeout: "100 millis"
        })
        const { url } = yield* serve({ pools: [pool], interval: "50 millis" })
        const events = yield* feed(`${url}events`)
        const hello = yield* events.next((e) => e === "hello")
        expect(hello.data.pools).toEqual(["feed"])
        expect(hello.data.samples.length).toBeGreaterThanOrEqual(1)
        for (let i = 0; i < 25; i++) yield* pool.use(() => Effect.void)
        const moved = yield* events.next((e, d) => e === "sample" && d.sample.pools[0].stats.successfulRequests === 25)
        const [point] = moved.data.sample.pools
        expect(point.name).toBe("feed")
        expect(moved.data.details[0].connections).toHaveLength(1)
        // A waiter that times out: its notice, then a sample that counts it.
        const holder = yield* Effect.fork(pool.use(() => Deferred.await(done)))
        while ((yield* pool.stats).activeConnections === 0) yield* Effect.yieldNow()
        const timedOut = yield* Effect.exit(pool.use(() => Effect.void))
        expect(Exit.isFailure(timedOut)).toBe(true)
        const notice = yield* events.next((e) => e === "notice")
        expect(notice.data.pool).toBe("feed")
        expect(notice.data.event._tag).toBe("AcquireTimedOut")
        const counted = yield* events.next((e, d) => e === "sample" && d.sample.pools[0].stats.timeouts === 1)
        expect(counted.data.details[0].leases).toHaveLength(1)
        yield* Deferred.succeed(done, undefined)
        yield* Fiber.join(holder)
      })
    ))

  it.live("with a token, refuses every route without it, accepts the bearer header, and keeps ?token= in a cookie", () =>
    withDone(() =>
      Effect.gen(function*() {
        const pool = yield* fakePool({ ...quiet, name: "guarded", minConnections: 1, maxConnections: 1 })
        const { url } = yield* serve({ pools: [pool], token: Redacted.make("s3cret-token") })
        for (const route of ["", "stats", "events", "health/live", "health/ready", "assets/uPlot.min.js"]) {
          const refused = yield* get(`${url}${route}`)
          expect({ route, status: refused.status }).toEqual({ route, status: 401 })
          expect(refused.body).not.toContain("s3cret")
          expect(refused.headers.get("www-authenticate")).toBe("Bearer realm=\"dbpool dashboard\"")
        }
        expect((yield* get(`${url}stats`, { authorization: "Bearer s3cret-tokeN" })).status).toBe(401)
        expect((yield* get(`${url}stats`, { authorization: "Bearer s3cret" })).status).toBe(401)
        expect((yield* get(`${url}stats`, { authorization: "Bearer s3cret-token" })).status).toBe(200)
        expect((yield* get(`${url}stats?token=s3cret-token`)).status).toBe(401)
        const opened = yield* get(`${url}?token=s3cret-token`)
        expect(opened.status).toBe(303)
        expect(opened.headers.get("location")).toBe("/")
        const cookie = opened.headers.get("set-cookie")!
        expect(cookie).toMatch(/^dbpool_dashboard=s3cret-token; Path=\/; HttpOnly; SameSite=Strict$/)
        const page = yield* get(url, { cookie: cookie.split(";")[0]! })
        expect(page.status).toBe(200)
        expect(page.body).toContain("<title>dbpool dashboard</title>")
        const events = yield* feed(`${url}events`, { cookie: cookie.split(";")[0]! })
        expect((yield* events.next((e) => e === "hello")).data.pools).toEqual(["guarded"])
      })
    ))

  it.live("serves the page and uPlot from node_modules; /metrics only with a scrape function; 404 and 405 otherwise", () =>
    withDone(() =>
      Effect.gen(function*() {
        const pool = yield* fakePool({ ...quiet, name: "assets", minConnections: 0, maxConnections: 1 })
        const plain = yield* serve({ pools: [pool], title: "Orders <prod>" })
        const page = yield* get(plain.url)
        expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8")
        expect(page.body).toContain("<title>Orders &lt;prod&gt;</title>")
        const script = yield* get(`${plain.url}assets/uPlot.min.js`)
        expect(script.status).toBe(200)
        expect(script.body).toContain("uPlot")
        expect((yield* get(`${plain.url}assets/uPlot.min.css`)).body).toContain(".uplot")
        expect((yield* get(`${plain.url}metrics`)).status).toBe(404)
        expect((yield* get(`${plain.url}nowhere`)).status).toBe(404)
        const post = yield* Effect.promise(() => fetch(`${plain.url}stats`, { method: "POST" }))
        expect(post.status).toBe(405)
        const scraped = yield* serve({
          pools: [pool],
          metrics: Effect.succeed("# TYPE x counter\nx 1\n")
        })
        const metrics = yield* get(`${scraped.url}metrics`)
        expect(metrics.status).toBe(200)
        expect(metrics.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8")
        expect(metrics.body).toBe("# TYPE x counter\nx 1\n")
      })
    ))

  it.live("shows a pool group found in its pools' settings: the budget, each member against its floor and ceiling", () =>
    withDone((done) =>
      Effect.gen(function*() {
        // A group of 4 with a 100 ms tick; a and b (floor 1) join it by their own `group` setting only.
        const group = yield* PoolGroup.make({ name: "tenants", maxConnections: 4, rebalanceInterval: "100 millis" })
        const config = (name: string) => ({ ...quiet, name, minConnections: 1, maxConnections: 4, group })
        const a = yield* fakePool(config("a"))
        const b = yield* fakePool(config("b"))
        const { url } = yield* serve({ pools: [a, b], interval: "50 millis" })
        const events = yield* feed(`${url}events`)
        yield* events.next((e) => e === "hello")
        // a holds 3 connections, b 1 and a caller of b waits: demand 5 over a budget of 4, a is held to 2.
        const holders = yield* Effect.forEach([1, 2, 3, 4], (i) =>
          Effect.fork((i < 4 ? a : b).use(() => Deferred.await(done))))
        while ((yield* a.stats).activeConnections < 3 || (yield* b.stats).activeConnections < 1) {
          yield* Effect.sleep("5 millis")
        }
        const waiter = yield* Effect.fork(b.use(() =>
          Effect.void
        ))
        const ceiling = yield* events.next((e, d) => e === "notice" && d.event._tag === "CeilingChanged")
        expect(ceiling.data.pool).toBe("a")
        expect(ceiling.data.event).toMatchObject({ pool: "a", previous: 4, ceiling: 2 })
        const sample = yield* events.next((e, d) =>
          e === "sample" && d.sample.groups?.[0]?.members[0]?.ceiling === 2 &&
          d.sample.groups[0].members[1].waiting === 1
        )
        expect(sample.data.sample.groups.map((g: any) => [g.name, g.maxConnections, g.connections])).toEqual([
          ["tenants", 4, 4]
        ])
        const { json } = yield* getJson(`${url}stats`)
        expect(json.groups).toEqual([yield* group.stats])
        expect(json.groups[0].members.map((m: any) => [m.pool, m.floor, m.ceiling, m.connections, m.active, m.waiting]))
          .toEqual([["a", 1, 2, 3, 3, 0], ["b", 1, 4, 1, 1, 1]])
        // The pools' own statistics carry the ceiling too, and the target (their minimum: fixed sizing).
        expect(json.pools.map((p: any) => [p.name, p.stats.targetConnections, p.stats.ceilingConnections])).toEqual([
          ["a", 1, 2],
          ["b", 1, 4]
        ])
        // The users finish: a's connection above its ceiling closes as it comes back, b's caller is served, and
        // with the group quiet again a's ceiling goes back to its cap at the next tick.
        yield* Deferred.succeed(done, undefined)
        yield* Fiber.joinAll(holders)
        yield* Fiber.join(waiter)
        expect((yield* a.stats).connectionsClosed.idle).toBe(1)
        const back = yield* events.next((e, d) => e === "notice" && d.event._tag === "CeilingChanged")
        expect(back.data.event).toMatchObject({ pool: "a", previous: 2, ceiling: 4 })
        expect((yield* a.stats).ceilingConnections).toBe(4)
      })
    ))

  it.live("refuses no pool, and two pools of one name, with a typed error naming the field", () =>
    withDone(() =>
      Effect.gen(function*() {
        const a = yield* fakePool({ ...quiet, name: "same", minConnections: 0 })
        const b = yield* fakePool({ ...quiet, name: "same", minConnections: 0 })
        const empty = yield* Effect.flip(serve({ pools: [] }))
        expect(empty).toBeInstanceOf(Dashboard.DashboardConfigError)
        expect(empty.message).toBe("Invalid dashboard configuration: pools is empty: give at least one pool")
        const twice = yield* Effect.flip(serve({ pools: [a, b] }))
        expect(twice.message).toBe(
          "Invalid dashboard configuration: pools has two pools named \"same\": give each its own name (PoolConfig name)"
        )
      })
    ))

  it.live("mounts the Prometheus scrape of @dbpool/observability at /metrics, and its alerts in the feed", () =>
    withDone((done) =>
      Effect.gen(function*() {
        const pool = yield* fakePool({
          name: "observed",
          minConnections: 1,
          maxConnections: 1,
          acquireTimeout: "100 millis"
        })
        const alerts = yield* Alerts.make(pool, { interval: "50 millis" })
        const context = yield* Layer.build(
          Dashboard.layer({ pools: [pool], alerts: [alerts], metrics: Prometheus.scrape, port: 0 }).pipe(
            Layer.provide(Prometheus.layer())
          )
        )
        const { url } = Context.get(context, Dashboard.Dashboard)
        yield* pool.use(() => Effect.void)
        const metrics = yield* get(`${url}metrics`)
        expect(metrics.status).toBe(200)
        expect(metrics.headers.get("content-type")).toBe(Prometheus.contentType)
        expect(metrics.body).toMatch(
          /^db_client_connection_max\{[^}]*db_client_connection_pool_name="observed"[^}]*\} 1$/m
        )
        const events = yield* feed(`${url}events`)
        yield* events.next((e) => e === "hello")
        const holder = yield* Effect.fork(pool.use(() => Deferred.await(done)))
        while ((yield* pool.stats).activeConnections === 0) yield* Effect.yieldNow()
        yield* Effect.exit(pool.use(() => Effect.void))
        const raised = yield* events.next((e, d) => e === "notice" && d.event._tag === "AlertRaised")
        expect(raised.data.pool).toBe("observed")
        expect(raised.data.event.alert).toBe("DbPoolAcquireTimeouts")
        yield* Deferred.succeed(done, undefined)
        yield* Fiber.join(holder)
      })
    ))
})
