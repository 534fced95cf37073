import * as childProcess from "node:child_process"

/** What a finished child process said and how it ended. */
export interface Finished {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs a program as a user would, its output to pipes (not a terminal), and resolves when it has
 * exited; `onOutput` sees the whole stdout so far after each chunk (to send a signal mid-run).
 */
export const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly env: NodeJS.ProcessEnv },
  onOutput?: (stdout: string, child: childProcess.ChildProcess) => void
): Promise<Finished> =>
  new Promise((resolve, reject) => {
    const child = childProcess.spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk) => {
      stdout += chunk
      onOutput?.(stdout, child)
    })
    child.stderr.on("data", (chunk) => stderr += chunk)
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, stdout, stderr }))
  })
