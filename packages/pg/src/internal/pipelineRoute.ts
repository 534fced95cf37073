/**
 * Which statements may share a connection. A pipelined statement runs in an implicit transaction of its
 * own; a statement that opens, ends or spans a transaction block, or that changes the protocol's flow
 * (COPY), would drag the statements sent after it on the same connection into its state. Those take a
 * connection of their own, as without pipelining. The test looks at the start of every statement of the
 * text (after a `;`), so a false positive (`END` closing a DO block) costs only the exclusive path.
 */
const exclusive =
  /(?:^|;)\s*(?:BEGIN|START\s+TRANSACTION|COMMIT|END|ROLLBACK|ABORT|SAVEPOINT|RELEASE|PREPARE\s+TRANSACTION|COPY|DISCARD|DEALLOCATE|LISTEN|UNLISTEN)\b/i

/** Whether `sql` may be sent over a shared, pipelined connection. */
export const pipelinable = (sql: string): boolean => !exclusive.test(sql)
