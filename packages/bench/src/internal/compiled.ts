/**
 * dbpool runs compiled in the benchmark, as its users and its peers run: the
 * JavaScript `tsc` writes to packages/<name>/dist/esm (`npm run build`), not
 * the TypeScript sources through tsx. tsx compiles with esbuild's `keepNames`,
 * which wraps every named function and closure in a `__name(fn, "name")` call
 * made at each creation: a cost on dbpool's hot path that no user pays and
 * that pg, mysql2, @effect/sql-pg or tarn (compiled JavaScript in
 * node_modules) do not pay either.
 *
 * Each public dbpool package's source package.json exports its dist/esm under
 * the export condition below, before the sources (`default`), so that only a
 * process started with `--conditions=@dbpool/dist` loads the compiled output;
 * tsc, vitest, eslint and the examples keep reading the sources. The
 * published package.json is generated (scripts/pack-dist.mjs) and has no such
 * condition.
 */
import { fileURLToPath } from "node:url"

/** The export condition that selects dbpool's compiled output. */
export const condition = "@dbpool/dist"

/** The dbpool packages the benchmark measures. */
const measured = [
  "@dbpool/core",
  "@dbpool/sql",
  "@dbpool/pg",
  "@dbpool/mysql",
  "@dbpool/observability",
  "@dbpool/dashboard"
] as const

/**
 * The export conditions this process was started with (`--conditions=X`,
 * `--conditions X`, `-C X`), as flags for a child process, so that the memory
 * benchmark's children resolve dbpool as the parent does.
 */
export const conditionFlags = (execArgv: ReadonlyArray<string> = process.execArgv): ReadonlyArray<string> =>
  execArgv.flatMap((arg, i) => {
    const inline = /^(?:--conditions|-C)=(.+)$/.exec(arg)
    if (inline !== null) return [`--conditions=${inline[1]}`]
    const next = execArgv[i + 1]
    return (arg === "--conditions" || arg === "-C") && next !== undefined ? [`--conditions=${next}`] : []
  })

/**
 * The measured packages that did not resolve to their compiled output (empty
 * when all did), each with the file it resolved to.
 */
export const notCompiled = (): ReadonlyArray<string> =>
  measured.flatMap((name) => {
    const file = fileURLToPath(import.meta.resolve(name))
    return /[\\/]dist[\\/]esm[\\/][^\\/]+\.js$/.test(file) ? [] : [`${name} -> ${file}`]
  })

/**
 * Throws unless every measured dbpool package resolves to its compiled output:
 * a benchmark of the sources would charge dbpool for tsx's wrappers.
 */
export const assertCompiled = (): void => {
  const wrong = notCompiled()
  if (wrong.length > 0) {
    throw new Error(
      [
        "the benchmark must run dbpool's compiled output (dist/esm), not its TypeScript sources; these resolved",
        "to sources:",
        ...wrong.map((w) => `  ${w}`),
        `Run it with \`npm run bench\` (it builds, then starts tsx with --conditions=${condition}).`
      ].join("\n")
    )
  }
}

/** The sentence the written report says it with. */
export const note =
  "dbpool runs compiled, as its users run it and as its peers (pg, mysql2, @effect/sql-pg, tarn, …) " +
  "run: the JavaScript `tsc` writes to dist/esm (`npm run bench` builds first, then resolves dbpool's packages there " +
  `through the \`${condition}\` export condition); only the benchmark's own code runs as TypeScript through tsx.`
