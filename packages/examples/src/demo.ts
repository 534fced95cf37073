/**
 * `npm start`: the dbpool demo. Twenty workers share a small pool on an
 * embedded SQLite file (or the server in `DATABASE_URL`) while the pool's
 * live statistics are shown, and the live dashboard is served (its address is
 * printed; `DBPOOL_DASHBOARD_PORT` fixes the port, else a free one); then a
 * summary. Exits 0 when the run was clean. `npm start -- --keep` keeps the
 * pool and the dashboard open after the scenario, until Ctrl-C.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Demo from "./demo/Demo.js"
import * as Scenario from "./demo/Scenario.js"

const write = (text: string) => void process.stdout.write(text)

const program = Demo.run({
  ...Scenario.defaults,
  url: process.env.DATABASE_URL,
  // `npm start` runs this file from the examples workspace; a relative sqlite:<file> means the user's
  // directory, which npm keeps in INIT_CWD.
  cwd: process.env.INIT_CWD ?? process.cwd(),
  tty: process.stdout.isTTY === true,
  columns: process.stdout.columns,
  dashboardPort: Number(process.env.DBPOOL_DASHBOARD_PORT ?? 0),
  keep: process.argv.slice(2).includes("--keep"),
  write
}).pipe(
  Effect.tap((summary) => Console.log(Demo.formatSummary(summary).join("\n"))),
  Effect.tapError((error) =>
    error instanceof Demo.DemoFailed
      ? Console.error(`${Demo.formatSummary(error.summary).join("\n")}\n\nThe demo failed: ${error.message}`)
      : Console.error(`The demo cannot run: ${error.message}`)
  )
)

// The errors are printed above. Exit code 0 on success, 130 when stopped with Ctrl-C (after the pool closed
// every connection), 1 on failure.
NodeRuntime.runMain(program, {
  disableErrorReporting: true,
  teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) ? 0 : Cause.isInterruptedOnly(exit.cause) ? 130 : 1)
})
