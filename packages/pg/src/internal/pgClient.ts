/**
 * @effect/sql-pg's `PgClient` answered over a dbpool pool: statements borrow the pool's connections,
 * `listen` has one connection of its own outside the pool, `config` is what the pool connects with.
 */
import type { Connector } from "@dbpool/sql/Connector"
import * as Pool from "@dbpool/sql/Pool"
import { makeCompiler, PgClient, TypeId } from "@effect/sql-pg/PgClient"
import type * as PgClientNs from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import Pg from "pg"
import type * as PgPool from "../PgPool.js"
import { makeListen } from "./pgListen.js"
import * as Pipeline from "./pipeline.js"
import * as PipelineConfig from "./pipelineConfig.js"

/** What node-postgres resolved a client's settings to (URL, fields, PG* environment variables). */
interface Parameters {
  readonly user?: string | undefined
  readonly password?: string | null | undefined
  readonly host?: string | undefined
  readonly port?: number | string | undefined
  readonly database?: string | undefined
  readonly ssl?: unknown
  readonly application_name?: string | undefined
}

export const parametersOf = (client: Pg.Client): Parameters =>
  (client as unknown as { connectionParameters: Parameters }).connectionParameters

/** A connection URL with the settings a pool connects with, so `config.url` says the same as the fields. */
const urlOf = (p: Parameters, port: number | undefined): string => {
  const auth = p.user === undefined || p.user === ""
    ? ""
    : encodeURIComponent(p.user) + (p.password ? `:${encodeURIComponent(p.password)}` : "") + "@"
  const database = encodeURIComponent(p.database ?? "")
  if (p.host !== undefined && p.host.startsWith("/")) {
    return `postgres://${auth}/${database}?host=${encodeURIComponent(p.host)}${
      port === undefined ? "" : `&port=${port}`
    }`
  }
  return `postgres://${auth}${p.host ?? "localhost"}${port === undefined ? "" : `:${port}`}/${database}`
}

/** `PgClient.config` from the resolved settings; the pool's own options fill in the rest when known. */
export const configOf = (p: Parameters, options: Partial<PgPool.PgPoolOptions>): PgClientNs.PgClientConfig => {
  const port = p.port === undefined || p.port === "" ? undefined : Number(p.port)
  const pool = options.pool ?? {}
  return {
    url: options.url ?? Redacted.make(urlOf(p, port)),
    host: p.host,
    port,
    path: p.host !== undefined && p.host.startsWith("/") ? p.host : undefined,
    ssl: typeof p.ssl === "boolean" || (typeof p.ssl === "object" && p.ssl !== null) ? p.ssl as any : undefined,
    database: p.database,
    username: p.user,
    password: p.password ? Redacted.make(p.password) : undefined,
    idleTimeout: pool.maxIdleTime,
    connectTimeout: pool.connectTimeout,
    maxConnections: pool.maxConnections,
    minConnections: pool.minConnections,
    connectionTTL: pool.maxLifetime,
    applicationName: options.applicationName ?? p.application_name,
    spanAttributes: options.spanAttributes,
    transformResultNames: options.transformResultNames,
    transformQueryNames: options.transformQueryNames,
    transformJson: options.transformJson,
    types: options.types
  }
}

/** The settings of the LISTEN connection, as the pool's connections have them. */
const listenConfig = (p: Parameters, types: Pg.CustomTypesConfig | undefined): Pg.ClientConfig => ({
  user: p.user,
  password: p.password ?? undefined,
  host: p.host,
  port: p.port === undefined || p.port === "" ? undefined : Number(p.port),
  database: p.database,
  ssl: p.ssl as Pg.ClientConfig["ssl"],
  application_name: p.application_name,
  keepAlive: true,
  ...(types === undefined ? {} : { types })
})

interface PgJson extends Statement.Custom<"PgJson", unknown> {}
const PgJson = Statement.custom<PgJson>("PgJson")

export const json = (value: unknown): Statement.Fragment => PgJson(value, undefined, undefined)

/** A new PgClient over the pool: the pool's own `sql` is not touched, two clients never share `config`. */
export const make = (
  pool: Pool.Pool<any>,
  options: {
    readonly parameters: Parameters
    readonly config: PgClientNs.PgClientConfig
    readonly types?: Pg.CustomTypesConfig | undefined
    readonly clientOptions?: Pool.ClientOptions | undefined
  }
): Effect.Effect<PgClientNs.PgClient, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const listen = yield* makeListen(listenConfig(options.parameters, options.types), scope)
    const client = Pool.makeClient(pool, options.clientOptions)
    const notify = (channel: string, payload: string) => Effect.asVoid(client`SELECT pg_notify(${channel}, ${payload})`)
    return Object.assign(client, {
      [TypeId]: TypeId,
      config: options.config,
      json,
      listen,
      notify
    }) as unknown as PgClientNs.PgClient
  })

