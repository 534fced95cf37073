import { ResourcePool } from "@dbpool/core"
import { PoolConfig } from "@dbpool/core"
import { PoolError } from "@dbpool/core"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Exit, Ref, Schedule } from "effect"
import { readFileSync } from "node:fs"
import { configKey, fields } from "../src/internal/config.js"
import * as Fake from "./utils/FakeResource.js"

/** Makes a pool with the given raw input and returns its PoolConfigError, checking nothing was opened. */
const rejected = (input: Record<string, unknown>) =>
  Effect.gen(function*() {
    const fake = yield* Fake.make
    const exit = yield* ResourcePool.make({
      acquire: fake.acquire,
      release: fake.release,
      config: input as PoolConfig.Input
    }).pipe(Effect.scoped, Effect.exit)
    expect(yield* Ref.get(fake.attempts)).toBe(0)
    expect(yield* Ref.get(fake.alive)).toEqual(new Set())
    if (Exit.isSuccess(exit)) return expect.fail(`expected ${JSON.stringify(input)} to be rejected`)
    const error = yield* Effect.flip(exit)
    expect(error._tag).toBe("PoolConfigError")
    return error as PoolError.PoolConfigError
  })

const expectRejected = (input: Record<string, unknown>, field: string) =>
  Effect.gen(function*() {
    const error = yield* rejected(input)
    expect(error.field).toBe(field)
    expect(error.message).toContain(field)
    expect(error.message).toMatch(/^Invalid pool configuration: /)
    return error
  })

