/** The processes benchmark's lines, table and section of docs/benchmarks.md. */
import type * as Processes from "../Processes.js"

export const heading = "## More than one application process: N processes, direct and through PgBouncer"

export const targetLabel = (
  target: Processes.TargetId,
  report?: Pick<Processes.Report, "bouncerPoolSize" | "lowMaxConnections" | "maxConnections">
): string => {
  const low = report === undefined ? "low" : String(report.lowMaxConnections)
  switch (target) {
    case "direct":
      return `direct (max_connections ${report?.maxConnections ?? 100})`
    case "pgbouncer":
      return `PgBouncer, transaction mode, pool ${report?.bouncerPoolSize ?? "-"} (server max_connections ${low})`
    case "direct-low":
      return `direct (max_connections ${low})`
  }
}

const workloadLabel: Record<Processes.Workload, string> = {
  select1: "SELECT 1 (q/s)",
  transaction: "transaction (tx/s)"
}

const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }) : "-"

const shape = (row: Processes.Row): string => `${row.processes} × ${row.pool} (${row.workers} workers each)`

export const caseLine = (
  row: Processes.Row,
  settings: Pick<Processes.Report, "bouncerPoolSize" | "lowMaxConnections" | "maxConnections">
): string =>
  `processes ${targetLabel(row.target, settings)} ${shape(row)} ${row.workload}: ${fmt(row.opsPerSecond)}/s, ` +
  `p99 ${fmt(row.p99Ms, 2)} ms, server sessions peak ${fmt(row.server.peakOpen)} open / ${
    fmt(row.server.peakBusy)
  } busy, pools hold ${row.connections.total} (fewest ${row.connections.fewest}), errors ${row.errors} ` +
  `(too many connections ${row.tooManyConnections}), failed connects ${row.connectFailures}` +
  (row.startFailures.length > 0 ? `, ${row.startFailures.length} process(es) could not start` : "")

export const table = (report: Processes.Report): string => {
  const header = [
    "target",
    "N × P",
    "workload",
    "ops/s, all processes (lowest–highest round)",
    "p99 ms",
    "pool connections: all / fewest in a process",
    "server sessions: peak open / peak busy / median busy",
    "clients waiting at PgBouncer (peak)",
    "errors (too many connections)",
    "failed connects",
    "prepared statements on a server session"
  ]
  const rows = report.rows.map((r) =>
    `| ${
      [
        targetLabel(r.target, report),
        `${r.processes} × ${r.pool} = ${r.processes * r.pool}`,
        workloadLabel[r.workload],
        r.opsRange[0] === r.opsRange[1]
          ? fmt(r.opsPerSecond)
          : `${fmt(r.opsPerSecond)} (${fmt(r.opsRange[0])}–${fmt(r.opsRange[1])})`,
        fmt(r.p99Ms, 2),
        `${fmt(r.connections.total)} / ${fmt(r.connections.fewest)}`,
        `${fmt(r.server.peakOpen)} / ${fmt(r.server.peakBusy)} / ${fmt(r.server.medianBusy)}`,
        r.peakWaitingAtBouncer === null ? "" : fmt(r.peakWaitingAtBouncer),
        `${fmt(r.errors)} (${fmt(r.tooManyConnections)})`,
        fmt(r.connectFailures),
        r.workload === "transaction" && r.preparedOnServer !== null ? fmt(r.preparedOnServer) : ""
      ].join(" | ")
    } |`
  )
  const notes = report.rows.flatMap((r) => {
    const where = `${targetLabel(r.target, report)}, ${r.processes} × ${r.pool}, ${r.workload}`
    const kinds = Object.entries(r.errorKinds).map(([kind, n]) => `${kind}: ${n}`)
    return [
      ...(kinds.length > 0 ? [`- ${where}: errors by kind: ${kinds.join("; ")}`] : []),
      ...(r.workload === "select1" && r.startFailures.length > 0
        ? [`- ${where}: pools that could not be built: ${r.startFailures.join("; ")}`]
        : [])
    ]
  })
  return [
    `| ${header.join(" | ")} |`,
    `| ${header.map((_, i) => i < 3 ? "---" : "---:").join(" | ")} |`,
    ...rows,
    ...(notes.length > 0 ? ["", ...notes] : [])
  ].join("\n")
}

export const markdown = (
  report: Processes.Report,
  machine: { readonly command: string; readonly description: string }
): string =>
  [
    heading,
    "",
    `N child processes, each with a dbpool \`PgPool\` of P = ${report.pool} connections (min = max) and`,
    `${report.workers} fibers looping the workload, run it together: ${report.warmupMs} ms of warm-up, then`,
    `${report.durationMs} ms counted. Operations finishing in the window count; p99 is over every operation of`,
    "every process, from asking to the result. For each N, the processes of the three targets are started",
    `once; in each of ${report.rounds} round(s) the targets take turns (the others idle), and each figure is the`,
    "median over the rounds (peaks: the highest; errors: summed). The servers are disposable PostgreSQL servers of",
    "@dbpool/testing (not the machine's main server), one per target; the processes connect as a role that is",
    "not a superuser, so 3 of each server's slots (`superuser_reserved_connections`) are not theirs. PgBouncer",
    `1.18 runs in transaction mode with \`default_pool_size\` ${report.bouncerPoolSize} in front of a server whose`,
    `\`max_connections\` is ${report.lowMaxConnections}, like the server of the low direct rows.`,
    "The pools have `acquireTimeout` 2 s and connect retries shorter than dbpool's defaults (250 ms, 2 retries),",
    "so that a process refused by a full server gives up within the run; failed connects are the pools'",
    "`connectFailures` from their start. Server sessions are the role's backends in `pg_stat_activity`, sampled",
    "every 50 ms during the window (busy: not idle); clients waiting at PgBouncer are `SHOW POOLS`' `cl_waiting`,",
    "every 100 ms. After the transaction workload each process runs",
    "`SELECT count(*) FROM pg_prepared_statements` on P connections at once: the last column is the most named",
    "prepared statements one server session held. A worker whose operation fails waits 10 ms before its next.",
    "The children, PgBouncer and the servers share the machine's CPUs: on a busy machine a figure swings from",
    "round to round (the range beside it); compare targets at the same N, not absolute figures.",
    "",
    `Command: \`${machine.command}\``,
    "",
    machine.description,
    "",
    table(report),
    ""
  ].join("\n")

export const sectionOf = (text: string): string | undefined => {
  const start = text.indexOf(heading)
  if (start < 0) return undefined
  const after = text.indexOf("\n## ", start + heading.length)
  return after < 0 ? text.slice(start) : text.slice(start, after + 1)
}

export const replaceSection = (text: string, section: string): string => {
  const start = text.indexOf(heading)
  if (start < 0) return `${text.replace(/\n*$/, "")}\n\n${section.replace(/\n*$/, "")}\n`
  const after = text.indexOf("\n## ", start + heading.length)
  const rest = after < 0 ? "" : text.slice(after + 1)
  return `${text.slice(0, start)}${section.replace(/\n*$/, "")}\n${rest === "" ? "" : `\n${rest}`}`
}
