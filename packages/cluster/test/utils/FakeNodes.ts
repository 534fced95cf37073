/**
 * Database nodes without a database, for the routing and health tests on the TestClock: each node's
 * connections answer `[{ node }]`; a node that is `down` refuses new connections and loses its open ones.
 */
import { Cluster } from "@dbpool/cluster"
import type * as PoolConfig from "@dbpool/core/PoolConfig"
import type { Connector } from "@dbpool/sql/Connector"
import * as Pool from "@dbpool/sql/Pool"
import { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import { Effect, Stream } from "effect"

export class Unreachable extends Error {}

export interface FakeNode {
  readonly name: string
  down: boolean
  /** Statements that reached this node, in order. */
  readonly ran: Array<string>
}

const connectorOf = (node: FakeNode): Connector<{ readonly id: number }, Unreachable> => {
  let ids = 0
  const run = (sql: string): Effect.Effect<ReadonlyArray<any>, SqlError> =>
    Effect.suspend(() => {
      if (node.down) return Effect.fail(new SqlError({ message: "lost", cause: new Unreachable("lost") }))
      node.ran.push(sql)
      return Effect.succeed([{ node: node.name }])
    })
  return {
    system: "fake",
    connect: () =>
      Effect.suspend(() =>
        node.down ? Effect.fail(new Unreachable(`${node.name} refuses`)) : Effect.succeed({ id: ++ids })
      ),
    close: () => Effect.void,
    validate: () => node.down ? Effect.fail(new Unreachable("down")) : Effect.void,
    cancel: () => Effect.void,
    connection: () => ({
      execute: (sql) => run(sql),
      executeRaw: (sql) => run(sql),
      executeValues: (sql) => Effect.map(run(sql), (rows) => rows.map((row) => Object.values(row))),
      executeUnprepared: (sql) => run(sql),
      executeStream: (sql) => Stream.fromIterableEffect(run(sql))
    }),
    isConnectionError: (cause) => cause instanceof Unreachable,
    compiler: Statement.makeCompilerSqlite(),
    spanAttributes: []
  }
}

export const fakeNode = (name: string): FakeNode => ({ name, down: false, ran: [] })

/** The node configs of fake nodes: the first is the primary. No connection retries, no breaker. */
export const fakeConfigs = (
  nodes: ReadonlyArray<FakeNode>,
  weights: ReadonlyArray<number> = [],
  pool: PoolConfig.Input = {}
): ReadonlyArray<Cluster.NodeConfig<unknown>> =>
  nodes.map((node, i) => ({
    name: node.name,
    role: i === 0 ? "primary" : "replica",
    weight: weights[i],
    pool: Pool.make(connectorOf(node), {
      name: node.name,
      minConnections: 0,
      maxConnections: 2,
      maxRetries: 0,
      circuitBreakerThreshold: Infinity,
      ...pool
    })
  }))

/** The node each of `n` reads ran on. */
export const readNodes = (cluster: Cluster.Cluster, n: number) =>
  Effect.forEach(
    Array.from({ length: n }),
    () => Effect.map(Cluster.read(cluster.sql<{ node: string }>`SELECT node`), (rows) => rows[0]!.node)
  )
