/**
 * One lane: a pooled connection lent to the pipeline, its socket read by our own parser while it is, and
 * the statements in flight on it, answered in the order they were sent (the server answers in order, each
 * statement ending with its ReadyForQuery). node-postgres' client is left as it was, idle; it reads the
 * socket again once the lane gives the connection back.
 */
import type Pg from "pg"
import type { BackendMessage, ReadyForQueryMessage } from "pg-protocol/dist/messages.js"
import { Parser } from "pg-protocol/dist/parser.js"
import type { PipelinedStatement } from "./pipelineStatement.js"

/** What a lane tells its pipeline. */
export interface LaneOwner<L> {
  /** A statement was answered (a slot is free). */
  readonly answered: (lane: Lane<L>) => void
  /** The connection is gone; every statement on it has failed. */
  readonly lost: (lane: Lane<L>) => void
  /** A statement was given up by its caller: its answer may take long (see pipeline.ts, `watch`). */
  readonly abandoned: (lane: Lane<L>) => void
}

/** The parts of node-postgres' client the lane works with (not in its typings). */
interface ClientInternals {
  readonly connection: {
    readonly stream: NodeJS.ReadWriteStream & {
      readonly destroyed: boolean
      readonly writable: boolean
      cork(): void
      uncork(): void
      destroy(error?: Error): void
    }
    emit(event: string, ...args: Array<unknown>): boolean
  }
  readonly _types: unknown
  _txStatus: string | null
}

/** Messages that are not part of any statement's answer: node-postgres' client handles them as usual. */
const asynchronous = new Set(["notice", "notification", "parameterStatus"])

type Listener = (...args: Array<any>) => void

/** Why the statements in flight failed when their connection went: always a lost connection to their callers. */
export class Lost {
  constructor(readonly cause: unknown) {}
}

export class Lane<L = unknown> {
  /** Statements sent and not yet answered, oldest first. */
  readonly pending: Array<PipelinedStatement> = []
  /** How many of `pending` their callers gave up. */
  abandonedCount = 0
  /** Slots promised to waiting statements that have not been sent yet. */
  promised = 0
  /** Takes no new statement; the connection goes back once nothing is in flight. */
  draining = false
  /** Close the connection once drained instead of reusing it (a statement timed out, a transaction was left open). */
  dirty = false
  closed = false
  /** Housekeeping rounds it has spent with nothing in flight. */
  idleRounds = 0
  /** The transaction status of the last ReadyForQuery. */
  status = "I"
  private readonly client: ClientInternals
  private readonly parser = new Parser()
  private readonly saved: Array<Listener>
  private corked = false
  private lostCause: unknown = undefined

  constructor(
    native: Pg.Client,
    readonly lease: L,
    private readonly owner: LaneOwner<L>,
    /** When it took its connection (the clock's milliseconds). */
    readonly heldSince: number
  ) {
    this.client = native as unknown as ClientInternals
    const stream = this.client.connection.stream
    // Take the socket over: node-postgres' parser stops reading it until `giveBack`.
    this.saved = stream.listeners("data") as Array<Listener>
    for (const listener of this.saved) stream.removeListener("data", listener)
    stream.on("data", this.onData)
    stream.on("error", this.onError)
    stream.on("close", this.onClose)
  }

  /**
   * Whether the lane can take the connection over: its socket can still be written (a connection the server
   * closed while idle cannot), and node-postgres has nothing in flight or queued on it.
   */
  static usable(native: Pg.Client): boolean {
    const client = native as unknown as Partial<ClientInternals> & {
      readonly readyForQuery?: boolean
      readonly _activeQuery?: unknown
      readonly _queryQueue?: ReadonlyArray<unknown>
    }
    const stream = client.connection?.stream
    return stream !== undefined && !stream.destroyed && stream.writable && client.readyForQuery === true &&
      client._activeQuery == null && (client._queryQueue?.length ?? 0) === 0
  }

  /** Statements in flight or promised. */
  get load(): number {
    return this.pending.length + this.promised
  }

  send(statement: PipelinedStatement): void {
    const stream = this.client.connection.stream
    statement.types = this.client._types
    this.pending.push(statement)
    // Statements sent in the same tick leave in one write.
    if (!this.corked) {
      this.corked = true
      stream.cork()
      process.nextTick(this.uncork)
    }
    for (const message of statement.messages) stream.write(message)
  }

