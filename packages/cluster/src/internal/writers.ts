/**
 * Which nodes take writes, in one of three ways:
 * - fixed: the node configured as the primary (nothing to ask it with);
 * - discovered (failover): each node is asked whether it takes writes (`Replication.isPrimary`) at start,
 *   on the `discovery` schedule, after a write it refused and after a write that lost its connection;
 *   one discovery runs at a time and the callers during it share its answer;
 * - several writers (multi-master): the nodes configured as primaries, while their health is up.
 *
 * Split brain (several nodes take writes at once): the one of the highest term is the primary; without
 * terms, or on a tie, none is. The others are fenced: no statement goes to them while they take writes.
 * Terms are asked of every writable node at each discovery and remembered: an old primary too busy to
 * answer (its connections all waiting for a synchronous standby that was promoted) keeps its old term.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { ClusterEvent } from "../ClusterEvent.js"
import type * as Replication from "../Replication.js"
import { isNodeFailure, isReadOnly, refusedReadWrite } from "./health.js"
import type { RoutedNode } from "./routing.js"

export interface Writers {
  readonly mode: "fixed" | "discovered" | "several"
  /** The nodes that take writes now, in the configured order (empty: none). */
  readonly current: () => ReadonlyArray<RoutedNode>
  /** The primary that reads fall back to and positions are read from: none while there is none. */
  readonly primary: () => RoutedNode | undefined
  /** The last primary known (the configured one until another is found). */
  readonly lastPrimary: () => RoutedNode
  /** Nodes that take no statement at all: writable beside the primary. */
  readonly fenced: (node: RoutedNode) => boolean
  /** `node` refused a write before running it: once this returns, `current` reflects what was learnt. */
  readonly refused: (node: RoutedNode, error: SqlError) => Effect.Effect<void>
  /** A write on `node` lost its connection: the primary is asked for again, in the background. */
  readonly lost: (node: RoutedNode) => Effect.Effect<void>
  /** While no node takes the write: look again (a discovery, when there is one to run). */
  readonly refresh: Effect.Effect<void>
  /** Runs for the cluster's life: the discovery schedule. */
  readonly background: Effect.Effect<void>
}

export interface WritersOptions {
  readonly nodes: ReadonlyArray<RoutedNode>
  /** The configured primaries (several only with `writers`). */
  readonly configured: ReadonlyArray<RoutedNode>
  readonly replication: Replication.Replication | undefined
  readonly discovery: Schedule.Schedule<unknown, unknown>
  readonly publish: (event: ClusterEvent) => Effect.Effect<unknown>
  readonly scope: Scope.Scope
}

/** A node that does not answer whether it takes writes within this keeps its last answer. */
const checkTimeout = "2 seconds"

export const fixed = (primary: RoutedNode): Writers => ({
  mode: "fixed",
  current: () => [primary],
  primary: () => primary,
  lastPrimary: () => primary,
  fenced: () => false,
  refused: () => Effect.void,
  lost: () => Effect.void,
  refresh: Effect.void,
  background: Effect.void
})

/**
 * What a refusal says of its node: a read-only write (25006), or a transaction's `BEGIN READ WRITE` refused
 * in recovery (0A000: only a failure at that BEGIN is passed here with it, see `cluster.ts`).
 */
const takesNoWrites = (error: SqlError): boolean => isReadOnly(error) || refusedReadWrite(error)

export const several = (writers: ReadonlyArray<RoutedNode>): Writers => {
  const up = () => writers.filter((node) => node.tracker.state().up)
  return {
    mode: "several",
    current: up,
    primary: () => up()[0],
    lastPrimary: () => up()[0] ?? writers[0]!,
    fenced: () => false,
    // a refused write already counted against the writer; a read-only one is down at once, probed until it
    // takes writes again
    refused: (node, error) => takesNoWrites(error) ? node.tracker.markDown("read-only") : Effect.void,
    lost: () => Effect.void,
    refresh: Effect.void,
    background: Effect.void
  }
}

type IsPrimary = NonNullable<Replication.Replication["isPrimary"]>

/** What discovery knows: each node's last answers, the primary, the fenced nodes. */
interface Knowledge {
  /** What each node last answered: takes writes or not (absent: never answered). */
  readonly writable: Map<RoutedNode, boolean>
  /** Each writable node's last known term: a node too busy to answer keeps it. */
  readonly terms: Map<RoutedNode, number>
  primary: RoutedNode | undefined
  last: RoutedNode
  fenced: ReadonlySet<RoutedNode>
  /** The split brain last reported ("" when none). */
  split: string
  running: Deferred.Deferred<void> | undefined
}