/**
 * Waits until node-postgres has nothing in flight on `client` (the interrupted statement answered) and
 * says whether its session is idle outside a transaction. A client that is ending or lost says false.
 * It reads node-postgres' private fields: the public `queryQueue` getter prints a deprecation warning
 * on every read (a user's stderr is not ours to write to).
 */
export const settle = (client: Pg.Client): Effect.Effect<boolean> => {
  const c = client as unknown as {
    readyForQuery?: boolean
    _activeQuery?: unknown
    _queryQueue?: ReadonlyArray<unknown>
    _queryable?: boolean
    _ending?: boolean
    getTransactionStatus?: () => string | null
  }
  const state = (): boolean | undefined => {
    if (c._queryable === false || c._ending === true) return false
    if (c.readyForQuery !== true || c._activeQuery != null || (c._queryQueue?.length ?? 0) > 0) return undefined
    return c.getTransactionStatus?.() === "I"
  }
  const loop: Effect.Effect<boolean> = Effect.suspend(() => {
    const s = state()
    return s === undefined ? Effect.zipRight(Effect.sleep("1 millis"), loop) : Effect.succeed(s)
  })
  return loop
}

/**
 * The layer's services: `Pool.layer`'s (the pool and its SqlClient), and a PgClient over that pool.
 * `clientConfig` is what the pool connects with.
 */
export const layer = <E>(
  connector: Effect.Effect<Connector<Pg.Client, any>, E>,
  options: PgPool.PgPoolOptions,
  clientConfig: Effect.Effect<Pg.ClientConfig, E>
) =>
  Layer.scopedContext(
    Effect.gen(function*() {
      const pool = yield* Pool.Pool
      const parameters = parametersOf(new Pg.Client(yield* clientConfig))
      const statements = yield* pipelineOf(pool, connector, options.pipeline)
      const pg = yield* make(pool, {
        parameters,
        config: configOf(parameters, options),
        types: options.types,
        clientOptions: statements === undefined ? undefined : { statements }
      })
      const context = Context.make(PgClient, pg)
      // Pipelining on: the layer's SqlClient is this client too, so the program's statements share connections.
      return statements === undefined ? context : Context.add(context, SqlClient.SqlClient, pg)
    })
  ).pipe(Layer.provideMerge(Pool.layer(connector, options.pool)))

/** The pipeline of `PgPool`'s `pipeline` option, when given (pipeline.ts). */
const pipelineOf = <E>(
  pool: Pool.Pool<any>,
  connector: Effect.Effect<Connector<Pg.Client, any>, E>,
  input: PgPool.PipelineOptions | undefined
) =>
  Effect.flatMap(PipelineConfig.decode(input), (config) =>
    config === undefined
      ? Effect.succeed(undefined)
      : Effect.flatMap(connector, (c) => Pipeline.make(pool, c, config)))

/** A PgClient over a pool built elsewhere (`Pool.Pool`, or an extra pool's tag). */
export const layerFromPool = <E, R>(options: PgPool.PgPoolFromPoolOptions<E, R>) =>
  Layer.scopedContext(Effect.gen(function*() {
    const pool = yield* options.acquire
    const parameters = yield* pool.withConnection((conn: { readonly native: unknown }) =>
      Effect.sync(() => parametersOf(conn.native as Pg.Client))
    )
      .pipe(
        Effect.mapError((cause) => new SqlError({ cause, message: `Failed to read the pool's settings: ${cause}` }))
      )
    const transforms = options.transformQueryNames !== undefined || options.transformResultNames !== undefined ||
      options.transformJson !== undefined
    const pg = yield* make(pool, {
      parameters,
      config: configOf(parameters, options),
      types: options.types,
      clientOptions: transforms ?
        {
          compiler: makeCompiler(options.transformQueryNames, options.transformJson),
          transformRows: options.transformResultNames === undefined
            ? undefined
            : Statement.defaultTransforms(options.transformResultNames, options.transformJson).array
        } :
        undefined
    })
    return Context.make(PgClient, pg).pipe(Context.add(SqlClient.SqlClient, pg))
  }))