describe("PoolConfig", () => {
  describe("make rejects an invalid input before any resource is opened", () => {
    it.effect.each([0, -1, Number.NaN, 1.5])("maxConnections %s", (max) =>
      Effect.gen(function*() {
        const error = yield* expectRejected({ minConnections: 0, maxConnections: max }, "maxConnections")
        expect(error.value).toBe(max)
      }))

    it.effect("minConnections above maxConnections, naming minConnections", () =>
      Effect.gen(function*() {
        const error = yield* expectRejected({ minConnections: 6, maxConnections: 5 }, "minConnections")
        expect(error.value).toBe(6)
        expect(error.message).toContain("maxConnections (5)")
      }))

    it.effect.each([0, -1, "0 millis", Duration.zero])(
      "acquireTimeout %s (must be positive)",
      (timeout) => expectRejected({ acquireTimeout: timeout }, "acquireTimeout")
    )

    it.effect.each(
      [
        ["maxIdleTime", -5],
        ["maxLifetime", "-5 seconds"],
        ["connectTimeout", -1],
        ["shutdownTimeout", "-1 millis"],
        ["statsInterval", " -2 minutes"],
        ["retryInterval", -0.5],
        ["validateAfterIdle", "-5 seconds"]
      ] as const
    )("negative duration %s = %s", ([field, value]) =>
      Effect.gen(function*() {
        const error = yield* expectRejected({ [field]: value }, field)
        expect(error.value).toBe(value)
        expect(error.reason).toBe("must not be negative")
      }))

    it.effect.each(
      [
        ["acquireTimeout", "soon"],
        ["maxLifetime", "5 fortnights"],
        ["healthCheckInterval", "ten seconds"],
        ["connectTimeout", ""]
      ] as const
    )("not a duration %s = %j", ([field, value]) =>
      Effect.gen(function*() {
        const error = yield* expectRejected({ [field]: value }, field)
        expect(error.value).toBe(value)
        expect(error.reason).toMatch(/^is not a duration/)
      }))

    it.effect("an unknown field (a typo) is named", () =>
      Effect.gen(function*() {
        const error = yield* expectRejected({ maxConnection: 10 }, "maxConnection")
        expect(error.value).toBe(10)
        expect(error.reason).toBe("is not a known setting")
      }))

    it.effect("NaN as a duration", () => expectRejected({ maxIdleTime: Number.NaN }, "maxIdleTime"))

    it.effect("lifetimeJitter not below maxLifetime", () =>
      expectRejected({ maxLifetime: "1 minute", lifetimeJitter: "1 minute" }, "lifetimeJitter"))

    it.effect("an infinite lifetimeJitter, even with an infinite maxLifetime", () =>
      expectRejected({ maxLifetime: Duration.infinity, lifetimeJitter: Duration.infinity }, "lifetimeJitter"))
  })

  it.effect("make fills the defaults of a valid input", () =>
    Effect.gen(function*() {
      const config = yield* PoolConfig.make({ maxConnections: 3, acquireTimeout: 250 })
      expect(config.name).toBe("default")
      expect(config.minConnections).toBe(3)
      expect(config.maxConnections).toBe(3)
      expect(Duration.toMillis(config.acquireTimeout)).toBe(250)
      expect(Duration.toMillis(config.maxLifetime)).toBe(30 * 60 * 1000)
      expect(Duration.toMillis(config.lifetimeJitter)).toBe(45_000)
      expect(Duration.toMillis(config.shutdownTimeout)).toBe(30_000)
      expect(config.maxWaiting).toBe(Number.POSITIVE_INFINITY)
    }))

  it.effect("accepts durations with surrounding spaces, and \"Infinity\" for no limit", () =>
    Effect.gen(function*() {
      const config = yield* PoolConfig.make({
        // As they arrive from environment variables or untyped callers.
        acquireTimeout: " 5 seconds " as Duration.DurationInput,
        maxLifetime: "Infinity" as Duration.DurationInput
      })
      expect(Duration.toMillis(config.acquireTimeout)).toBe(5000)
      expect(Duration.isFinite(config.maxLifetime)).toBe(false)
      expect(Duration.toMillis(config.lifetimeJitter)).toBe(0)
    }))

  describe("from Effect Config", () => {
    const provider = (entries: ReadonlyArray<readonly [string, string]>) => ConfigProvider.fromMap(new Map(entries))

    it.effect("config(prefix) reads the CONSTANT_CASE keys under the prefix; absent keys stay absent", () =>
      Effect.gen(function*() {
        const input = yield* PoolConfig.config("DB_POOL").pipe(
          Effect.withConfigProvider(provider([
            ["DB_POOL.NAME", "orders"],
            ["DB_POOL.MIN_CONNECTIONS", "1"],
            ["DB_POOL.MAX_CONNECTIONS", "20"],
            ["DB_POOL.ACQUIRE_TIMEOUT", "5 seconds"],
            ["DB_POOL.SHUTDOWN_TIMEOUT", "2500"],
            ["OTHER.MAX_CONNECTIONS", "99"]
          ]))
        )
        expect(input).toEqual({
          name: "orders",
          minConnections: 1,
          maxConnections: 20,
          acquireTimeout: "5 seconds",
          shutdownTimeout: 2500
        })
      }))

    it.effect("layerConfig(prefix) provides the checked configuration", () =>
      Effect.gen(function*() {
        const config = yield* PoolConfig.PoolConfig.pipe(
          Effect.provide(PoolConfig.layerConfig("POOL")),
          Effect.withConfigProvider(provider([
            ["POOL.MAX_CONNECTIONS", "7"],
            ["POOL.MIN_CONNECTIONS", "2"],
            ["POOL.ACQUIRE_TIMEOUT", "3 seconds"],
            ["POOL.MAX_IDLE_TIME", "90000"]
          ]))
        )
        expect(config.maxConnections).toBe(7)
        expect(config.minConnections).toBe(2)
        expect(Duration.toMillis(config.acquireTimeout)).toBe(3000)
        expect(Duration.toMillis(config.maxIdleTime)).toBe(90_000)
        expect(config.name).toBe("default")
      }))

    it.effect.each(
      [
        ["MAX_CONNECTIONS", "0", "maxConnections"],
        ["MIN_CONNECTIONS", "-1", "minConnections"],
        ["ACQUIRE_TIMEOUT", "-5 seconds", "acquireTimeout"],
        ["MAX_LIFETIME", "forever-ish", "maxLifetime"]
      ] as const
    )("layerConfig fails with PoolConfigError for %s=%j", ([key, value, field]) =>
      Effect.gen(function*() {
        const error = yield* PoolConfig.PoolConfig.pipe(
          Effect.provide(PoolConfig.layerConfig("POOL")),
          Effect.withConfigProvider(provider([[`POOL.${key}`, value]])),
          Effect.flip
        )
        expect(error._tag).toBe("PoolConfigError")
        expect((error as PoolError.PoolConfigError).field).toBe(field)
        expect(error.message).toContain(field)
      }))

    it.effect("layerConfig() with no prefix reads the top-level keys", () =>
      Effect.gen(function*() {
        const config = yield* PoolConfig.PoolConfig.pipe(
          Effect.provide(PoolConfig.layerConfig()),
          Effect.withConfigProvider(provider([["MAX_CONNECTIONS", "4"], ["NAME", "top"]]))
        )
        expect(config.maxConnections).toBe(4)
        expect(config.minConnections).toBe(4)
        expect(config.name).toBe("top")
      }))

    it.effect("layer(input) checks a literal input the same way", () =>
      Effect.gen(function*() {
        const error = yield* PoolConfig.PoolConfig.pipe(
          Effect.provide(PoolConfig.layer({ maxConnections: 0 })),
          Effect.flip
        )
        expect(error.field).toBe("maxConnections")
        const ok = yield* PoolConfig.PoolConfig.pipe(Effect.provide(PoolConfig.layer({ maxConnections: 2 })))
        expect(ok.maxConnections).toBe(2)
      }))

    it.effect("a value of the wrong type fails with a ConfigError naming the key", () =>
      Effect.gen(function*() {
        const error = yield* PoolConfig.PoolConfig.pipe(
          Effect.provide(PoolConfig.layerConfig("POOL")),
          Effect.withConfigProvider(provider([["POOL.MAX_CONNECTIONS", "ten"]])),
          Effect.flip
        )
        expect(error._tag).toBe("ConfigError")
        expect(String(error)).toContain("MAX_CONNECTIONS")
      }))
  })
})

