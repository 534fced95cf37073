/**
 * One statement on a pipelined connection: its messages, as node-postgres would send them, and its answer,
 * collected as node-postgres would (the same `Result` objects, type parsers and row shapes), so a program
 * sees the same values with pipelining on or off.
 */
import Pg from "pg"
import { serialize } from "pg-protocol"
import type {
  BackendMessage,
  CommandCompleteMessage,
  DataRowMessage,
  RowDescriptionMessage
} from "pg-protocol/dist/messages.js"

/** What the caller asked for: rows (`execute`), node-postgres' result (`executeRaw`), arrays (`executeValues`). */
export type Shape = "rows" | "raw" | "values"

/** node-postgres' `Result`: rows parsed with the connection's type parsers. */
interface Result {
  command: string | null
  rows: Array<unknown>
  addFields(fields: RowDescriptionMessage["fields"]): void
  addCommandComplete(msg: CommandCompleteMessage): void
  parseRow(fields: DataRowMessage["fields"]): unknown
}
type ResultClass = new(rowMode: string | undefined, types: unknown) => Result

const PgResult = (Pg as unknown as { Result: ResultClass }).Result
/** node-postgres' own conversion of parameters (dates, buffers, arrays, JSON), so values bind as without pipelining. */
const prepareValue = (Pg as unknown as { utils: { prepareValue: (value: unknown) => unknown } }).utils.prepareValue

/**
 * A statement without parameters goes as a simple Query (node-postgres sends it so too: its text may hold
 * several statements); with parameters, Parse/Bind/Describe/Execute. Either way one Sync ends it, so an
 * error stops only this statement: the server skips to that Sync, then runs the next one.
 */
const wire = (sql: string, params: ReadonlyArray<unknown>): ReadonlyArray<Buffer> =>
  params.length === 0 ? [serialize.query(sql)] : [
    serialize.parse({ text: sql }),
    serialize.bind({ values: params as Array<unknown>, valueMapper: prepareValue }),
    serialize.describe({ type: "P" }),
    serialize.execute({}),
    serialize.sync()
  ]

export class PipelinedStatement {
  /** The messages to write (built first: a parameter that cannot be converted fails before anything is sent). */
  readonly messages: ReadonlyArray<Buffer>
  /** Its caller gave up (interrupted, timed out): the answer is read and dropped. */
  abandoned = false
  /** Called once with the answer; cleared when the caller gives up. */
  resume: ((error: unknown, value: unknown) => void) | undefined = undefined
  /** The connection's type parsers, set when the statement is sent. */
  types: unknown = undefined
  private result: Result | undefined = undefined
  private results: Result | Array<Result> | undefined = undefined
  private error: unknown = undefined

  constructor(sql: string, params: ReadonlyArray<unknown>, readonly shape: Shape) {
    this.messages = wire(sql, params)
  }

  /** A message of this statement's answer other than the final ReadyForQuery. */
  onMessage(msg: BackendMessage): void {
    if (this.abandoned) return
    switch (msg.name) {
      case "rowDescription":
        this.next().addFields((msg as RowDescriptionMessage).fields)
        return
      case "dataRow": {
        if (this.error !== undefined) return
        const result = this.result ?? this.next()
        try {
          result.rows.push(result.parseRow((msg as DataRowMessage).fields))
        } catch (error) {
          // a type parser threw: the statement fails with it once its answer is complete, as in node-postgres
          this.error = error
        }
        return
      }
      case "commandComplete":
        this.next().addCommandComplete(msg as CommandCompleteMessage)
        return
      case "error":
        if (this.error === undefined) this.error = msg
        return
    }
  }

  /** The answer is complete (its ReadyForQuery arrived): the caller gets it. */
  finish(): void {
    const resume = this.resume
    this.resume = undefined
    if (resume === undefined) return
    if (this.error !== undefined) return resume(this.error, undefined)
    const results = this.results ?? this.next()
    switch (this.shape) {
      case "raw":
        return resume(undefined, results)
      case "rows":
        return resume(undefined, Array.isArray(results) ? results.map((r) => r.rows) : results.rows)
      case "values":
        return resume(undefined, (results as Result).rows)
    }
  }

  /** Fails the caller (the connection was lost); an error the server sent first wins, it says more. */
  fail(cause: unknown): void {
    const resume = this.resume
    this.resume = undefined
    resume?.(this.error ?? cause, undefined)
  }

  /** A new result set starts when the current one is complete (several statements in one text). */
  private next(): Result {
    const current = this.result
    if (current !== undefined && current.command === null) return current
    const result = new PgResult(this.shape === "values" ? "array" : undefined, this.types)
    this.result = result
    if (this.results === undefined) this.results = result
    else if (Array.isArray(this.results)) this.results.push(result)
    else this.results = [this.results, result]
    return result
  }
}