  /** Its caller gave up: the statement cannot be taken back, its answer will be read and dropped. */
  abandon(statement: PipelinedStatement): void {
    if (statement.abandoned || statement.resume === undefined) return
    statement.abandoned = true
    statement.resume = undefined
    this.abandonedCount++
    this.owner.abandoned(this)
  }

  /** Whether every statement in flight was given up: cancelling what runs now hurts no caller. */
  get onlyAbandoned(): boolean {
    return this.pending.length > 0 && this.abandonedCount === this.pending.length
  }

  /**
   * Fails every statement in flight now (the pool is closing): their callers are told the connection is lost,
   * and the statements are given up, so the owner cancels them on the server one after the other.
   */
  cut(cause: unknown): void {
    const lost = new Lost(cause)
    this.draining = true
    for (const statement of this.pending) {
      if (statement.abandoned) continue
      statement.fail(lost)
      statement.abandoned = true
      this.abandonedCount++
    }
    if (this.abandonedCount > 0) this.owner.abandoned(this)
  }

  /** Ends the connection under the lane: every statement on it fails with `cause`. */
  destroy(cause: unknown): void {
    if (this.closed) return
    this.lostCause ??= cause
    this.client.connection.stream.destroy()
    this.onClose()
  }

  /**
   * Gives node-postgres its socket back (nothing in flight). Says whether the session can be reused: idle,
   * outside a transaction, nothing half read.
   */
  giveBack(): boolean {
    const stream = this.client.connection.stream
    this.closed = true
    stream.removeListener("data", this.onData)
    stream.removeListener("error", this.onError)
    stream.removeListener("close", this.onClose)
    for (const listener of this.saved) stream.on("data", listener)
    // node-postgres reports the status it last read; the pool reads it to tell an open transaction.
    this.client._txStatus = this.status
    const partial = (this.parser as unknown as { bufferLength: number }).bufferLength > 0
    return !this.dirty && !partial && this.status === "I" && !stream.destroyed
  }

  private readonly uncork = (): void => {
    this.corked = false
    this.client.connection.stream.uncork()
  }

  /** Whether a chunk is being parsed now (its ReadyForQuery messages report to the owner as they come). */
  reading = false
  private askAgain = false

  /** Reports `answered` again once the current chunk is parsed. */
  afterRead(): void {
    this.askAgain = true
  }

  private readonly onData = (buffer: Buffer): void => {
    this.reading = true
    try {
      this.parser.parse(buffer, this.onMessage)
    } finally {
      this.reading = false
    }
    if (this.askAgain && !this.closed) {
      this.askAgain = false
      this.owner.answered(this)
    }
  }

  private readonly onMessage = (msg: BackendMessage): void => {
    if (asynchronous.has(msg.name)) {
      this.client.connection.emit(msg.name, msg)
      return
    }
    if (msg.name === "copyInResponse" || msg.name === "copyOutResponse") {
      // Routed to connections of their own (pipelineRoute.ts); reached anyway (a function running COPY),
      // the messages after it would be read as COPY data: the connection cannot be trusted any more.
      return this.destroy(new Error("COPY cannot run on a pipelined connection"))
    }
    const statement = this.pending[0]
    if (statement === undefined) {
      // Nothing was asked: a FATAL error before the server closes (terminated by the administrator).
      if (msg.name === "error") this.lostCause = msg
      return
    }
    if (msg.name !== "readyForQuery") return statement.onMessage(msg)
    this.pending.shift()
    this.status = (msg as ReadyForQueryMessage).status
    // A statement left a transaction open: the statements behind it would join it. None is added.
    if (this.status !== "I") {
      this.draining = true
      this.dirty = true
    }
    if (statement.abandoned) this.abandonedCount--
    statement.finish()
    this.owner.answered(this)
  }

  private readonly onError = (error: Error): void => {
    this.lostCause ??= error
  }

  private readonly onClose = (): void => {
    if (this.closed) return
    this.closed = true
    const cause = this.lostCause ?? new Error("Connection terminated unexpectedly")
    const failed = this.pending.splice(0)
    this.abandonedCount = 0
    const lost = new Lost(cause)
    for (const statement of failed) statement.fail(lost)
    this.owner.lost(this)
  }
}
