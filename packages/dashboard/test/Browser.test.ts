/**
 * The page in a real browser: Debian's chromium, driven by playwright-core,
 * while a workload runs. It must show the live numbers, draw the charts as
 * samples arrive, and show the alerts when a pool is exhausted; the
 * screenshot it leaves is the one docs/observability.md shows.
 */
import { PoolGroup, PoolSizing } from "@dbpool/core"
import { Alerts } from "@dbpool/observability"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Random } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { chromium } from "playwright-core"
import type { Page } from "playwright-core"
import { makeCluster, postgresUp, workload as clusterWorkload } from "./utils/cluster.js"
import { fakePool, serve } from "./utils/serve.js"

const executablePath = "/usr/bin/chromium"
const screenshot = path.resolve(import.meta.dirname, "../../../docs/images/dashboard.png")
const clusterScreenshot = path.resolve(import.meta.dirname, "../../../docs/images/dashboard-cluster.png")
const groupScreenshot = path.resolve(import.meta.dirname, "../../../docs/images/dashboard-group.png")
const ci = process.env.CI !== undefined && process.env.CI !== "" && process.env.CI !== "false"
const available = fs.existsSync(executablePath)

const launch = Effect.acquireRelease(
  Effect.promise(() =>
    chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), "dbpool-chromium-")), {
      executablePath,
      headless: true,
      viewport: { width: 1440, height: 1300 },
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync"
      ]
    })
  ),
  (context) => Effect.promise(() => context.close())
)

/** Waits (in the page, event-driven by the feed: no fixed sleep) until `predicate` holds. */
const until = (page: Page, predicate: string, arg?: unknown) =>
  Effect.promise(() => page.waitForFunction(predicate, arg, { timeout: 20_000, polling: "raf" }))

const text = (page: Page, selector: string) => Effect.promise(() => page.locator(selector).first().innerText())

/** The throughput chart's pixels: they change when uPlot redraws it with new samples. */
const chartPixels = (page: Page, pool: string) =>
  Effect.promise(() =>
    page.evaluate(`document.querySelector('[data-pool="${pool}"] [data-chart="throughput"] canvas').toDataURL()`)
  )

/** Fibers looping short uses of the pool (a few milliseconds each), until the test's scope closes. */
const workload = (
  pool: { readonly use: <B, E, R>(f: (l: unknown) => Effect.Effect<B, E, R>) => Effect.Effect<B, unknown, R> },
  fibers: number
) =>
  Effect.forkScoped(
    Effect.forEach(
      Array.from({ length: fibers }),
      () =>
        Effect.forever(
          Effect.flatMap(Random.nextIntBetween(2, 12), (ms) => Effect.ignore(pool.use(() => Effect.sleep(ms))))
        ),
      { concurrency: "unbounded", discard: true }
    )
  )

