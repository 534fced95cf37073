import { ResourcePool } from "@dbpool/core"
import { PoolConfig } from "@dbpool/core"
import type { PoolError } from "@dbpool/core"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Exit, Ref } from "effect"
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
