/**
 * The cluster as @effect/sql-pg's `PgClient`: the cluster's routing client, with what `PgClient` adds
 * over `SqlClient` bound to the primary. `config`, `json` and `listen` are those of a `PgClient` over the
 * primary's pool (`listen` opens its one connection of its own to the primary, on the first call), and
 * `notify` runs on the primary even inside a read (a standby refuses NOTIFY).
 */
import * as PgPool from "@dbpool/pg/PgPool"
import * as PgClient from "@effect/sql-pg/PgClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Cluster from "../Cluster.js"
import type { PgNodeConfig } from "../PgCluster.js"
import * as ReadScope from "./readScope.js"

export const make = (
  cluster: Cluster.Cluster,
  primary: PgNodeConfig
): Effect.Effect<PgClient.PgClient, SqlError, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const onPrimary = yield* Effect.map(
      Layer.buildWithScope(
        PgPool.layerFromPool({
          acquire: Effect.succeed(cluster.primary.pool),
          applicationName: primary.applicationName,
          spanAttributes: primary.spanAttributes,
          transformQueryNames: primary.transformQueryNames,
          transformResultNames: primary.transformResultNames,
          transformJson: primary.transformJson,
          types: primary.types
        }),
        scope
      ),
      Context.get(PgClient.PgClient)
    )
    const sql = cluster.sql
    return Object.assign(sql, {
      [PgClient.TypeId]: PgClient.TypeId,
      config: onPrimary.config,
      json: onPrimary.json,
      listen: onPrimary.listen,
      notify: (channel: string, payload: string) =>
        ReadScope.write(Effect.asVoid(sql`SELECT pg_notify(${channel}, ${payload})`))
    }) as unknown as PgClient.PgClient
  })
