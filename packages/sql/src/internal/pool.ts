/**
 * The SQL pool: a `ResourcePool` of connections, each wrapped so that the pool
 * learns what happened on it (a connection-level error, an interrupted
 * statement, a transaction left open) and an @effect/sql `SqlClient` on top.
 */
import type { ResourcePool } from "@dbpool/core"
import type * as PoolConfig from "@dbpool/core/PoolConfig"
import type { ConnectError, PoolConfigError, PoolError } from "@dbpool/core/PoolError"
import * as CorePool from "@dbpool/core/ResourcePool"
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlConnection from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as ConnectionError from "../ConnectionError.js"
import { ConnectionLostError, QueryTimeoutError } from "../ConnectionError.js"
import type { Connector } from "../Connector.js"
import type * as Pool from "../Pool.js"
import type { PooledConnection } from "../PooledConnection.js"
import * as PooledStatement from "./statement.js"

type TxTag = Context.Tag<any, readonly [conn: SqlConnection.Connection, depth: number]>

/** Bound on the best-effort cancel of a statement left running (the connection is closed anyway). */
const cancelTimeout = "2 seconds"
/**
 * Bound on the verdict on an interrupted statement (cancelled, answered, the session idle), past which the
 * connection is closed. Meanwhile it is lent to no one and a reserved connection's next statement waits; a
 * cancel takes milliseconds on a healthy server, but on a loaded machine (load 8–17 on 2 cores) MariaDB
 * answered some `KILL QUERY`s of a `SLEEP` only after about 2.0 s (the KILL itself took 2 s, or the statement
 * answered about 2 s after the first KILL however often it was sent again): with a 2 s bound, the reserved
 * connection's next statement then failed ("did not settle").
 */
const settleTimeout = "5 seconds"
/** How long the statement's caller waits for that cancel; it runs on in the background (see `bounded`). */
const cancelWait = "50 millis"
/** How long an interrupted statement is given to answer a cancel before the cancel is sent again. */
const cancelRetry = "100 millis"

/**
 * Work on an interrupted statement (its cancel), bounded by `cancelTimeout`: `otherwise` past the bound or on
 * failure. Interruptible, or the bound would not hold (it runs in finalizers).
 */
const bounded = <A>(
  work: Effect.Effect<A>,
  otherwise: A,
  bound: Duration.DurationInput = cancelTimeout
): Effect.Effect<A> =>
  work.pipe(Effect.interruptible, Effect.timeout(bound), Effect.catchAllCause(() => Effect.succeed(otherwise)))

/**
 * The statement's caller waits for that work, in a fiber of its own, only briefly: a server that stopped
 * answering must not hold the caller past queryTimeout or its own Effect.timeout (a blackholed network held
 * both for the whole cancel, 2 s and more).
 */
const awaitBriefly = (work: Fiber.Fiber<unknown>): Effect.Effect<void> =>
  Effect.interruptible(Fiber.await(work)).pipe(Effect.timeout(cancelWait), Effect.ignore)

const beginPattern = /^\s*(BEGIN|START\s+TRANSACTION)\b/i
const endPattern = /^\s*(COMMIT|END|ROLLBACK)\b(?!\s+(WORK\s+)?TO\b)/i
// ROLLBACK TO SAVEPOINT too: on a dead session it has nothing to undo either, and the COMMIT that may
// follow fails, so skipping it cannot hide the loss.
const rollbackPattern = /^\s*ROLLBACK\b/i

/** After a statement succeeded: whether it opened or ended a transaction. */
const track = <N>(conn: Conn<N>, sql: string): void => {
  if (beginPattern.test(sql)) conn.inTransaction = true
  else if (endPattern.test(sql)) conn.inTransaction = false
}

/** One native connection and what the pool knows about it. */
export class Conn<N> implements PooledConnection<N> {
  id = ""
  native!: N
  connection!: GuardedConnection<N>
  private client: SqlClient.SqlClient | undefined = undefined
  /** `bind` is the pool's, shared by its connections: it makes the client bound to one connection. */
  constructor(private readonly bind: (conn: Conn<N>) => SqlClient.SqlClient) {}
  /** Made on first use: most connections never need a client of their own (~10 KB each, measured). */
  get sql(): SqlClient.SqlClient {
    return this.client ??= this.bind(this)
  }
  broken = false
  brokenCause: unknown = undefined
  running = 0
  inTransaction = false
  /** Its last interrupted statement was cancelled and answered, the session idle: an interruption spared it. */
  settled = false
  /** The verdict on an interrupted statement, while it is being reached (see `GuardedConnection.settle`). */
  settling: Fiber.RuntimeFiber<void> | undefined = undefined
  lease: ResourcePool.Lease<Conn<N>> | undefined = undefined
  markBroken(cause: unknown): void {
    if (this.broken) return
    this.broken = true
    this.brokenCause = cause
  }
}

