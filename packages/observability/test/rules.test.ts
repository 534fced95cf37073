import { AlertRule } from "@dbpool/observability"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"

const rulesFile = fileURLToPath(new URL("../prometheus/dbpool.rules.yml", import.meta.url))
const rulesTests = fileURLToPath(new URL("prometheus/dbpool.rules.test.yml", import.meta.url))

/** promtool comes with Debian's prometheus package (scripts/test-env.sh installs it). */
const promtool = (...args: Array<string>) => {
  const result = spawnSync("promtool", args, { encoding: "utf8" })
  if (result.error !== undefined) throw new Error(`promtool: ${result.error.message} (apt-get install prometheus)`)
  return { status: result.status, output: `${result.stdout}${result.stderr}` }
}

describe("the Prometheus rules file", () => {
  it("is the rendering of AlertRule.defaults (npx tsx packages/observability/test/writeRules.ts rewrites it)", () => {
    expect(fs.readFileSync(rulesFile, "utf8")).toBe(AlertRule.toPrometheus(AlertRule.defaults))
  })

  it("passes promtool check rules", () => {
    const { output, status } = promtool("check", "rules", rulesFile)
    expect(output).toContain("SUCCESS: 7 rules found")
    expect(status).toBe(0)
  })

  it("raises and resolves each alert as its unit tests say (promtool test rules)", () => {
    const { output, status } = promtool("test", "rules", rulesTests)
    expect(output).toContain("SUCCESS")
    expect(status).toBe(0)
  })

  it("fails promtool's unit tests when a threshold changes (the tests can fail)", () => {
    const dir = fs.mkdtempSync(`${fs.realpathSync("/tmp")}/dbpool-rules-`)
    try {
      const stricter = AlertRule.defaults.map((rule) =>
        rule.name === "DbPoolSaturated" ? { ...rule, for: Duration.minutes(5) } : rule
      )
      fs.mkdirSync(`${dir}/prometheus`)
      fs.mkdirSync(`${dir}/test/prometheus`, { recursive: true })
      fs.writeFileSync(`${dir}/prometheus/dbpool.rules.yml`, AlertRule.toPrometheus(stricter))
      fs.copyFileSync(rulesTests, `${dir}/test/prometheus/dbpool.rules.test.yml`)
      const { output, status } = promtool("test", "rules", `${dir}/test/prometheus/dbpool.rules.test.yml`)
      expect(output).toContain("alertname: DbPoolSaturated, time: 4m")
      expect(status).toBe(1)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("renders each condition as PromQL and durations in Prometheus' units", () => {
    const { Condition, expression } = AlertRule
    expect(expression(Condition.Saturated({ waiting: 2 }))).toBe("db_client_connection_pending_requests > 2")
    expect(expression(Condition.AcquireTimeouts({ window: "90 seconds" }))).toBe(
      "increase(db_client_connection_timeouts_total[90s]) > 0"
    )
    expect(expression(Condition.Leaks({ window: "1 hour" }))).toBe("increase(dbpool_connection_leaks_total[1h]) > 0")
    expect(expression(Condition.SlowAcquire({ quantile: 0.5, seconds: 0.25, window: "1500 millis" }))).toBe(
      "histogram_quantile(0.5, sum by (le, job, instance, db_client_connection_pool_name) " +
        "(rate(db_client_connection_wait_time_bucket[1500ms]))) > 0.25"
    )
    expect(AlertRule.toPrometheus([], { group: "orders" })).toContain(`- name: "orders"`)
  })

  it.effect("validate accepts the defaults and names the rule and field of a bad one", () =>
    Effect.gen(function*() {
      expect(yield* AlertRule.validate(AlertRule.defaults)).toBe(AlertRule.defaults)
      const [saturated, timeouts, , , , slow] = AlertRule.defaults
      const failure = (rules: ReadonlyArray<AlertRule.AlertRule>) =>
        Effect.map(Effect.flip(AlertRule.validate(rules)), (e) => ({ tag: e._tag, message: e.message }))
      expect(yield* failure([{ ...saturated!, for: Duration.infinity }])).toEqual({
        tag: "AlertRuleError",
        message: "alert rule DbPoolSaturated: for must be finite"
      })
      expect((yield* failure([{ ...saturated!, for: "5 minuts" as Duration.DurationInput }])).message).toBe(
        "alert rule DbPoolSaturated: for is not a duration: 5 minuts"
      )
      expect(
        (yield* failure([{ ...timeouts!, condition: AlertRule.Condition.AcquireTimeouts({ window: 0 }) }])).message
      )
        .toBe("alert rule DbPoolAcquireTimeouts: condition.window must be more than 0")
      expect(
        (yield* failure([{
          ...slow!,
          condition: AlertRule.Condition.SlowAcquire({ quantile: 99, seconds: 1, window: "5 minutes" })
        }]))
          .message
      ).toBe("alert rule DbPoolSlowAcquire: condition.quantile must be within 0 and 1")
      expect((yield* failure([{ ...saturated!, condition: AlertRule.Condition.Saturated({ waiting: 0.5 }) }])).message)
        .toBe("alert rule DbPoolSaturated: condition.waiting must be a whole number, 0 or more")
      expect((yield* failure([{ ...saturated!, name: "pool saturated" }])).message).toBe(
        "alert rule pool saturated: name must be a Prometheus alert name (letters, digits, _)"
      )
      expect((yield* failure([saturated!, saturated!])).message).toBe("alert rule DbPoolSaturated: name is used twice")
    }))
})
