/**
 * Database nodes without a database, for the routing and health tests on the TestClock: each node's
 * connections answer `[{ node }]`; a node that is `down` refuses new connections and loses its open ones.
 * A node that is not `writable` refuses `INSERT`s and `UPDATE`s as a standby does (SQLSTATE 25006), and
 * `BEGIN READ WRITE` (0A000), and
 * answers `fakeReplication.isPrimary` with it; `loseNext` statements run, then lose their connection.
 */
import { Cluster, type Replication } from "@dbpool/cluster"
import type * as PoolConfig from "@dbpool/core/PoolConfig"
import type { Connector } from "@dbpool/sql/Connector"
import * as Pool from "@dbpool/sql/Pool"
import { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import { Effect, Stream } from "effect"

export class Unreachable extends Error {}

/** What node-postgres gives for a write on a standby: SQLSTATE 25006. */
export class ReadOnly extends Error {
  readonly code = "25006"
}

/** What node-postgres gives for `BEGIN READ WRITE` on a standby: SQLSTATE 0A000 (from the setting's check). */
export class InRecovery extends Error {
  readonly code = "0A000"
}

export interface FakeNode {
  readonly name: string
  down: boolean
  writable: boolean
  /** Its `primaryTerm` (PostgreSQL: timeline). */
  term: number
  /** This many statements run (they are in `ran`), then lose their connection. */
  loseNext: number
  /** Its `IS PRIMARY` and `TERM` never answer (every connection busy, as an old primary whose commits wait). */
  silent: boolean
  /** Statements that reached this node, in order. */
  readonly ran: Array<string>
  /** What to call when a connection's socket closes (the driver's `onBroken`). */
  readonly sockets: Array<(cause: unknown) => void>
}

/** The server stops: it refuses connections, and the open ones see their sockets close (as a driver does). */
export const stopNode = (node: FakeNode): Effect.Effect<void> =>
  Effect.sync(() => {
    node.down = true
    for (const broken of node.sockets.splice(0)) broken(new Unreachable("socket closed"))
  })

const connectorOf = (node: FakeNode): Connector<{ readonly id: number }, Unreachable> => {
  let ids = 0
  const run = (sql: string): Effect.Effect<ReadonlyArray<any>, SqlError> =>
    Effect.suspend((): Effect.Effect<ReadonlyArray<any>, SqlError> => {
      if (node.down) return Effect.fail(new SqlError({ message: "lost", cause: new Unreachable("lost") }))
      if (node.silent && (sql === "IS PRIMARY" || sql === "TERM")) return Effect.never
      if (sql === "IS PRIMARY") return Effect.succeed([{ node: node.name, primary: node.writable }])
      if (sql === "TERM") return Effect.succeed([{ term: node.term }])
      if (!node.writable && sql === "BEGIN READ WRITE") {
        return Effect.fail(new SqlError({ message: "in recovery", cause: new InRecovery("read-write mode") }))
      }
      if (!node.writable && /^(INSERT|UPDATE)/.test(sql)) {
        return Effect.fail(new SqlError({ message: "read-only", cause: new ReadOnly("read-only transaction") }))
      }
      node.ran.push(sql)
      if (node.loseNext > 0) {
        node.loseNext--
        return Effect.fail(new SqlError({ message: "lost", cause: new Unreachable("lost after running") }))
      }
      return Effect.succeed([{ node: node.name }])
    })
  return {
    system: "fake",
    connect: (events) =>
      Effect.suspend(() => {
        if (node.down) return Effect.fail(new Unreachable(`${node.name} refuses`))
        node.sockets.push(events.onBroken)
        return Effect.succeed({ id: ++ids })
      }),
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

export const fakeNode = (name: string, writable = true): FakeNode => ({
  name,
  down: false,
  writable,
  term: 1,
  loseNext: 0,
  silent: false,
  ran: [],
  sockets: []
})

/** Replication of fake nodes: whether each takes writes, and its term. */
export const fakeReplication: Replication.Replication = {
  primaryPosition: () => Effect.succeed("0/0"),
  replicaPosition: () => Effect.succeed({ position: "0/0", behindMillis: 0 }),
  atLeast: () => true,
  isPrimary: (sql) => Effect.map(sql<{ primary: boolean }>`IS PRIMARY`, (rows) => rows[0]!.primary),
  primaryTerm: (sql) => Effect.map(sql<{ term: number }>`TERM`, (rows) => rows[0]!.term)
}

/** The node configs of fake nodes: the first is the primary. No connection retries, no breaker. */
export const fakeConfigs = (
  nodes: ReadonlyArray<FakeNode>,
  weights: ReadonlyArray<number> = [],
  pool: PoolConfig.Input = {},
  roles: ReadonlyArray<Cluster.Role> = []
): ReadonlyArray<Cluster.NodeConfig<unknown>> =>
  nodes.map((node, i) => ({
    name: node.name,
    role: roles[i] ?? (i === 0 ? "primary" : "replica"),
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

/** The node a write ran on. */
export const writeNode = (cluster: Cluster.Cluster, sql = "INSERT w") =>
  Effect.map(cluster.sql.unsafe<{ node: string }>(sql), (rows) => rows[0]!.node)

/** Every node's pool is idle: nothing lent, nobody waiting. */
export const expectIdle = (cluster: Cluster.Cluster) =>
  Effect.gen(function*() {
    const stats = yield* Effect.forEach(cluster.nodes, (node) => node.pool.stats)
    const busy = stats.filter((s) => s.activeConnections !== 0 || s.waitingRequests !== 0)
    if (busy.length > 0) {
      return yield* Effect.dieMessage(
        `pools not idle: ${busy.map((s) => `${s.name} ${s.activeConnections}/${s.waitingRequests}`)}`
      )
    }
  })