/** The driver's connection with the pool's bookkeeping around every statement. */
class GuardedConnection<N> implements SqlConnection.Connection {
  constructor(
    readonly conn: Conn<N>,
    readonly inner: SqlConnection.Connection,
    readonly owner: PoolRuntime<N>
  ) {}

  /**
   * Runs one statement now (called while the fiber runs, just before the effect runs), in one step: the
   * checks, the driver's effect, the bookkeeping and, for a statement that `borrowed` its connection, the
   * giving back. The common case (a usable connection, no `queryTimeout`) is one `matchCauseEffect`: per
   * statement the separate `catchAll`, `onExit` and the borrow's own `onExit` cost more CPU than the driver.
   */
  now<A>(sql: string, run: () => Effect.Effect<A, SqlError>, empty: A, borrowed: boolean): Effect.Effect<A, SqlError> {
    const conn = this.conn
    const owner = this.owner
    if (conn.settling !== undefined || conn.broken || owner.connector.queryTimeout !== undefined) {
      const guarded = this.guard(sql, run, empty)
      return borrowed ? Effect.onExit(guarded, (exit) => owner.giveBack(conn, exit, true)) : guarded
    }
    conn.running++
    return Effect.uninterruptibleMask((restore) =>
      Effect.matchCauseEffect(restore(run()), {
        onFailure: (cause) => {
          const failed = Exit.failCause(Cause.map(cause, owner.classify))
          const after = this.after(sql, failed)
          return Effect.zipRight(borrowed ? Effect.zipRight(after, owner.giveBack(conn, failed, true)) : after, failed)
        },
        onSuccess: (a) => {
          conn.running--
          track(conn, sql)
          return !borrowed || owner.keep(conn) ? Effect.succeed(a) : Effect.as(owner.giveBack(conn, Exit.void, true), a)
        }
      })
    )
  }

  /** One statement with the driver's method of that `kind`, run now (see `now`). */
  run(
    kind: PooledStatement.Kind,
    sql: string,
    params: ReadonlyArray<unknown>,
    transformRows: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined,
    borrowed: boolean
  ): Effect.Effect<any, SqlError> {
    return this.now(sql, () => PooledStatement.invoke(this.inner, kind, sql, params, transformRows), [], borrowed)
  }

  private guard<A>(sql: string, run: () => Effect.Effect<A, SqlError>, empty: A): Effect.Effect<A, SqlError> {
    return Effect.suspend(() => {
      const conn = this.conn
      // The last statement's cancel is still settling (a reserved connection, used again at once): wait for
      // its verdict, bounded by the cancel's own bound.
      const settling = conn.settling
      if (settling !== undefined) return Effect.zipRight(Fiber.await(settling), this.guard(sql, run, empty))
      if (conn.broken) {
        // The server ended the session and rolled back with it: a ROLLBACK has nothing left to undo, but a
        // COMMIT must fail, or a transaction the server threw away would be reported as committed.
        if (rollbackPattern.test(sql)) {
          conn.inTransaction = false
          return Effect.succeed(empty)
        }
        return Effect.fail(this.owner.brokenError(conn))
      }
      conn.running++
      const timeout = this.owner.connector.queryTimeout
      const statement = Effect.catchAll(run(), (error) => Effect.fail(this.owner.classify(error)))
      return Effect.onExit(
        timeout === undefined ? statement : Effect.timeoutFail(statement, {
          duration: timeout,
          onTimeout: () => this.owner.timedOut(timeout)
        }),
        (exit) => this.after(sql, exit)
      )
    })
  }

  private after(sql: string, exit: Exit.Exit<unknown, SqlError>): Effect.Effect<void> {
    const conn = this.conn
    conn.running--
    if (Exit.isSuccess(exit)) {
      track(conn, sql)
      return Effect.void
    }
    const failure = Cause.failureOption(exit.cause)
    const cause = Option.isSome(failure) ? failure.value.cause : Cause.squash(exit.cause)
    const settle = this.owner.connector.settle
    if (
      settle !== undefined && Option.isNone(failure) && Cause.isInterrupted(exit.cause) && !conn.inTransaction &&
      this.owner.connector.inTransaction?.(conn.native) !== true
    ) {
      return this.settle(settle)
    }
    if (Cause.isInterrupted(exit.cause) || cause instanceof QueryTimeoutError) {
      // Left with the statement still running (released, or past queryTimeout): stop it on the server,
      // never reuse the connection.
      conn.markBroken(
        cause instanceof QueryTimeoutError ? cause : new Error("a statement was interrupted while running")
      )
      this.owner.invalidate(conn)
      return Effect.flatMap(
        Effect.forkDaemon(bounded(this.owner.connector.cancel(conn.native), undefined)),
        awaitBriefly
      )
    }
    if (Cause.isDie(exit.cause) || cause instanceof ConnectionLostError) {
      conn.markBroken(cause)
      this.owner.invalidate(conn)
    }
    return Effect.void
  }