describe("the dashboard page in chromium", () => {
  it.live("shows live numbers, redraws its charts, and raises the alerts of an exhausted pool", (ctx) => {
    if (!available) {
      const message = `${executablePath} is missing (Debian package chromium; npm run test:env installs it)`
      if (ci) throw new Error(`${message}: CI must run the browser test`)
      console.warn(`${message}: skipping`)
      ctx.skip(message)
    }
    return Effect.gen(function*() {
      const orders = yield* fakePool({
        name: "orders",
        minConnections: 2,
        maxConnections: 6,
        acquireTimeout: "300 millis"
      })
      const analytics = yield* fakePool({ name: "analytics", minConnections: 1, maxConnections: 3 })
      // The in-process alerts of @dbpool/observability, shown with each pool's events.
      const alerts = yield* Alerts.make(orders, { interval: "250 millis" })
      const { url } = yield* serve({
        pools: [orders, analytics],
        alerts: [alerts],
        interval: "250 millis",
        title: "dbpool dashboard"
      })
      yield* workload(orders, 4)
      yield* workload(analytics, 2)

      const browser = yield* launch
      const page = yield* Effect.promise(() => browser.newPage())
      yield* Effect.promise(() => page.goto(url))
      // The live numbers: the pools' cards, filled from the feed.
      yield* until(page, "document.querySelector('#link.up') !== null")
      yield* until(page, "document.querySelectorAll('[data-pool]').length === 2")
      yield* until(page, "Number(document.querySelector('[data-pool=orders] [data-field=active]').textContent) > 0")
      expect(yield* text(page, "[data-pool=orders] [data-field=total]")).toMatch(/^\d+ \/ 6$/)
      expect(yield* text(page, "[data-pool=orders] [data-field=min]")).toBe("2")
      expect(yield* text(page, "[data-pool=analytics] [data-field=total]")).toMatch(/^\d+ \/ 3$/)
      // One row per open connection.
      yield* until(page, "document.querySelectorAll('[data-connections=orders] tr[data-connection]').length >= 2")

      // The chart follows the samples: its pixels change as they arrive.
      const before = yield* chartPixels(page, "orders")
      const updated = Number(yield* Effect.promise(() => page.getAttribute("body", "data-updated")))
      yield* until(page, `Number(document.body.getAttribute('data-updated')) > ${updated + 1000}`)
      expect(yield* chartPixels(page, "orders")).not.toBe(before)
      expect(yield* text(page, "[data-pool=orders] [data-alert]")).toBe("healthy")

      // Exhausted: every connection held, more callers than the pool can serve; some time out.
      const release = yield* Deferred.make<void>()
      const holders = yield* Effect.forkScoped(
        Effect.forEach(Array.from({ length: 12 }), () => Effect.ignore(orders.use(() => Deferred.await(release))), {
          concurrency: "unbounded",
          discard: true
        })
      )
      yield* until(
        page,
        "document.querySelector('[data-pool=orders] [data-alert=\"exhausted: callers waiting\"]') !== null"
      )
      yield* until(page, "document.querySelector('[data-pool=orders] [data-alert=\"acquire timeouts\"]') !== null")
      yield* until(page, "document.querySelector('[data-events=orders] [data-event=AcquireTimedOut]') !== null")
      yield* until(page, "document.querySelector('[data-events=orders] [data-event=AlertRaised]') !== null")
      expect(yield* text(page, "[data-events=orders] [data-event=AlertRaised]")).toContain(
        "ALERT DbPoolAcquireTimeouts"
      )
      expect(Number(yield* text(page, "[data-pool=orders] [data-field=timeouts]"))).toBeGreaterThan(0)
      expect(yield* text(page, "[data-pool=orders] [data-field=active]")).toBe("6")
      // Who holds them, live: each busy row names how long it has been held.
      yield* until(page, "document.querySelectorAll('[data-connections=orders] td').length > 0")

      fs.mkdirSync(path.dirname(screenshot), { recursive: true })
      yield* Effect.promise(() => page.screenshot({ path: screenshot, fullPage: true }))
      expect(fs.statSync(screenshot).size).toBeGreaterThan(20_000)

      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(holders)
    }).pipe(Effect.scoped)
  }, 120_000)

  it.live(
    "shows each pool's target and ceiling, and a pool group's budget with each member against its ceiling",
    (ctx) => {
      if (!available) {
        const message = `${executablePath} is missing (Debian package chromium; npm run test:env installs it)`
        if (ci) throw new Error(`${message}: CI must run the browser test`)
        console.warn(`${message}: skipping`)
        ctx.skip(message)
      }
      return Effect.gen(function*() {
        // Two pools under one budget of 6, found by the dashboard in their own group settings.
        const group = yield* PoolGroup.make({ name: "tenants", maxConnections: 6, rebalanceInterval: "250 millis" })
        const orders = yield* fakePool({
          name: "orders",
          minConnections: 1,
          maxConnections: 6,
          group,
          sizing: PoolSizing.adaptive({ interval: "250 millis" })
        })
        const reports = yield* fakePool({ name: "reports", minConnections: 1, maxConnections: 6, group })
        const { url } = yield* serve({ pools: [orders, reports], interval: "250 millis" })
        yield* workload(orders, 6)

        const browser = yield* launch
        const page = yield* Effect.promise(() => browser.newPage())
        yield* Effect.promise(() => page.goto(url))
        yield* until(page, "document.querySelectorAll('[data-group=tenants] tr[data-member]').length === 2")
        // Quiet reports: its ceiling is its cap, its target its minimum.
        expect(yield* text(page, "[data-pool=reports] [data-field=target]")).toBe("1")
        expect(yield* text(page, "[data-pool=reports] [data-field=ceiling]")).toBe("6")
        expect(yield* text(page, "[data-group=tenants] [data-field=budget]")).toMatch(/^\d of 6 connections$/)
        // The adaptive pool's target rises with its load.
        yield* until(page, "Number(document.querySelector('[data-pool=orders] [data-field=target]').textContent) > 1")

        // reports gets callers that hold: the members want more than the budget, both are held to their share.
        const release = yield* Deferred.make<void>()
        const holders = yield* Effect.forkScoped(
          Effect.forEach(Array.from({ length: 5 }), () => Effect.ignore(reports.use(() => Deferred.await(release))), {
            concurrency: "unbounded",
            discard: true
          })
        )
        const member = (pool: string, field: string) =>
          `document.querySelector('[data-group=tenants] tr[data-member=${pool}] [data-field=${field}]').textContent`
        yield* until(
          page,
          `Number(${member("orders", "ceiling")}) === 3 && Number(${member("reports", "ceiling")}) === 3`
        )
        yield* until(page, "document.querySelector('[data-pool=orders] [data-field=ceiling]').textContent === '3'")
        yield* until(page, `Number(${member("reports", "connections")}) === 3`)
        yield* until(page, "document.querySelector('[data-events=orders] [data-event=CeilingChanged]') !== null")
        expect(yield* text(page, "[data-events=orders] [data-event=CeilingChanged]")).toMatch(
          /group: ceiling [4-6] → 3$/
        )
        expect(yield* text(page, "[data-group=tenants] [data-field=budget]")).toBe("6 of 6 connections")
        // The connections chart, with its target and ceiling lines, is drawn on each card.
        expect(yield* Effect.promise(() => page.locator("[data-pool=orders] [data-chart=connections] canvas").count()))
          .toBe(1)
        yield* Effect.promise(() => page.locator("[data-group]").screenshot({ path: groupScreenshot }))
        expect(fs.statSync(groupScreenshot).size).toBeGreaterThan(5_000)

        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(holders)
      }).pipe(Effect.scoped)
    },
    120_000
  )

  it.live(
    "shows a cluster's nodes: role, up or down with why, lag, routed counts, and NodeDown on the node's pool",
    (ctx) => {
      if (!available) {
        const message = `${executablePath} is missing (Debian package chromium; npm run test:env installs it)`
        if (ci) throw new Error(`${message}: CI must run the browser test`)
        console.warn(`${message}: skipping`)
        ctx.skip(message)
      }
      return Effect.gen(function*() {
        if (!(yield* Effect.promise(postgresUp))) {
          const message = "PostgreSQL does not answer at 127.0.0.1:5432"
          if (ci) throw new Error(`${message}: CI must run this test`)
          console.warn(`${message}: skipping`)
          return ctx.skip(message)
        }
        const { cluster, context, names } = yield* makeCluster("page")
        // no pool given: the cluster's nodes' pools are the page's
        const { url } = yield* Effect.provide(serve({ pools: [], interval: "100 millis" }), context)
        yield* clusterWorkload(cluster)

        const browser = yield* launch
        const page = yield* Effect.promise(() => browser.newPage())
        yield* Effect.promise(() => page.goto(url))
        yield* until(page, "document.querySelectorAll('[data-cluster] tr[data-node]').length === 3")
        yield* until(page, "document.querySelectorAll('[data-pool]').length === 3")
        const cell = (node: string, field: string) =>
          text(page, `[data-cluster] tr[data-node="${node}"] [data-field=${field}]`)
        expect([
          yield* cell(names.primary, "role"),
          yield* cell(names.primary, "state"),
          yield* cell(names.primary, "writes")
        ])
          .toEqual(["primary", "up", "1"])
        expect([
          yield* cell(names.replica, "role"),
          yield* cell(names.replica, "reads"),
          yield* cell(names.replica, "lag")
        ])
          .toEqual(["replica", "4", "–"])
        expect(yield* cell(names.dead, "state")).toMatch(/^down: 1 failures in a row: /)
        expect([yield* cell(names.dead, "reads"), yield* cell(names.dead, "rerouted")]).toEqual(["1", "1"])
        expect(yield* text(page, "[data-cluster] [data-alert]")).toBe("2 of 3 nodes up")
        // each node's pool card names its role, and says when the node is down
        expect(yield* text(page, `[data-pool="${names.primary}"] [data-role]`)).toBe("primary")
        expect(yield* text(page, `[data-pool="${names.dead}"] [data-role]`)).toBe("replica · down")
        // the cluster's section, as docs/observability.md shows it
        yield* Effect.promise(() => page.locator("[data-cluster]").screenshot({ path: clusterScreenshot }))
        yield* until(page, `document.querySelector('[data-events="${names.dead}"] [data-event=NodeDown]') !== null`)
        expect(yield* text(page, `[data-events="${names.dead}"] [data-event=NodeDown]`)).toContain("cluster: node down")
        // more reads: the page follows
        yield* Effect.forEach([1, 2, 3], () => clusterWorkload(cluster))
        yield* until(
          page,
          `document.querySelector('[data-cluster] tr[data-node="${names.replica}"] [data-field=reads]').textContent === "16"`
        )
      }).pipe(Effect.scoped)
    },
    120_000
  )
})
