import { describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { createRequire } from "node:module"
import { fileURLToPath, pathToFileURL } from "node:url"
import * as Compiled from "../src/internal/compiled.js"

describe("Compiled", () => {
  it("conditionFlags passes every export condition of the process on, in each spelling, and nothing else", () => {
    expect(Compiled.conditionFlags(["--require", "x.cjs", "--import", "file:///loader.mjs"])).toEqual([])
    expect(
      Compiled.conditionFlags(["--conditions=@dbpool/dist", "--expose-gc", "-C", "a", "--conditions", "b", "-C=c"])
    ).toEqual(["--conditions=@dbpool/dist", "--conditions=a", "--conditions=b", "--conditions=c"])
  })

  it(
    "the benchmark started over the sources stops before measuring anything, names what resolved there, exit code 1",
    async () => {
      const main = fileURLToPath(new URL("../src/main.ts", import.meta.url))
      const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href
      const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const proc = execFile(process.execPath, ["--import", tsx, main, "--quick", "--no-write"], { timeout: 60_000 }, (
          _error,
          stdout,
          stderr
        ) => resolve({ code: proc.exitCode, stdout, stderr }))
      })
      expect(result.code).toBe(1)
      expect(result.stdout).toBe("")
      expect(result.stderr).toContain("must run dbpool's compiled output (dist/esm)")
      for (const name of ["core", "sql", "pg", "mysql"]) {
        expect(result.stderr).toMatch(
          new RegExp(`@dbpool/${name} -> .*[\\\\/]packages[\\\\/]${name}[\\\\/]src[\\\\/]index\\.ts`)
        )
      }
      expect(result.stderr).toContain("--conditions=@dbpool/dist")
    },
    60_000
  )
})