const answer = <A>(node: RoutedNode, question: (sql: SqlClient.SqlClient) => Effect.Effect<A, SqlError>) =>
  Effect.either(Effect.timeout(question(node.pool.sql), checkTimeout))

/** Asks one node whether it takes writes, and if so its term. */
const ask =
  (known: Knowledge, isPrimary: IsPrimary, termOf: Replication.Replication["primaryTerm"]) => (node: RoutedNode) =>
    Effect.gen(function*() {
      const primary = yield* answer(node, isPrimary)
      if (primary._tag === "Left") {
        // unreachable: it takes no writes; slow or busy: it keeps its last answer
        if (primary.left._tag === "SqlError" && isNodeFailure(primary.left)) known.writable.set(node, false)
        return
      }
      known.writable.set(node, primary.right)
      if (!primary.right || termOf === undefined) return
      const term = yield* answer(node, termOf)
      if (term._tag === "Right") known.terms.set(node, term.right)
    })

/** Among several writable nodes, the one of the highest term; none when the terms do not tell. */
const highestTerm = (known: Knowledge, candidates: ReadonlyArray<RoutedNode>) => {
  const terms = candidates.map((node) => known.terms.get(node) ?? -1)
  const best = Math.max(...terms)
  return best >= 0 && terms.filter((t) => t === best).length === 1 ? candidates[terms.indexOf(best)] : undefined
}

/** Records the choice and publishes what changed. */
const settle = (
  known: Knowledge,
  publish: (event: ClusterEvent) => Effect.Effect<unknown>,
  chosen: RoutedNode | undefined,
  candidates: ReadonlyArray<RoutedNode>
) =>
  Effect.gen(function*() {
    known.fenced = new Set(candidates.filter((node) => node !== chosen))
    const split = candidates.length > 1 ? `${candidates.map((node) => node.name).join(",")}>${chosen?.name}` : ""
    if (split !== known.split && split !== "") {
      yield* publish(ClusterEvent.SplitBrain({ writable: candidates.map((n) => n.name), primary: chosen?.name }))
    }
    known.split = split
    const from = known.primary
    if (chosen === from) return
    known.primary = chosen
    if (chosen !== undefined) {
      // after a time without a primary, `from` is the last one there was
      const before = from ?? known.last
      known.last = chosen
      yield* publish(ClusterEvent.PrimaryChanged({ from: before.name, to: chosen.name }))
    } else if (from !== undefined) {
      yield* publish(ClusterEvent.PrimaryLost({ from: from.name }))
    }
  })

/** One discovery at a time: a caller during one waits for it (set before forking: no window). */
const singleFlight = (known: Knowledge, once: Effect.Effect<void>, scope: Scope.Scope): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (known.running !== undefined) return Deferred.await(known.running)
    const done = Deferred.unsafeMake<void>(FiberId.none)
    known.running = done
    const finish = Effect.suspend(() => {
      known.running = undefined
      return Deferred.succeed(done, undefined)
    })
    return Effect.zipRight(Effect.forkIn(Effect.ensuring(once, finish), scope), Deferred.await(done))
  })

export const discovered = (options: WritersOptions & { readonly isPrimary: IsPrimary }): Effect.Effect<Writers> =>
  Effect.gen(function*() {
    const { nodes, publish } = options
    const known: Knowledge = {
      writable: new Map(),
      terms: new Map(),
      primary: options.configured[0],
      last: options.configured[0]!,
      fenced: new Set(),
      split: "",
      running: undefined
    }
    const once = Effect.gen(function*() {
      yield* Effect.forEach(nodes, ask(known, options.isPrimary, options.replication?.primaryTerm), {
        concurrency: "unbounded",
        discard: true
      })
      const candidates = nodes.filter((node) => known.writable.get(node) === true)
      yield* settle(known, publish, candidates.length <= 1 ? candidates[0] : highestTerm(known, candidates), candidates)
    })
    const discover = singleFlight(known, once, options.scope)
    yield* discover
    return {
      mode: "discovered",
      current: () => known.primary === undefined ? [] : [known.primary],
      primary: () => known.primary,
      lastPrimary: () => known.last,
      fenced: (node) => known.fenced.has(node),
      refused: (node, error) =>
        Effect.zipRight(
          Effect.sync(() => {
            if (takesNoWrites(error)) known.writable.set(node, false)
          }),
          discover
        ),
      lost: () => Effect.asVoid(Effect.forkIn(discover, options.scope)),
      refresh: discover,
      // the start already discovered: the schedule's first run is after its first delay
      background: Effect.asVoid(Effect.schedule(discover, options.discovery))
    }
  })
