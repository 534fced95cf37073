/**
 * The cluster as @effect/sql-pg's `PgClient`: the cluster's routing client, with what `PgClient` adds over
 * `SqlClient`. Each node gets, on first need, a `PgClient` over its own pool (which borrows one of its
 * connections once, to read its settings); `config` is the primary's, read at start (another node's when the
 * primary does not answer). `listen` follows the primary: on `PrimaryChanged` its channels are LISTENed
 * again on the new primary; a LISTEN connection lost (or refused by a standby) is opened again every
 * `relisten` until the primary answers or another is found. `notify` runs on the primary even inside a read
 * (a standby refuses NOTIFY).
 */
import * as PgPool from "@dbpool/pg/PgPool"
import * as PgClient from "@effect/sql-pg/PgClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Cluster from "../Cluster.js"
import type { PgNodeConfig } from "../PgCluster.js"
import * as ReadScope from "./readScope.js"

/** How often a listener whose LISTEN connection failed opens it again (on the primary of the moment). */
const relisten = "500 millis"

/** Each node's own `PgClient`, built once (in the layer's scope) when first needed; a failed build is retried. */
const nodeClients = (cluster: Cluster.Cluster, configs: ReadonlyArray<PgNodeConfig>, scope: Scope.Scope) =>
  Effect.map(Effect.makeSemaphore(1), (lock) => {
    const built = new Map<string, PgClient.PgClient>()
    const build = (node: Cluster.Node) => {
      const config = configs.find((c) => c.name === node.name)!
      return Effect.map(
        Layer.buildWithScope(
          PgPool.layerFromPool({
            acquire: Effect.succeed(node.pool),
            applicationName: config.applicationName,
            spanAttributes: config.spanAttributes,
            transformQueryNames: config.transformQueryNames,
            transformResultNames: config.transformResultNames,
            transformJson: config.transformJson,
            types: config.types
          }),
          scope
        ),
        Context.get(PgClient.PgClient)
      )
    }
    return (node: Cluster.Node): Effect.Effect<PgClient.PgClient, SqlError> =>
      lock.withPermits(1)(Effect.suspend(() => {
        const known = built.get(node.name)
        return known !== undefined ? Effect.succeed(known) : Effect.tap(build(node), (client) => {
          built.set(node.name, client)
        })
      }))
  })

/** The first node whose client builds: the primary of the moment, then the others in order. */
const firstAnswering = (
  cluster: Cluster.Cluster,
  clientOf: (node: Cluster.Node) => Effect.Effect<PgClient.PgClient, SqlError>
) =>
  Effect.flatMap(cluster.currentPrimary, (primary) => {
    const order = [primary ?? cluster.primary, ...cluster.nodes.filter((node) => node !== (primary ?? cluster.primary))]
    return Effect.firstSuccessOf(order.map(clientOf))
  })

/** `listen` over the cluster: on the primary of the moment, switched to the new one at each `PrimaryChanged`. */
const followingListen = (
  cluster: Cluster.Cluster,
  clientOf: (node: Cluster.Node) => Effect.Effect<PgClient.PgClient, SqlError>
) =>
(channel: string): Stream.Stream<string, SqlError> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    // subscribed before the primary is read: a change in between is not missed
    const events = yield* cluster.subscribe
    const first = yield* cluster.currentPrimary
    const changes = Stream.filterMap(Stream.fromQueue(events), (event) =>
      event._tag === "PrimaryChanged"
        ? Option.fromNullable(cluster.nodes.find((node) => node.name === event.to))
        : Option.none())
    const primaries = Stream.concat(first === undefined ? Stream.empty : Stream.make(first), changes)
    const on = (node: Cluster.Node) =>
      Stream.unwrap(Effect.map(clientOf(node), (client) => client.listen(channel))).pipe(
        // a connection lost (the node stopped, or a standby refusing LISTEN): again, until a new primary
        Stream.retry(Schedule.spaced(relisten))
      )
    return Stream.flatMap(primaries, on, { switch: true })
  }))

export const make = (
  cluster: Cluster.Cluster,
  configs: ReadonlyArray<PgNodeConfig>
): Effect.Effect<PgClient.PgClient, SqlError, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const clientOf = yield* nodeClients(cluster, configs, scope)
    const settings = yield* firstAnswering(cluster, clientOf)
    const sql = cluster.sql
    return Object.assign(sql, {
      [PgClient.TypeId]: PgClient.TypeId,
      config: settings.config,
      json: settings.json,
      listen: followingListen(cluster, clientOf),
      notify: (channel: string, payload: string) =>
        ReadScope.write(Effect.asVoid(sql`SELECT pg_notify(${channel}, ${payload})`))
    }) as unknown as PgClient.PgClient
  })
