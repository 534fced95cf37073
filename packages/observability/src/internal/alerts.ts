import { PoolEvent } from "@dbpool/core/PoolEvent"
import type * as PoolEventNs from "@dbpool/core/PoolEvent"
import type { ResourcePool } from "@dbpool/core/ResourcePool"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import type * as MetricState from "effect/MetricState"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { defaults, validate } from "../AlertRule.js"
import type { AlertRule, AlertRuleError } from "../AlertRule.js"
import type * as Alerts from "../Alerts.js"
import type { RuleState, Sample } from "./evaluate.js"
import { longestWindow, measure, prune, step } from "./evaluate.js"
import { formatValue } from "./rules.js"

export const tag = Context.GenericTag<Alerts.Alerts>("@dbpool/observability/Alerts")

const poolAttribute = "db.client.connection.pool.name"
const leaksName = "dbpool.connection.leaks"
const waitName = "db.client.connection.wait_time"
const nodeUpName = "dbpool.cluster.node.up"
const watched = new Set([leaksName, waitName, nodeUpName])
const noWait: Sample["wait"] = { buckets: [], count: 0 }

/**
 * The pool's leak counter and wait histogram, read from Effect's metric registry (where the pool records
 * them), and its cluster node's up gauge (where `@dbpool/cluster` records it).
 */
const readMetrics = (pool: string): Pick<Sample, "leaks" | "wait" | "nodeUp"> => {
  let leaks = 0
  let wait = noWait
  let nodeUp: number | undefined
  for (const { metricKey, metricState } of Metric.unsafeSnapshot()) {
    if (!watched.has(metricKey.name)) continue
    if (!metricKey.tags.some((t) => t.key === poolAttribute && t.value === pool)) continue
    if (metricKey.name === leaksName) leaks = Number((metricState as MetricState.MetricState.Counter<number>).count)
    else if (metricKey.name === nodeUpName) {
      nodeUp = Number((metricState as MetricState.MetricState.Gauge<number>).value)
    } else {
      const h = metricState as MetricState.MetricState.Histogram
      wait = { buckets: h.buckets, count: h.count }
    }
  }
  return { leaks, wait, nodeUp }
}

const summary = (rule: AlertRule, pool: string, value: number): string =>
  rule.summary.replace("{pool}", pool).replace("{value}", formatValue(rule.condition, value))

type AlertEvent = PoolEventNs.PoolEvent & { readonly _tag: "AlertRaised" | "AlertResolved" }

/** The rules' states and the samples they read; `evaluate` returns the events of one evaluation. */
const makeEvaluator = (name: string, rules: ReadonlyArray<AlertRule>) => {
  const states: Array<RuleState> = rules.map(() => ({ phase: "inactive" }))
  const history: Array<Sample> = []
  const window = longestWindow(rules)
  const evaluate = (stats: Sample["stats"], now: number) => {
    history.push({ time: now, stats, ...readMetrics(name) })
    prune(history, now, window)
    const events: Array<AlertEvent> = []
    rules.forEach((rule, i) => {
      const measured = measure(rule.condition, history)
      const [next, transition] = step(rule, states[i]!, measured, now)
      states[i] = next
      if (transition?._tag === "raised") {
        events.push(PoolEvent.AlertRaised({
          pool: name,
          alert: rule.name,
          severity: rule.severity,
          value: transition.value,
          summary: summary(rule, name, transition.value)
        }) as AlertEvent)
      } else if (transition?._tag === "resolved") {
        events.push(
          PoolEvent.AlertResolved({ pool: name, alert: rule.name, duration: transition.duration }) as AlertEvent
        )
      }
    })
    return events
  }
  const active = (): ReadonlyArray<Alerts.ActiveAlert> =>
    rules.flatMap((rule, i) => {
      const state = states[i]!
      return state.phase === "firing"
        ? [{ pool: name, alert: rule.name, severity: rule.severity, since: state.firedAt, value: state.value }]
        : []
    })
  return { evaluate, active }
}

export const make = <A, E>(
  pool: ResourcePool<A, E>,
  options?: Alerts.Options
): Effect.Effect<Alerts.Alerts, AlertRuleError, Scope.Scope> =>
  Effect.gen(function*() {
    const name = pool.config.name
    const evaluator = makeEvaluator(name, yield* validate(options?.rules ?? defaults))
    const onAlert = options?.onAlert
    // Alerts are rare; a subscriber that never reads loses the oldest beyond this, the pool never waits.
    const hub = yield* Effect.acquireRelease(PubSub.sliding<AlertEvent>(1024), PubSub.shutdown)
    const publish = (events: ReadonlyArray<AlertEvent>) =>
      events.length === 0 ? Effect.void : Effect.forEach(events, (event) =>
        Effect.zipRight(
          PubSub.publish(hub, event),
          onAlert === undefined ?
            Effect.void :
            Effect.catchAllCause(onAlert(event), (cause) => Effect.logWarning("dbpool alert callback failed", cause))
        ), { discard: true })
    let latest = yield* pool.stats
    // Evaluated at each published change of the statistics, and every `interval` so that a condition's `for`
    // elapses while nothing changes. Ends when the pool closes (its `changes` ends).
    const evaluations = Stream.merge(
      Stream.map(pool.changes, (stats) => {
        latest = stats
      }),
      Stream.tick(options?.interval ?? "1 second"),
      { haltStrategy: "left" }
    )
    yield* Stream.runForEach(
      evaluations,
      () => Effect.flatMap(Clock.currentTimeMillis, (now) => publish(evaluator.evaluate(latest, now)))
    ).pipe(Effect.forkScoped)
    return {
      events: Stream.fromPubSub(hub),
      active: Effect.sync(evaluator.active)
    }
  })

export const layer = <I, S extends ResourcePool<any, any>>(
  pool: Context.Tag<I, S>,
  options?: Alerts.Options
): Layer.Layer<Alerts.Alerts, AlertRuleError, I> => Layer.scoped(tag, Effect.flatMap(pool, (p) => make(p, options)))

export const withAlerts = <A, E>(
  pool: ResourcePool<A, E>,
  alerts: Alerts.Alerts
): Stream.Stream<PoolEventNs.PoolEvent> => Stream.merge(pool.events, alerts.events)
