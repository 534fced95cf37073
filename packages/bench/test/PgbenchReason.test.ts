import { describe, expect, it } from "@effect/vitest"
import { failureReason } from "../src/internal/selectOne.js"

const exited = (code: number) => Object.assign(new Error(`Command failed: pgbench`), { code })

describe("a pgbench run without a figure says why", () => {
  it("gives pgbench's last words on stderr and its exit code", () => {
    expect(failureReason({
      stdout: "",
      stderr: "pgbench (16.4)\npgbench: error: connection to server failed: FATAL:  sorry, too many clients already\n",
      error: exited(1)
    })).toBe(
      "pgbench (16.4) / pgbench: error: connection to server failed: FATAL:  sorry, too many clients already; exit code 1"
    )
  })

  it("is never empty: with nothing on stderr, the exit code and the end of the output", () => {
    expect(failureReason({ stdout: "starting vacuum...end.\naborted in command 0\n", stderr: "", error: exited(2) }))
      .toBe("exit code 2; output ends: starting vacuum...end. / aborted in command 0")
    expect(failureReason({ stdout: "", stderr: "  \n", error: exited(2) })).toBe("exit code 2, no output")
  })

  it("tells a run killed at the time limit, and one that exited 0 without a figure", () => {
    const killed = Object.assign(new Error("killed"), { killed: true, signal: "SIGTERM", code: null })
    expect(failureReason({ stdout: "", stderr: "", error: killed })).toBe("killed by SIGTERM (time limit), no output")
    expect(failureReason({ stdout: "transaction type: select1.sql\n", stderr: "", error: null }))
      .toBe("exit code 0, no tps in its output; output ends: transaction type: select1.sql")
  })
})