  /**
   * An interrupted statement outside a transaction: the cancel and the driver's `settle` run side by side,
   * and the connection is kept only once BOTH have finished and the session is idle. Keeping it as soon as
   * the statement answered let a cancel still on its way hit the next statement on the kept connection
   * (57014 on an innocent query, 65 of 460 in a loop). The verdict is reached in a fiber of its own, bounded
   * by `settleTimeout`; the caller waits for it at most `cancelWait` (a server that does not answer, a
   * partition, must not hold it). Until the verdict, the connection is `settling`: its next statement waits
   * for it, and given back to the pool it is held out of it until the verdict (`ResourcePool.hold`).
   */
  private settle(settle: (native: N) => Effect.Effect<boolean>): Effect.Effect<void> {
    const conn = this.conn
    const native = conn.native
    // Set by the verdict: a verdict reached before the fork returns must not be followed by `settling`
    // pointing at a finished fiber, which the next statement would wait on again and again.
    let decided = false
    const verdict = (idle: boolean) =>
      Effect.sync(() => {
        decided = true
        conn.settling = undefined
        if (idle && !conn.broken) {
          conn.settled = true
          return
        }
        conn.markBroken(new Error("a statement was interrupted while running and its connection did not settle"))
        this.owner.invalidate(conn)
      })
    // A cancel that reaches the server before the statement starts running is ignored there, and the
    // statement then runs to its end (pg_sleep(5) interrupted after 10 ms, 1 in 25): while the statement has
    // not answered, the cancel is sent again, each time after the previous one finished.
    const cancelUntilSettled = Effect.flatMap(Effect.fork(settle(native)), (idle) => {
      const attempt: Effect.Effect<boolean> = Effect.zipRight(
        this.owner.connector.cancel(native),
        Effect.flatMap(
          Effect.timeoutOption(Fiber.join(idle), cancelRetry),
          Option.match({ onNone: () => attempt, onSome: Effect.succeed })
        )
      )
      return Effect.ensuring(attempt, Fiber.interrupt(idle))
    })
    return Effect.flatMap(
      Effect.forkDaemon(Effect.flatMap(bounded(cancelUntilSettled, false, settleTimeout), verdict)),
      (work) => {
        if (!decided) conn.settling = work
        return awaitBriefly(work)
      }
    )
  }

  execute(
    sql: string,
    params: ReadonlyArray<unknown>,
    transformRows: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
  ) {
    return Effect.suspend(() => this.run("execute", sql, params, transformRows, false))
  }
  executeRaw(sql: string, params: ReadonlyArray<unknown>) {
    return Effect.suspend(() => this.run("executeRaw", sql, params, undefined, false))
  }
  executeValues(sql: string, params: ReadonlyArray<unknown>) {
    return Effect.suspend(() => this.run("executeValues", sql, params, undefined, false))
  }
  executeUnprepared(
    sql: string,
    params: ReadonlyArray<unknown>,
    transformRows: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
  ) {
    return Effect.suspend(() => this.run("executeUnprepared", sql, params, transformRows, false))
  }
  executeStream(
    sql: string,
    params: ReadonlyArray<unknown>,
    transformRows: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
  ): Stream.Stream<any, SqlError> {
    return Stream.suspend(() => {
      const conn = this.conn
      if (conn.broken) return Stream.fail(this.owner.brokenError(conn))
      return this.inner.executeStream(sql, params, transformRows).pipe(
        Stream.mapError((error) => this.owner.classify(error)),
        Stream.tapError((error) =>
          Effect.sync(() => {
            if (error.cause instanceof ConnectionLostError) {
              conn.markBroken(error.cause)
              this.owner.invalidate(conn)
            }
          })
        )
      )
    })
  }
}

/** The parts of a pool its connections need to reach. */
interface PoolRuntime<N> {
  readonly connector: Connector<N, any>
  readonly invalidate: (conn: Conn<N>) => void
  /** A statement's error as the user sees it: a connection-level cause becomes a `ConnectionLostError`. */
  readonly classify: (error: SqlError) => SqlError
  /** The error of a statement past `queryTimeout`. */
  readonly timedOut: (timeout: Duration.Duration) => SqlError
  /** The error of a statement on a connection already known to be broken. */
  readonly brokenError: (conn: Conn<N>) => SqlError
  /** Before a borrowed connection goes back (set once the pool is made; see `giveBack` in `make`). */
  giveBack: (conn: Conn<N>, exit?: Exit.Exit<unknown, unknown>, spareSettled?: boolean) => Effect.Effect<void>
  /**
   * After a borrow's statement succeeded: true when the connection can go back as it is (then it is marked
   * given back), false when `giveBack` must close it. Synchronous, so the common case costs no effect.
   */
  keep: (conn: Conn<N>) => boolean
}

