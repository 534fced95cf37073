/**
 * uPlot's script and style, read from node_modules once: the page needs no
 * CDN and no build step. Found from this package when its path is known (the
 * CommonJS build), else from the program's directory.
 */
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"

export interface Assets {
  readonly script: string
  readonly style: string
}

const candidates = (): ReadonlyArray<string> => {
  const bases: Array<string> = []
  // CommonJS: this file's own path. ES modules have no __filename; there the program's directory (and the
  // package itself, found from there) is where npm put uplot, a dependency of this package.
  if (typeof __filename === "string") bases.push(__filename)
  const cwd = path.join(process.cwd(), "noop.js")
  try {
    bases.push(createRequire(cwd).resolve("@dbpool/dashboard/package.json"))
  } catch {
    // not resolvable from there: try the program's directory itself
  }
  bases.push(cwd)
  return bases
}

const resolveFrom = (file: string): string | undefined => {
  for (const base of candidates()) {
    try {
      return createRequire(base).resolve(file)
    } catch {
      // the next base
    }
  }
  return undefined
}

let loaded: Assets | undefined

/** The assets, or an explanation of where uplot was looked for. */
export const load = (): Assets | string => {
  if (loaded !== undefined) return loaded
  const script = resolveFrom("uplot/dist/uPlot.iife.min.js")
  const style = resolveFrom("uplot/dist/uPlot.min.css")
  if (script === undefined || style === undefined) {
    return `uplot was not found from ${candidates().join(", ")}: install it (npm install uplot)`
  }
  loaded = { script: fs.readFileSync(script, "utf8"), style: fs.readFileSync(style, "utf8") }
  return loaded
}
