/** The errors a pipelined statement fails with: the same as without pipelining. */
import * as ConnectionError from "@dbpool/sql/ConnectionError"
import { SqlError } from "@effect/sql/SqlError"
import type * as Duration from "effect/Duration"
import { Lost } from "./pipelineLane.js"

/** A pool's error (timeout, closed) as a statement's `SqlError`, its message kept. */
export const fromPool = (cause: unknown): SqlError =>
  new SqlError({ cause, message: cause instanceof Error ? cause.message : String(cause) })

/** A statement's failure: a lost connection (ours or by its code) is a `ConnectionLostError`. */
export const statementError = (cause: unknown, isConnectionError: (cause: unknown) => boolean): SqlError => {
  if (cause instanceof Lost || isConnectionError(cause)) {
    const lost = ConnectionError.lost("postgresql", cause instanceof Lost ? cause.cause : cause)
    return new SqlError({ message: lost.message, cause: lost })
  }
  return new SqlError({
    cause,
    message: `Failed to execute statement: ${cause instanceof Error ? cause.message : String(cause)}`
  })
}

/** A statement past `queryTimeout`: the same error as without pipelining, saying that its connection lives on. */
export const timedOut = (timeout: Duration.Duration): SqlError => {
  const cause = new ConnectionError.QueryTimeoutError({ system: "postgresql", timeout, pipelined: true })
  return new SqlError({ message: cause.message, cause })
}