const makeRuntime = <N>(connector: Connector<N, any>, invalidate: (conn: Conn<N>) => void): PoolRuntime<N> => ({
  connector,
  invalidate,
  classify: (error) => {
    const cause = error.cause
    if (cause instanceof ConnectionLostError || !connector.isConnectionError(cause)) return error
    const lostError = ConnectionError.lost(connector.system, cause)
    return new SqlError({ message: lostError.message, cause: lostError })
  },
  timedOut: (timeout) => {
    const cause = new QueryTimeoutError({ system: connector.system, timeout })
    return new SqlError({ message: cause.message, cause })
  },
  brokenError: (conn) => {
    const known = conn.brokenCause
    const cause = known instanceof ConnectionLostError || known instanceof QueryTimeoutError
      ? known
      : ConnectionError.lost(connector.system, known)
    return new SqlError({ message: `Connection ${conn.id} is unusable: ${cause.message}`, cause })
  },
  giveBack: () => Effect.void,
  keep: () => true
})

const toSqlError = (error: PoolError<unknown>): SqlError => new SqlError({ message: error.message, cause: error })

/** Where a transaction's failed COMMIT is kept for its caller (one box per outermost transaction). */
const commitFailure = FiberRef.unsafeMake<{ error: SqlError | undefined } | undefined>(undefined)

