/**
 * What every example shares: where its SQLite file lives, and running it
 * when the file is started directly (`npx tsx src/examples/<name>.ts`) rather
 * than imported by the tests.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import type * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as url from "node:url"

/**
 * A fresh database file for an example: `<os.tmpdir()>/dbpool-examples/<name>.db`,
 * emptied first so each run starts from nothing.
 *
 * @example
 * ```ts
 * import { exampleFile } from "@dbpool/examples/examples/run"
 *
 * const filename = exampleFile("basic-setup")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const exampleFile = (name: string): string => {
  const dir = process.env.DBPOOL_EXAMPLES_DIR ?? path.join(os.tmpdir(), "dbpool-examples")
  fs.mkdirSync(dir, { recursive: true })
  const file = path.join(dir, `${name}.db`)
  for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(file + suffix, { force: true })
  return file
}

/**
 * The PostgreSQL server of the examples: `DATABASE_URL`, else the local test
 * server (`postgres://postgres@127.0.0.1:5432/test`). Redacted: a URL may hold
 * a password, which must never reach a log.
 *
 * @example
 * ```ts
 * import { PgPool } from "@dbpool/pg"
 * import { databaseUrl } from "@dbpool/examples/examples/run"
 *
 * const PoolLive = PgPool.layer({ url: databaseUrl() })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const databaseUrl = (): Redacted.Redacted =>
  Redacted.make(process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test")

/**
 * Runs `main` with `NodeRuntime.runMain` when the module at `moduleUrl` is
 * the program started by Node (not when a test imports it).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { runIfMain } from "@dbpool/examples/examples/run"
 *
 * runIfMain(import.meta.url, Effect.log("hello"))
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const runIfMain = <A, E>(moduleUrl: string, main: Effect.Effect<A, E>): void => {
  const entry = process.argv[1]
  if (entry !== undefined && path.resolve(entry) === url.fileURLToPath(moduleUrl)) NodeRuntime.runMain(main)
}