/** The settings in the order of the table, which is the order they are checked in. */
const names = Object.keys(fields) as ReadonlyArray<keyof typeof fields>

/** The rows of the first markdown table after `heading` in docs/core.md, as cells without backticks. */
const docsTable = (heading: string): ReadonlyArray<ReadonlyArray<string>> => {
  const doc = readFileSync(new URL("../../../docs/core.md", import.meta.url), "utf8")
  const lines = doc.slice(doc.indexOf(heading)).split("\n")
  const first = lines.findIndex((line) => line.startsWith("| "))
  const end = lines.findIndex((line, i) => i > first && !line.startsWith("|"))
  return lines.slice(first + 2, end).map((line) =>
    line.slice(1, -1).split(" | ").map((cell) => cell.trim().replaceAll("`", ""))
  )
}

describe("PoolConfig: the table of settings", () => {
  it.effect("every setting resolves with no input: its default, or off (undefined) for the five optional ones", () =>
    Effect.gen(function*() {
      const config = yield* PoolConfig.make({})
      const millis = (d: unknown) => Duration.isDuration(d) ? Duration.toMillis(d) : d
      expect(Object.fromEntries(Object.entries(config).map(([k, v]) => [k, millis(v)]))).toEqual({
        name: "default",
        maxConnections: 50,
        minConnections: 5,
        maxIdleTime: 300_000,
        maxLifetime: 1_800_000,
        lifetimeJitter: 45_000,
        healthCheckInterval: 30_000,
        healthCheckSchedule: undefined,
        validationTimeout: 5000,
        validateAfterIdle: 500,
        connectTimeout: 10_000,
        acquireTimeout: 30_000,
        retryInterval: 5000,
        maxRetries: 3,
        retrySchedule: undefined,
        maxWaiting: Number.POSITIVE_INFINITY,
        maxConnecting: 4,
        statsInterval: 1000,
        shutdownTimeout: 30_000,
        leakDetectionThreshold: undefined,
        circuitBreakerThreshold: 5,
        circuitBreakerProbeInterval: 1000,
        circuitBreakerSchedule: undefined,
        sizing: undefined
      })
      expect(Object.keys(config)).toEqual(names)
      for (const name of names) {
        const setting = fields[name]
        // A setting that is not optional must have a default, fixed or computed from earlier fields.
        expect({ name, has: setting.optional || setting.default !== undefined || setting.defaultFrom !== undefined })
          .toEqual({ name, has: true })
        expect({ name, off: config[name] === undefined }).toEqual({ name, off: setting.optional })
      }
    }))

  it("PoolConfig.defaults holds exactly the fixed defaults of the table, frozen", () => {
    const fixed = Object.fromEntries(
      names.filter((name) => fields[name].default !== undefined).map((name) => [name, fields[name].default])
    )
    expect(PoolConfig.defaults).toEqual(fixed)
    expect(Object.keys(fixed)).toEqual(
      names.filter((name) =>
        ![
          "lifetimeJitter",
          "healthCheckSchedule",
          "retrySchedule",
          "leakDetectionThreshold",
          "circuitBreakerSchedule",
          "group",
          "sizing"
        ]
          .includes(name)
      )
    )
    expect(PoolConfig.defaults.maxConnections).toBe(50)
    expect(PoolConfig.defaults.acquireTimeout).toBe("30 seconds")
    expect(Object.isFrozen(PoolConfig.defaults)).toBe(true)
  })

  it.effect.each(names)(
    "%s rejects a value of the wrong type with a PoolConfigError naming it",
    (name) =>
      Effect.gen(function*() {
        const wrong = { not: "a setting value" }
        const error = yield* expectRejected({ [name]: wrong }, name)
        expect(error).toBeInstanceOf(PoolError.PoolConfigError)
        expect(error.value).toBe(wrong)
        expect(error.message).toMatch(new RegExp(`^Invalid pool configuration: ${name} (must|is not) `))
      })
  )

  it.effect.each(
    [
      [{ maxConnections: 5, acquireTimout: "1 second" }, "acquireTimout"],
      [{ constructor: 1 }, "constructor"],
      [{ toString: "x" }, "toString"],
      [{ minconnections: 1 }, "minconnections"]
    ] as const
  )("an unknown field %j is named, even one every object inherits", ([input, field]) =>
    Effect.gen(function*() {
      const error = yield* expectRejected(input, field)
      expect(error).toBeInstanceOf(PoolError.PoolConfigError)
      expect(error.reason).toBe("is not a known setting")
    }))

  it.effect.each(
    [
      ["maxRetries", "must be at least 0", { maxRetries: -1 }],
      ["maxConnecting", "must be at least 1", { maxConnecting: 0 }],
      ["minConnections", "must be at least 0", { minConnections: -2 }],
      ["maxConnections", "must be a whole number", { maxConnections: Number.POSITIVE_INFINITY }],
      ["maxWaiting", "must be a whole number", { maxWaiting: 1.5 }],
      ["maxRetries", "must be a number", { maxRetries: "3" }],
      ["minConnections", "must not exceed maxConnections (5)", { minConnections: 6, maxConnections: 5 }],
      ["name", "must be a non-empty string", { name: "" }],
      ["validationTimeout", "must be greater than zero", { validationTimeout: "0 seconds" }],
      ["leakDetectionThreshold", "must be greater than zero", { leakDetectionThreshold: 0 }],
      ["connectTimeout", "must be a duration, not NaN", { connectTimeout: Number.NaN }],
      ["shutdownTimeout", "must not be negative", { shutdownTimeout: -1n }],
      ["statsInterval", "must be a non-negative [seconds, nanos] pair", { statsInterval: [-1, 0] }],
      ["lifetimeJitter", "must be finite", { lifetimeJitter: "infinity" }],
      ["lifetimeJitter", "must be less than maxLifetime (1m)", { maxLifetime: "1 minute", lifetimeJitter: 60_000 }],
      ["healthCheckSchedule", "must be a Schedule", { healthCheckSchedule: "1 second" }],
      ["retrySchedule", "must be a Schedule", { retrySchedule: 3 }]
    ] as const
  )("a PoolConfigError naming %s: %s", ([field, reason, input]) =>
    Effect.gen(function*() {
      const error = yield* expectRejected(input, field)
      expect(error.reason).toBe(reason)
    }))

  it.effect("the first invalid field in the order of the table is named", () =>
    Effect.gen(function*() {
      const error = yield* expectRejected({ acquireTimeout: -1, maxConnections: 0, name: 7 }, "name")
      expect(error.message).toBe("Invalid pool configuration: name must be a non-empty string (got 7)")
      const next = yield* expectRejected({ acquireTimeout: -1, minConnections: 9, maxConnections: 2 }, "minConnections")
      expect(next.message).toBe("Invalid pool configuration: minConnections must not exceed maxConnections (2) (got 9)")
    }))

  it.effect("the lower bounds themselves are accepted", () =>
    Effect.gen(function*() {
      const config = yield* PoolConfig.make({
        minConnections: 0,
        maxConnections: 1,
        maxRetries: 0,
        maxWaiting: 0,
        validateAfterIdle: 0,
        retryInterval: "0 millis",
        shutdownTimeout: Duration.zero,
        lifetimeJitter: 0,
        circuitBreakerThreshold: 1,
        retrySchedule: Schedule.recurs(1)
      })
      expect([config.minConnections, config.maxConnections, config.maxRetries, config.maxWaiting]).toEqual([0, 1, 0, 0])
      expect([config.validateAfterIdle, config.retryInterval, config.shutdownTimeout, config.lifetimeJitter].map(
        Duration.toMillis
      )).toEqual([0, 0, 0, 0])
      expect(Schedule.isSchedule(config.retrySchedule)).toBe(true)
    }))

  it.effect("every setting but the schedules is read from Effect Config under its CONSTANT_CASE key", () =>
    Effect.gen(function*() {
      const defaults = yield* PoolConfig.make({})
      const text = (value: unknown) => Duration.isDuration(value) ? String(Duration.toMillis(value)) : String(value)
      const readable = names.filter((name) => fields[name].read !== undefined && defaults[name] !== undefined)
      const entries = readable.map((name) => [`POOL.${configKey(name)}`, text(defaults[name])] as const)
      const input = yield* PoolConfig.config("POOL").pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map(entries)))
      )
      expect(Object.keys(input)).toEqual(readable)
      expect(yield* PoolConfig.make(input)).toEqual(defaults)
      expect(names.filter((name) => fields[name].read === undefined)).toEqual([
        "healthCheckSchedule",
        "retrySchedule",
        "circuitBreakerSchedule",
        "group",
        "sizing"
      ])
    }))

  it("docs/core.md lists every setting, in the order of the table, with its default and its Config key", () => {
    const rows = docsTable("## Configuration")
    expect(rows.map((row) => row[0])).toEqual(names)
    for (const [name, fixed] of rows.map((row) => [row[0] as keyof typeof fields, row[1]!] as const)) {
      const setting = fields[name]
      const expected = setting.default !== undefined ? String(setting.default) : setting.optional ? /^(none|off)$/ : ""
      expect({ name, fixed }).toEqual({ name, fixed: expect.stringMatching(expected) })
    }
    const keys = docsTable("### From the environment").map((row) => [row[0], row[1]])
    expect(keys).toEqual(names.filter((name) => fields[name].read !== undefined).map((name) => [name, configKey(name)]))
  })
})