/** Builds a SqlClient like @effect/sql's `SqlClient.make`, with the transaction tag of our choice. */
const makeClient = (options: {
  readonly connector: Connector<any, any>
  readonly transactionTag: TxTag
  readonly reactivity: Reactivity.Reactivity["Type"]
  readonly acquirer: SqlConnection.Connection.Acquirer
  readonly transactionAcquirer: SqlConnection.Connection.Acquirer
  /** Runs one statement outside a transaction: on a borrowed connection, or on the bound one. */
  readonly statement: (
    kind: PooledStatement.Kind,
    sql: string,
    params: ReadonlyArray<unknown>,
    transformRows: Connector<any, any>["transformRows"]
  ) => Effect.Effect<any, SqlError>
  /**
   * Runs a whole transaction on one connection: a lease taken for it (given back with the transaction's exit),
   * or the bound one.
   */
  readonly hold: <A, E, R>(
    f: (conn: SqlConnection.Connection) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | SqlError, R>
  readonly bound: boolean
}): SqlClient.SqlClient => {
  const { connector, reactivity, transactionAcquirer, transactionTag } = options
  const statements = connector.transactions ?? {}
  const begin = statements.begin ?? "BEGIN"
  const commit = statements.commit ?? "COMMIT"
  const rollback = statements.rollback ?? "ROLLBACK"
  const savepoint = statements.savepoint ?? ((name: string) => `SAVEPOINT ${name}`)
  const rollbackSavepoint = statements.rollbackSavepoint ?? ((name: string) => `ROLLBACK TO SAVEPOINT ${name}`)
  // A client bound to one connection always runs there, even inside another connection's transaction.
  const getConnection = options.bound ? options.acquirer : Effect.flatMap(
    Effect.serviceOption(transactionTag),
    (option) => option._tag === "Some" ? Effect.succeed(option.value[0]) : options.acquirer
  )
  // @effect/sql's makeWithTransaction turns a failed COMMIT or ROLLBACK into a defect. A COMMIT can fail for
  // ordinary reasons (the connection lost just then, a deferred constraint, a serialization failure): its error
  // is kept aside and becomes the transaction's failure. A ROLLBACK on a lost connection has nothing to undo
  // (the server rolls back as the session ends), so that failure is dropped; the connection is closed anyway.
  const commitFailed = (error: SqlError) =>
    Effect.flatMap(FiberRef.get(commitFailure), (box) => {
      if (box === undefined) return Effect.fail(error)
      box.error = error
      return Effect.void
    })
  const lost = (error: SqlError) =>
    error.cause instanceof ConnectionLostError || error.cause instanceof QueryTimeoutError
  const beginWith = (conn: SqlConnection.Connection) => conn.executeUnprepared(begin, [], undefined)
  const commitWith = (conn: SqlConnection.Connection) =>
    Effect.catchAll(conn.executeUnprepared(commit, [], undefined), commitFailed)
  const rollbackWith = (conn: SqlConnection.Connection) =>
    Effect.catchIf(conn.executeUnprepared(rollback, [], undefined), lost, () => Effect.void)
  const transaction = SqlClient.makeWithTransaction({
    transactionTag,
    spanAttributes: connector.spanAttributes,
    acquireConnection: Effect.flatMap(
      Scope.make(),
      (scope) => Effect.map(Scope.extend(transactionAcquirer, scope), (conn) => [scope, conn] as const)
    ),
    begin: beginWith,
    savepoint: (conn, id) => conn.executeUnprepared(savepoint(`effect_sql_${id}`), [], undefined),
    commit: commitWith,
    rollback: rollbackWith,
    rollbackSavepoint: (conn, id) =>
      Effect.catchIf(
        conn.executeUnprepared(rollbackSavepoint(`effect_sql_${id}`), [], undefined),
        lost,
        () => Effect.void
      )
  })
  /**
   * An outermost transaction when no tracer is installed, as @effect/sql's `makeWithTransaction` runs it
   * (BEGIN, the effect with the connection in its context, COMMIT or ROLLBACK, uninterruptible but for the
   * effect) without what only a tracer reads (its span, the span's events and the span in the context) and
   * without a `Scope` of its own: the connection is held by `hold` for the whole transaction. Measured, the span
   * and the scope cost as much CPU as the transaction's five statements.
   */
  const untracedTransaction = <R, E, A>(
    effect: Effect.Effect<A, E, R>,
    context: Context.Context<never>
  ): Effect.Effect<A, E | SqlError, R> =>
    Effect.uninterruptibleMask((restore) =>
      options.hold((conn) =>
        Effect.flatMap(
          Effect.exit(Effect.zipRight(
            beginWith(conn),
            Effect.locally(restore(effect), FiberRef.currentContext, Context.add(context, transactionTag, [conn, 0]))
          )),
          // A failed COMMIT is the transaction's failure, once the connection is back (see `commitFailed`).
          (exit) =>
            Exit.isSuccess(exit)
              ? Effect.zipRight(conn.executeUnprepared(commit, [], undefined), exit)
              : Effect.zipRight(Effect.orDie(rollbackWith(conn)), exit)
        )
      )
    )
  const withTransaction = <R, E, A>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError, R> =>
    Effect.withFiberRuntime((fiber) => {
      const context = fiber.getFiberRef(FiberRef.currentContext)
      if (fiber.currentTracer === PooledStatement.builtInTracer && !context.unsafeMap.has(transactionTag.key)) {
        return untracedTransaction(effect, context)
      }
      const box: { error: SqlError | undefined } = { error: undefined }
      return Effect.flatMap(
        Effect.locally(transaction(effect), commitFailure, box),
        (a) => box.error === undefined ? Effect.succeed(a) : Effect.fail(box.error)
      )
    })
  const run: PooledStatement.Executor["run"] = options.bound ?
    (_, kind, sql, params, transformRows) => options.statement(kind, sql, params, transformRows) :
    (fiber, kind, sql, params, transformRows) => {
      const transaction = fiber.getFiberRef(FiberRef.currentContext).unsafeMap.get(transactionTag.key) as
        | readonly [SqlConnection.Connection, number]
        | undefined
      if (transaction === undefined) return options.statement(kind, sql, params, transformRows)
      const connection = transaction[0]
      return connection instanceof GuardedConnection
        ? connection.run(kind, sql, params, transformRows, false)
        : PooledStatement.invoke(connection, kind, sql, params, transformRows)
    }
  const build = (compiler: Statement.Compiler, transformRows: typeof connector.transformRows): SqlClient.SqlClient => {
    const client: any = Object.assign(
      PooledStatement.makeConstructor(
        Statement.make(getConnection, compiler, connector.spanAttributes, transformRows),
        { run, spanAttributes: connector.spanAttributes, transformRows }
      ),
      {
        [SqlClient.TypeId]: SqlClient.TypeId,
        safe: undefined,
        withTransaction,
        reserve: transactionAcquirer,
        withoutTransforms: (): SqlClient.SqlClient =>
          transformRows === undefined ? client : build(compiler.withoutTransform, undefined),
        reactive: reactivity.stream,
        reactiveMailbox: reactivity.query
      }
    )
    client.safe = client
    return client
  }
  return build(connector.compiler, connector.transformRows)
}

/** Where a pool keeps the maker of further clients over its connections. */
export const clientBuilder: unique symbol = Symbol.for("@dbpool/sql/Pool/clientBuilder")

export const makePoolClient = (pool: Pool.Pool<any>, options: Pool.ClientOptions): SqlClient.SqlClient =>
  (pool as unknown as Record<typeof clientBuilder, (options: Pool.ClientOptions) => SqlClient.SqlClient>)
    [clientBuilder](
      options
    )

/** Where a pool keeps what its clients are made of, for a client that routes over several pools. */
const clientParts: unique symbol = Symbol.for("@dbpool/sql/Pool/clientParts")

type ClientParts = Parameters<typeof makeClient>[0]

const partsOf = (pool: Pool.Pool<any>): ClientParts =>
  (pool as unknown as Record<typeof clientParts, ClientParts>)[clientParts]

export const makeRoutedClient = (
  primary: Pool.Pool<any>,
  route: Pool.Route,
  options?: Pool.RoutedClientOptions | undefined
): SqlClient.SqlClient => {
  const parts = partsOf(primary)
  const begin = options?.begin
  return makeClient({
    ...parts,
    // Only the statement that opens a transaction differs: the connector's other parts are the pool's own.
    connector: begin === undefined
      ? parts.connector
      : { ...parts.connector, transactions: { ...parts.connector.transactions, begin } },
    // Routed when the statement runs: the route may read the fiber's own settings (a read scope).
    acquirer: route((pool) => partsOf(pool).acquirer),
    statement: (kind, sql, params, transformRows) =>
      route((pool) => partsOf(pool).statement(kind, sql, params, transformRows))
  })
}

/** The transaction tag of the default pool: @effect/sql's own, so everything built on @effect/sql joins in. */
export const defaultTransactionTag: TxTag = SqlClient.TransactionConnection

export const make = <N, E>(
  connector: Connector<N, E>,
  config: PoolConfig.Input | undefined,
  transactionTag: TxTag = defaultTransactionTag
): Effect.Effect<Pool.Pool<N>, PoolConfigError | ConnectError<E>, Scope.Scope> =>
  Effect.gen(function*() {
    // The context's Reactivity when there is one (the layers provide it, shared with the program's
    // `Reactivity.mutation`): a private one never hears the program's mutations.
    const reactivity = yield* Effect.flatMap(
      Effect.serviceOption(Reactivity.Reactivity),
      Option.match({ onNone: () => Reactivity.make, onSome: Effect.succeed })
    )
    const holder: { core?: ResourcePool.ResourcePool<Conn<N>, E> } = {}
    const runtime = makeRuntime<N>(connector, (conn) => {
      const lease = conn.lease
      if (lease !== undefined && holder.core !== undefined) Effect.runSync(holder.core.invalidate(lease))
    })

    const ownConnection = (connection: SqlConnection.Connection): Conn<N> | undefined =>
      connection instanceof GuardedConnection && connection.owner === runtime ? connection.conn : undefined

    /** The client bound to one connection: a transaction of another connection in scope is not joined. */
    const bindClient = (conn: Conn<N>): SqlClient.SqlClient => {
      const bound = Effect.succeed(conn.connection)
      const client = makeClient({
        connector,
        transactionTag,
        reactivity,
        acquirer: bound,
        transactionAcquirer: bound,
        statement: (kind, sql, params, transformRows) => conn.connection.run(kind, sql, params, transformRows, false),
        hold: (f) => f(conn.connection),
        bound: true
      })
      const withTransaction = client.withTransaction
      return Object.assign(client, {
        withTransaction: <A, E2, R>(effect: Effect.Effect<A, E2, R>) =>
          Effect.flatMap(Effect.serviceOption(transactionTag), (option) =>
            option._tag === "Some" && option.value[0] !== conn.connection
              ? Effect.mapInputContext(
                withTransaction(effect),
                (context: Context.Context<R>) =>
                  Context.omit(transactionTag)(context) as Context.Context<R>
              )
              : withTransaction(effect))
      })
    }

    const open = Effect.suspend(() => {
      const conn = new Conn<N>(bindClient)
      const onBroken = (cause: unknown) => {
        conn.markBroken(cause)
        // Idle in the pool: closed and replaced now, not at the next health check or borrow.
        if (conn.lease === undefined && holder.core !== undefined) {
          Effect.runSync(holder.core.discard(conn))
        }
      }
      return Effect.map(connector.connect({ onBroken }), (native) => {
        conn.native = native
        conn.connection = new GuardedConnection(conn, connector.connection(native), runtime)
        return conn
      })
    })

    const pool = yield* CorePool.make<Conn<N>, E, never>({
      acquire: open,
      // A connection closed under a statement still running (cut at shutdown) has it cancelled first: closing
      // the socket alone leaves the backend running it to the end, holding its locks after the pool is gone.
      release: (conn) =>
        conn.running > 0 ?
          Effect.zipRight(bounded(connector.cancel(conn.native), undefined), connector.close(conn.native)) :
          connector.close(conn.native),
      validate: (conn) =>
        conn.broken ? Effect.fail(conn.brokenCause) : connector.validate(conn.native),
      // An interrupted borrower is judged by giveBack: a connection whose statement settled is kept.
      isBroken: Cause.isDie,
      retryable: connector.retryable,
      config
    })
    holder.core = pool
    runtime.giveBack = (conn, exit, spareSettled) => giveBack(conn, exit, spareSettled)
    runtime.keep = (conn) => {
      const lease = conn.lease
      if (lease === undefined) return true
      if (conn.broken || conn.running > 0 || conn.settling !== undefined) return false
      if (connector.inTransaction?.(conn.native) ?? conn.inTransaction) return false
      conn.lease = undefined
      return true
    }

    const lend = (lease: ResourcePool.Lease<Conn<N>>): Conn<N> => {
      const conn = lease.resource
      conn.lease = lease
      conn.id = lease.id
      conn.settled = false
      return conn
    }
    /**
     * Whether a connection given back while `settling` can be reused: its verdict settled it. Interrupted
     * (the pool's shutdown), it stops the cancel rather than wait for it. Bounded here too: on a silent
     * network the settling work can be stuck past its own bound in a step that cannot be interrupted, and
     * only closing the connection (its socket) ends it.
     */
    const verdictOf = (conn: Conn<N>, settling: Fiber.RuntimeFiber<void>): Effect.Effect<boolean> =>
      Effect.timeoutTo(Fiber.await(settling), {
        duration: settleTimeout,
        onSuccess: () => conn.settled && !conn.broken,
        onTimeout: () => false
      }).pipe(Effect.onInterrupt(() => Fiber.interruptFork(settling)))
    /** Before a connection goes back: one left mid-statement or inside a transaction is closed, not reused. */
    const giveBack = (conn: Conn<N>, exit?: Exit.Exit<unknown, unknown>, spareSettled = false): Effect.Effect<void> =>
      Effect.suspend(() => {
        const lease = conn.lease
        conn.lease = undefined
        if (lease === undefined) return Effect.void
        const inTransaction = conn.broken ? false : (connector.inTransaction?.(conn.native) ?? conn.inTransaction)
        // An interrupted borrower may have left anything on the connection (a SET it meant to undo): closed.
        // Only a borrow for one statement of the client, interrupted in that statement which then settled,
        // has left nothing behind.
        const settling = conn.settling
        const interrupted = exit !== undefined && Exit.isFailure(exit) && Cause.isInterrupted(exit.cause) &&
          !(spareSettled && (conn.settled || settling !== undefined))
        if (conn.broken || conn.running > 0 || inTransaction || interrupted) return pool.invalidate(lease)
        // Its interrupted statement's cancel is slow (a loaded machine): held, lent to no one, until the
        // verdict, then kept or closed. Closing it at once closed healthy connections under load.
        if (settling !== undefined) return pool.hold(lease, verdictOf(conn, settling))
        return Effect.void
      })

    /** A lease in the current scope; a connection already known to be broken is dropped and another taken. */
    /**
     * A lease in the current scope (no scope of its own: making one per statement costs more than
     * the statement). A connection the driver already reported broken fails its first statement
     * with the driver's cause and is replaced; `withConnection` skips it instead.
     */
    const get: Effect.Effect<ResourcePool.Lease<Conn<N>>, PoolError<E>, Scope.Scope> = Effect.tap(
      pool.get,
      // Scope.addFinalizer, not Effect.addFinalizer: no FiberRefs to capture and diff on every statement.
      (lease) =>
        Effect.flatMap(Effect.scope, (scope) => {
          const conn = lend(lease)
          return Scope.addFinalizerExit(scope, (exit) => giveBack(conn, exit))
        })
    )

    class Broken {
      readonly _tag = "Broken"
    }
    const broken = new Broken()
    // `left` (connections still to skip) is read from the config only once a broken connection turns up:
    // `pool.config` makes a copy of the configuration, which every borrow would otherwise pay for.
    const use = <B, E2, R>(
      f: (lease: ResourcePool.Lease<Conn<N>>) => Effect.Effect<B, E2, R>,
      spareSettled = false,
      skipBroken = true,
      left?: number
    ): Effect.Effect<B, E2 | PoolError<E>, R> =>
      pool.use<B, E2 | Broken, R>((lease) => {
        const conn = lend(lease)
        if (skipBroken && conn.broken && (left ?? pool.config.maxConnections) > 0) {
          return Effect.zipRight(giveBack(conn), Effect.fail(broken))
        }
        return Effect.onExit(f(lease), (exit) => giveBack(conn, exit, spareSettled))
      }).pipe(
        Effect.catchIf(
          (e): e is Broken => e === broken,
          () => use(f, spareSettled, skipBroken, (left ?? pool.config.maxConnections) - 1)
        )
      ) as Effect.Effect<B, E2 | PoolError<E>, R>

    /**
     * One statement outside a transaction on a borrowed connection: the connection's `run` gives it back (see
     * `GuardedConnection.now`). A connection already known to be broken is skipped, as `use` does.
     */
    const statement = (
      kind: PooledStatement.Kind,
      sql: string,
      params: ReadonlyArray<unknown>,
      transformRows: Connector<any, any>["transformRows"],
      left?: number
    ): Effect.Effect<any, SqlError> =>
      Effect.catchAll(
        pool.use<any, SqlError | Broken, never>((lease) => {
          const conn = lend(lease)
          if (conn.broken && (left ?? pool.config.maxConnections) > 0) {
            return Effect.zipRight(giveBack(conn), Effect.fail(broken))
          }
          return conn.connection.run(kind, sql, params, transformRows, true)
        }),
        (error) =>
          error === broken
            ? statement(kind, sql, params, transformRows, (left ?? pool.config.maxConnections) - 1)
            : Effect.fail(error instanceof SqlError ? error : toSqlError(error as PoolError<E>))
      )

    const acquirer: SqlConnection.Connection.Acquirer = Effect.map(
      Effect.mapError(get, toSqlError),
      (lease) => lease.resource.connection
    )

    const withConnection = <A, E2, R>(f: (conn: PooledConnection<N>) => Effect.Effect<A, E2, R>) =>
      use((lease) => f(lease.resource))

    const withTransaction = <A, E2, R>(
      f: (conn: PooledConnection<N>) => Effect.Effect<A, E2, R>
    ): Effect.Effect<A, E2 | PoolError<E> | SqlError, R> =>
      Effect.flatMap(Effect.serviceOption(transactionTag), (option) => {
        const current = option._tag === "Some" ? ownConnection(option.value[0]) : undefined
        if (current !== undefined) return sql.withTransaction(f(current))
        return withConnection((conn) => conn.sql.withTransaction(f(conn)))
      })

    const clientOptions = {
      connector,
      transactionTag,
      reactivity,
      acquirer,
      transactionAcquirer: acquirer,
      statement,
      // As `transactionAcquirer`: a connection already known to be broken is not skipped (its BEGIN fails with
      // the driver's cause), and only the pool's refusal becomes a SqlError, never the transaction's own error.
      hold: <A, E2, R>(f: (conn: SqlConnection.Connection) => Effect.Effect<A, E2, R>) =>
        Effect.suspend(() => {
          let lent = false
          return Effect.catchAll(
            use(
              (lease) => {
                lent = true
                return f(lease.resource.connection)
              },
              false,
              false
            ),
            (error): Effect.Effect<never, E2 | SqlError> =>
              Effect.fail(lent ? error as E2 : toSqlError(error as PoolError<E>))
          )
        }),
      bound: false
    }
    const sql = makeClient(clientOptions)
    /** Another client over the same connections, with its own compiler and row transforms. */
    const newClient = (options: Pool.ClientOptions): SqlClient.SqlClient =>
      makeClient({
        ...clientOptions,
        statement: options.statements === undefined
          ? clientOptions.statement
          : options.statements(clientOptions.statement),
        connector: {
          ...connector,
          compiler: options.compiler ?? connector.compiler,
          transformRows: "transformRows" in options ? options.transformRows : connector.transformRows
        }
      })

    const service: Pool.Pool<N> = Object.assign(Object.create(pool) as ResourcePool.ResourcePool<Conn<N>, E>, {
      get,
      use,
      sql,
      withConnection,
      withTransaction,
      [clientBuilder]: newClient,
      [clientParts]: clientOptions
    }) as any
    return service
  })

export const tag: Context.Tag<Pool.Pool, Pool.Pool> = Context.GenericTag<Pool.Pool>("@dbpool/sql/Pool")

const toEffect = <N, E, CE, CR>(
  connector: Connector<N, E> | Effect.Effect<Connector<N, E>, CE, CR>
): Effect.Effect<Connector<N, E>, CE, CR> => Effect.isEffect(connector) ? connector : Effect.succeed(connector)

export const layer = <N, E, CE = never, CR = never>(
  connector: Connector<N, E> | Effect.Effect<Connector<N, E>, CE, CR>,
  config?: PoolConfig.Input | undefined
): Layer.Layer<Pool.Pool | SqlClient.SqlClient, PoolConfigError | ConnectError<E> | CE, Exclude<CR, Scope.Scope>> =>
  Layer.scopedContext(
    Effect.gen(function*() {
      const c = yield* toEffect(connector)
      const service = yield* make(c, config)
      return Context.make(tag, service as unknown as Pool.Pool).pipe(Context.add(SqlClient.SqlClient, service.sql))
    })
  ).pipe(Layer.provide(Reactivity.layer))

export const makeTag = <const Id extends string>(id: Id): Pool.PoolTag<Id> => {
  const self = Context.GenericTag<Pool.PoolTag.Identifier<Id>, Pool.Pool>(`@dbpool/sql/Pool/${id}`)
  const transactionTag: TxTag = Context.GenericTag<any, readonly [SqlConnection.Connection, number]>(
    `@dbpool/sql/Pool/${id}/TransactionConnection`
  )
  return Object.assign(self, {
    withConnection: <A, E, R>(f: (conn: PooledConnection) => Effect.Effect<A, E, R>) =>
      Effect.flatMap(self, (pool) => pool.withConnection(f)),
    withTransaction: <A, E, R>(f: (conn: PooledConnection) => Effect.Effect<A, E, R>) =>
      Effect.flatMap(self, (pool) => pool.withTransaction(f)),
    sql: Effect.map(self, (pool) => pool.sql),
    stats: Effect.flatMap(self, (pool) => pool.stats),
    changes: Stream.unwrap(Effect.map(self, (pool) => pool.changes)),
    events: Stream.unwrap(Effect.map(self, (pool) => pool.events)),
    metrics: Effect.flatMap(self, (pool) => pool.metrics),
    layer: <N, E, CE = never, CR = never>(
      connector: Connector<N, E> | Effect.Effect<Connector<N, E>, CE, CR>,
      config?: PoolConfig.Input | undefined
    ) =>
      Layer.scoped(
        self,
        Effect.flatMap(
          toEffect(connector),
          (c) =>
            make(c, { name: id, ...config }, transactionTag) as unknown as Effect.Effect<
              Pool.Pool,
              PoolConfigError | ConnectError<E>,
              Scope.Scope
            >
        )
      ).pipe(Layer.provide(Reactivity.layer)) as Layer.Layer<
        Pool.PoolTag.Identifier<Id>,
        PoolConfigError | ConnectError<E> | CE,
        Exclude<CR, Scope.Scope>
      >
  }) as unknown as Pool.PoolTag<Id>
}
