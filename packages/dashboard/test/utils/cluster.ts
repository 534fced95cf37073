/**
 * A cluster for the dashboard's tests, from @dbpool/cluster: the test server (PostgreSQL on 127.0.0.1:5432)
 * as the primary and as a replica (two pools on one server: the routing and its counts are the cluster's
 * whatever the server), and a replica on a port where nothing listens, which goes down at its first read.
 */
import { Cluster, PgCluster } from "@dbpool/cluster"
import { SparePort } from "@dbpool/testing"
import { Context, Effect, Layer, Redacted, Schedule } from "effect"
import pg from "pg"

const url = Redacted.make("postgres://postgres@127.0.0.1:5432/test")
const pool = { minConnections: 0, maxConnections: 2, maxRetries: 0, connectTimeout: "2 seconds" } as const

export const makeCluster = (prefix: string) =>
  Effect.gen(function*() {
    const deadPort = yield* SparePort.get
    const names = {
      primary: `${prefix}-primary-${process.pid}`,
      replica: `${prefix}-replica-${process.pid}`,
      dead: `${prefix}-dead-${process.pid}`
    }
    const context = yield* Layer.build(Cluster.layer(
      PgCluster.nodes([
        { name: names.primary, role: "primary", url, pool },
        { name: names.replica, role: "replica", url, pool },
        { name: names.dead, role: "replica", host: "127.0.0.1", port: deadPort, username: "postgres", pool }
      ]),
      { removeAfterFailures: 1, probe: Schedule.spaced("1 hour") }
    ))
    return { context, cluster: Context.get(context, Cluster.Cluster), names }
  })

/**
 * One write and four reads: the first read on the live replica, the second refused by the dead one and run
 * again on the live one (the dead one is down from then on), the last two on the live one.
 */
export const workload = (cluster: Cluster.Cluster) =>
  Effect.gen(function*() {
    yield* cluster.sql`SELECT 1 AS written`
    for (let i = 0; i < 4; i++) yield* Cluster.read(cluster.sql`SELECT 1 AS read`)
  })

/** Whether the test server answers (a test that needs it skips outside CI when it does not). */
export const postgresUp = async (): Promise<boolean> => {
  const client = new pg.Client({
    connectionString: "postgres://postgres@127.0.0.1:5432/test",
    connectionTimeoutMillis: 3000
  })
  client.on("error", () => {})
  try {
    await client.connect()
    return true
  } catch {
    return false
  } finally {
    await client.end().catch(() => {})
  }
}
