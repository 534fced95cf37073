/**
 * Each connection's cache of named prepared statements: a statement with
 * parameters is parsed (and planned) by the server once per connection, and
 * afterwards only bound and executed. The server's CPU is what it saves (on a
 * machine it shares with its clients, their throughput too).
 *
 * node-postgres does the protocol part: given a `name`, it sends Parse only
 * for a name it has not seen parse on that client (`parsedStatements`). This
 * cache decides the names: one per statement text, at most `max` per
 * connection, the least recently used one deallocated on the server when a
 * new one would exceed the bound. It forgets what the server no longer has:
 * after `DISCARD ALL` or `DEALLOCATE`, and after the errors that mean a
 * statement is gone (26000) or must be prepared again (0A000, a table's
 * columns changed under the statement's plan).
 */
import type Pg from "pg"

/** Every name this cache gives starts with it: a user's own `DEALLOCATE` of another name is not ours. */
const prefix = "dbpool_s"

/** Statements after which the server has none of the session's prepared statements (or not one of ours). */
const resetPattern = /^\s*(DISCARD\s+ALL|DEALLOCATE\s+(PREPARE\s+)?(ALL|"?dbpool_s\d+"?))\s*;?\s*$/i

/** node-postgres' own record of the statements it parsed on a client (private fields). */
interface Parsed {
  readonly connection?: {
    parsedStatements?: Record<string, string>
    submittedNamedStatements?: Record<string, string>
  }
}

/** What to do after a failed statement that had a name. */
export type Stale = "none" | "gone" | "replan"

/** 26000: no such prepared statement. 0A000 "cached plan must not change result type": a table changed under it. */
export const staleOf = (error: unknown): Stale => {
  if (typeof error !== "object" || error === null) return "none"
  const { code, message } = error as { code?: unknown; message?: unknown }
  if (code === "26000") return "gone"
  if (code === "0A000" && typeof message === "string" && /cached plan must not change result type/i.test(message)) {
    return "replan"
  }
  return "none"
}

export class PreparedCache {
  /** Statement text → its name, least recently used first (a `Map` keeps insertion order). */
  private readonly names = new Map<string, string>()
  private counter = 0
  /** Names to drop on the server, waiting for a session that is not in a failed transaction. */
  private pending: Array<string> = []

  constructor(readonly client: Pg.Client, readonly max: number) {}

  /** How many statements the cache holds. */
  get size(): number {
    return this.names.size
  }

  /** The name to run `text` under: its own when cached (now the most recently used), else a new one. */
  nameOf(text: string): string {
    const names = this.names
    const known = names.get(text)
    if (known !== undefined) {
      if (this.pending.length > 0) this.flush()
      // Moved to the end: the most recently used.
      names.delete(text)
      names.set(text, known)
      return known
    }
    const name = `${prefix}${++this.counter}`
    names.set(text, name)
    if (names.size > this.max) {
      const [oldest, oldName] = names.entries().next().value as [string, string]
      names.delete(oldest)
      this.deallocate(oldName)
    }
    if (this.pending.length > 0) this.flush()
    return name
  }

  /** `text` ran: a `DISCARD ALL` or `DEALLOCATE` of ours leaves the server without the statements. */
  ran(text: string): void {
    const c = text.charCodeAt(text.search(/\S/))
    // 'D' or 'd': the test below only for the few statements that may be one of those.
    if ((c === 68 || c === 100) && resetPattern.test(text)) this.reset()
  }

  /**
   * A named statement failed: "gone" (the server does not have it: something dropped the session's
   * statements behind our back) forgets them all; "replan" forgets that one and deallocates it.
   */
  failed(text: string, stale: Stale): void {
    if (stale === "gone") this.reset()
    else if (stale === "replan") {
      const name = this.names.get(text)
      if (name === undefined) return
      this.names.delete(text)
      this.deallocate(name)
    }
  }

  /** Forgets every statement, here and in node-postgres' record: the server has none of them. */
  reset(): void {
    for (const name of this.names.values()) this.forget(name)
    this.names.clear()
    this.pending = []
  }

  private forget(name: string): void {
    const connection = (this.client as unknown as Parsed).connection
    if (connection?.parsedStatements !== undefined) delete connection.parsedStatements[name]
    if (connection?.submittedNamedStatements !== undefined) delete connection.submittedNamedStatements[name]
  }

  /** Forgotten here at once, dropped on the server by the next `flush`. */
  private deallocate(name: string): void {
    this.forget(name)
    this.pending.push(name)
  }

  /**
   * Drops the forgotten statements on the server: queued on the client before the statement about to run.
   * Not in a failed transaction, where DEALLOCATE fails too: they wait for the next statement outside it.
   */
  private flush(): void {
    const status = (this.client as unknown as { getTransactionStatus?: () => string | null }).getTransactionStatus?.()
    if (status === "E") return
    for (const name of this.pending) this.client.query(`DEALLOCATE ${name}`, () => {})
    this.pending = []
  }
}
