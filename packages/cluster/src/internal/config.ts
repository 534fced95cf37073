/** The checks a cluster's configuration passes before any pool is built. */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Cluster from "../Cluster.js"
import { ClusterConfigError } from "../ClusterError.js"
import type * as Selector from "../Selector.js"
import { all as selectors } from "../Selector.js"

export interface Resolved {
  readonly selector: Selector.Selector
  readonly readFallback: "primary" | "fail"
  readonly removeAfterFailures: number
  readonly probe: Schedule.Schedule<unknown, unknown>
  readonly weights: ReadonlyArray<number>
  readonly primaryIndex: number
  /** Milliseconds; Infinity when lag is not measured. */
  readonly maxLag: number
  readonly lagSchedule: Schedule.Schedule<unknown, unknown>
  /** Milliseconds. */
  readonly failoverTimeout: number
  readonly discovery: Schedule.Schedule<unknown, unknown>
  /** Multi-master: the selector of the writers (every node with the role primary). */
  readonly writers: Selector.Selector | undefined
}

const invalid = (message: string) => Effect.fail(new ClusterConfigError({ problem: "InvalidOption", message }))

const checkNodes = (nodes: ReadonlyArray<Cluster.NodeConfig<any, any>>, severalWriters: boolean) => {
  if (nodes.length === 0) {
    return Effect.fail(new ClusterConfigError({ problem: "NoNodes", message: "a cluster needs at least one node" }))
  }
  const names = new Set<string>()
  for (const node of nodes) {
    if (typeof node.name !== "string" || node.name === "") return invalid("every node needs a non-empty name")
    if (names.has(node.name)) {
      return Effect.fail(
        new ClusterConfigError({
          problem: "DuplicateName",
          message: `two nodes are named ${JSON.stringify(node.name)}`
        })
      )
    }
    names.add(node.name)
    if (node.role !== "primary" && node.role !== "replica") {
      return invalid(`node ${node.name}: role must be "primary" or "replica", not ${JSON.stringify(node.role)}`)
    }
    const weight = node.weight ?? 1
    if (!Number.isFinite(weight) || weight <= 0) {
      return invalid(`node ${node.name}: weight must be a finite number above 0, not ${weight}`)
    }
  }
  const primaries = nodes.filter((node) => node.role === "primary").map((node) => node.name)
  if (primaries.length === 0) {
    return Effect.fail(
      new ClusterConfigError({ problem: "NoPrimary", message: "no node has the role \"primary\"" })
    )
  }
  if (primaries.length > 1 && !severalWriters) {
    return Effect.fail(
      new ClusterConfigError({
        problem: "SeveralPrimaries",
        message: `several primaries: ${primaries.join(", ")} (set \`writers\` for several writable nodes)`
      })
    )
  }
  return Effect.succeed(nodes.findIndex((node) => node.role === "primary"))
}

const maxLagOf = (options: Cluster.Options) => {
  if (options.maxReplicaLag === undefined) return Effect.succeed(Number.POSITIVE_INFINITY)
  const decoded = Duration.decodeUnknown(options.maxReplicaLag)
  if (decoded._tag === "None" || !Duration.isFinite(decoded.value)) {
    return invalid(`maxReplicaLag must be a finite duration, not ${String(options.maxReplicaLag)}`)
  }
  if (options.replication === undefined) return invalid("maxReplicaLag needs replication (how to read positions)")
  return Effect.succeed(Duration.toMillis(decoded.value))
}

const failoverTimeoutOf = (options: Cluster.Options) => {
  if (options.failoverTimeout === undefined) return Effect.succeed(10_000)
  const decoded = Duration.decodeUnknown(options.failoverTimeout)
  if (decoded._tag === "None" || !Duration.isFinite(decoded.value)) {
    return invalid(`failoverTimeout must be a finite duration, not ${String(options.failoverTimeout)}`)
  }
  return Effect.succeed(Duration.toMillis(decoded.value))
}

export const resolve = (
  nodes: ReadonlyArray<Cluster.NodeConfig<any, any>>,
  options: Cluster.Options
): Effect.Effect<Resolved, ClusterConfigError> =>
  Effect.gen(function*() {
    const writers = options.writers
    if (writers !== undefined && !selectors.includes(writers)) {
      return yield* invalid(`writers must be one of ${selectors.join(", ")}, not ${JSON.stringify(writers)}`)
    }
    const primaryIndex = yield* checkNodes(nodes, writers !== undefined)
    const selector = options.selector ?? "roundRobin"
    if (!selectors.includes(selector)) {
      return yield* invalid(`selector must be one of ${selectors.join(", ")}, not ${JSON.stringify(selector)}`)
    }
    const readFallback = options.readFallback ?? "primary"
    if (readFallback !== "primary" && readFallback !== "fail") {
      return yield* invalid(`readFallback must be "primary" or "fail", not ${JSON.stringify(readFallback)}`)
    }
    const removeAfterFailures = options.removeAfterFailures ?? 3
    if (!Number.isInteger(removeAfterFailures) || removeAfterFailures < 1) {
      return yield* invalid(`removeAfterFailures must be a whole number of at least 1, not ${removeAfterFailures}`)
    }
    const probe = options.probe ?? Schedule.spaced(Duration.seconds(1))
    const maxLag = yield* maxLagOf(options)
    const lagSchedule = options.lagSchedule ?? Schedule.spaced(Duration.millis(500))
    const weights = nodes.map((n) => n.weight ?? 1)
    const failoverTimeout = yield* failoverTimeoutOf(options)
    const discovery = options.discovery ?? Schedule.spaced(Duration.seconds(1))
    return {
      selector,
      readFallback,
      removeAfterFailures,
      probe,
      weights,
      primaryIndex,
      maxLag,
      lagSchedule,
      failoverTimeout,
      discovery,
      writers
    }
  })
