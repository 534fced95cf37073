/**
 * Child processes for the disposable servers: bounded one-shot commands, long-running daemons, and the two
 * safety nets that keep a daemon from outliving the test process (an `exit` handler and a watchdog).
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

/** Something outside went wrong: a command failed, timed out, or a server did not come up. */
export class ProcessError extends Data.TaggedError("ProcessError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

// ---------------------------------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------------------------------

/** The numeric ids of a system user (`postgres`, `mysql`), read from /etc/passwd once. */
export interface UserIds {
  readonly name: string
  readonly uid: number
  readonly gid: number
}

const users = new Map<string, UserIds>()

export const userIds = (name: string): Effect.Effect<UserIds, ProcessError> =>
  Effect.suspend(() => {
    const known = users.get(name)
    if (known) return Effect.succeed(known)
    return Effect.try({
      try: () => {
        const line = Fs.readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith(`${name}:`))
        if (line === undefined) throw new Error(`no such user`)
        const [, , uid, gid] = line.split(":")
        const ids = { name, uid: Number(uid), gid: Number(gid) }
        users.set(name, ids)
        return ids
      },
      catch: (cause) => new ProcessError({ message: `cannot find the system user ${name}`, cause })
    })
  })

/** The first of `candidates` that exists and is executable. */
export const findExecutable = (what: string, candidates: ReadonlyArray<string>): Effect.Effect<string, ProcessError> =>
  Effect.suspend(() => {
    for (const candidate of candidates) {
      try {
        Fs.accessSync(candidate, Fs.constants.X_OK)
        return Effect.succeed(candidate)
      } catch {
        // try the next one
      }
    }
    return Effect.fail(new ProcessError({ message: `${what} not found (looked in ${candidates.join(", ")})` }))
  })

/** Every directory on PATH joined with `name`, for `findExecutable`. */
export const onPath = (name: string): Array<string> =>
  (process.env.PATH ?? "").split(":").filter((dir) => dir !== "").map((dir) => Path.join(dir, name))

// ---------------------------------------------------------------------------------------------------------------
// The exit handler: last resort when the test process ends without closing its scopes
// ---------------------------------------------------------------------------------------------------------------

const liveChildren = new Map<number, NodeJS.Signals>()
const liveDirs = new Set<string>()
let exitHandlerInstalled = false

const installExitHandler = () => {
  if (exitHandlerInstalled) return
  exitHandlerInstalled = true
  // Runs on process.exit and on an uncaught exception. Only synchronous work is possible here, so the
  // children get their crash signal (PostgreSQL's SIGQUIT still lets the postmaster take its backends
  // with it) and the watchdogs finish the job once this process is gone.
  process.on("exit", () => {
    for (const [pid, signal] of liveChildren) {
      try {
        process.kill(pid, signal)
      } catch {
        // already gone
      }
    }
    for (const dir of liveDirs) {
      try {
        Fs.rmSync(dir, { recursive: true, force: true, maxRetries: 2 })
      } catch {
        // a server still writing into it: its watchdog removes it after the server is gone
      }
    }
  })
}

const registerChild = (pid: number, crashSignal: NodeJS.Signals) => {
  installExitHandler()
  liveChildren.set(pid, crashSignal)
}

const registerDir = (dir: string) => {
  installExitHandler()
  liveDirs.add(dir)
}

// ---------------------------------------------------------------------------------------------------------------
// The watchdog: covers what the exit handler cannot (SIGKILL or SIGTERM of the test process, an OOM kill)
// ---------------------------------------------------------------------------------------------------------------

// The watchdog reads the pid of the current server from a pipe whose other end only this process holds.
// End of file means this process is gone, whatever killed it: it stops that server (crash signal, then
// SIGKILL after 10 s) and removes the directory. It ignores the signals a Ctrl-C or a test runner sends to
// the whole group, so that it outlives us.
const watchdogScript = `trap '' INT TERM HUP
dir=$1; sig=$2; pid=
while IFS= read -r line; do pid=$line; done
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
  kill -"$sig" "$pid" 2>/dev/null
  i=0
  while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  kill -KILL "$pid" 2>/dev/null
  sleep 0.2
fi
if [ -n "$dir" ]; then rm -rf "$dir"; fi
`

/** A watchdog over one directory and whichever server process is using it now. */
export interface Watchdog {
  /** The server now running in the directory, or `undefined` when none is. */
  readonly track: (pid: number | undefined) => void
  /** Lets the watchdog go; it removes the directory if still there, and exits. */
  readonly release: () => void
}

export const startWatchdog = (dir: string, crashSignal: NodeJS.Signals): Watchdog => {
  const child = ChildProcess.spawn("sh", ["-c", watchdogScript, "dbpool-testing-watchdog", dir, crashSignal.slice(3)], {
    stdio: ["pipe", "ignore", "ignore"],
    detached: true
  })
  child.on("error", () => {
    // no sh: the exit handler still covers a normal exit
  })
  child.stdin!.on("error", () => {})
  // Neither the child nor its pipe may keep the test process alive.
  child.unref()
  ;(child.stdin as unknown as { unref?: () => void }).unref?.()
  let released = false
  return {
    track: (pid) => {
      if (!released) child.stdin!.write(`${pid ?? ""}\n`)
    },
    release: () => {
      if (released) return
      released = true
      child.stdin!.end("\n")
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Directories
// ---------------------------------------------------------------------------------------------------------------

/** A fresh directory, owned by `owner`, removed (and watched) like a server's data directory. */
export interface OwnedDir {
  readonly path: string
  readonly watchdog: Watchdog
}

const makeOwnedDir = (prefix: string, owner: UserIds, crashSignal: NodeJS.Signals) =>
  Effect.try({
    try: (): OwnedDir => {
      const path = Fs.mkdtempSync(Path.join(Os.tmpdir(), prefix))
      registerDir(path)
      const watchdog = startWatchdog(path, crashSignal)
      Fs.chownSync(path, owner.uid, owner.gid)
      return { path, watchdog }
    },
    catch: (cause) => new ProcessError({ message: `cannot create a directory for ${prefix}`, cause })
  })

const removeOwnedDir = (dir: OwnedDir) =>
  Effect.promise(() =>
    Fs.promises.rm(dir.path, { recursive: true, force: true, maxRetries: 3 }).then(
      () => liveDirs.delete(dir.path),
      () => {
        // left to the watchdog, released below
      }
    )
  ).pipe(Effect.ensuring(Effect.sync(() => dir.watchdog.release())))

/** A directory for one disposable server, removed when the scope closes. */
export const ownedDir = (
  prefix: string,
  owner: UserIds,
  crashSignal: NodeJS.Signals
): Effect.Effect<OwnedDir, ProcessError, Scope.Scope> =>
  Effect.acquireRelease(makeOwnedDir(prefix, owner, crashSignal), removeOwnedDir)

/** A directory that lives as long as the test process (the templates); the exit handler and watchdog remove it. */
export const processDir = (prefix: string, owner: UserIds): Effect.Effect<OwnedDir, ProcessError> =>
  makeOwnedDir(prefix, owner, "SIGKILL")

// ---------------------------------------------------------------------------------------------------------------
// One-shot commands
// ---------------------------------------------------------------------------------------------------------------

export interface RunOptions {
  readonly command: string
  readonly args: ReadonlyArray<string>
  /** Killed (SIGKILL) when it takes longer. */
  readonly timeout: Duration.DurationInput
  /** Run as this user instead of root. */
  readonly user?: UserIds | undefined
  readonly cwd?: string | undefined
  /** Written to the command's standard input, which is then closed. */
  readonly input?: string | undefined
}

export interface RunResult {
  readonly stdout: string
  readonly stderr: string
}

const tail = (text: string, max = 1500) => text.length > max ? `…${text.slice(-max)}` : text

const describeCommand = (options: RunOptions) => [Path.basename(options.command), ...options.args].join(" ")

/** Runs a command to its end, failing on a non-zero exit; a command still running at `timeout` is killed. */
export const run = (options: RunOptions): Effect.Effect<RunResult, ProcessError> => {
  const what = describeCommand(options)
  return Effect.async<RunResult, ProcessError>((resume) => {
    let child: ChildProcess.ChildProcess
    try {
      child = ChildProcess.spawn(options.command, options.args as Array<string>, {
        stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
        ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
        ...(options.user !== undefined ? { uid: options.user.uid, gid: options.user.gid } : {})
      })
    } catch (cause) {
      resume(Effect.fail(new ProcessError({ message: `cannot run ${what}: ${(cause as Error).message}`, cause })))
      return
    }
    if (child.pid !== undefined) registerChild(child.pid, "SIGKILL")
    let stdout = ""
    let stderr = ""
    child.stdout!.on("data", (chunk: Buffer) => {
      stdout = tail(stdout + chunk.toString(), 64_000)
    })
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr = tail(stderr + chunk.toString(), 64_000)
    })
    if (options.input !== undefined) {
      child.stdin!.on("error", () => {})
      child.stdin!.end(options.input)
    }
    child.on("error", (cause) => resume(Effect.fail(new ProcessError({ message: `${what}: ${cause.message}`, cause }))))
    child.on("close", (code, signal) => {
      if (child.pid !== undefined) liveChildren.delete(child.pid)
      if (code === 0) resume(Effect.succeed({ stdout, stderr }))
      else {
        resume(Effect.fail(
          new ProcessError({
            message: `${what} exited with ${code ?? signal}: ${tail(stderr.trim() || stdout.trim(), 1500)}`
          })
        ))
      }
    })
    // Interrupted (the timeout below, or the test): kill it, so no stuck command survives.
    return Effect.sync(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    })
  }).pipe(
    Effect.timeoutFail({
      duration: options.timeout,
      onTimeout: () =>
        new ProcessError({ message: `${what} did not finish within ${Duration.format(options.timeout)}; killed` })
    })
  )
}

// ---------------------------------------------------------------------------------------------------------------
// Daemons
// ---------------------------------------------------------------------------------------------------------------

export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** A long-running server process of ours, its output appended to `logFile`. */
export interface Daemon {
  readonly pid: number
  readonly logFile: string
  /** Where this run's output starts in `logFile` (which keeps the runs before). */
  readonly logOffset: number
  /** Whether it has exited. */
  readonly exited: () => Exit | undefined
  /** Waits for it to exit. */
  readonly awaitExit: Effect.Effect<Exit>
  readonly kill: (signal: NodeJS.Signals) => void
}

export interface SpawnOptions {
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly logFile: string
  /** Sent by the exit handler and the watchdog when the test process dies. */
  readonly crashSignal: NodeJS.Signals
  readonly watchdog: Watchdog
  readonly user?: UserIds | undefined
  readonly cwd?: string | undefined
}

/** The end of a server's log, for error messages. */
export const logTail = (logFile: string, max = 1500): string => {
  try {
    return tail(Fs.readFileSync(logFile, "utf8").trim(), max)
  } catch {
    return "(no log)"
  }
}

/** Whether this run of the daemon has written `text` to its log. */
export const logged = (daemon: Daemon, text: string): Effect.Effect<boolean> =>
  Effect.sync(() => {
    try {
      const fd = Fs.openSync(daemon.logFile, "r")
      try {
        const size = Fs.fstatSync(fd).size
        const buffer = Buffer.alloc(Math.max(0, size - daemon.logOffset))
        Fs.readSync(fd, buffer, 0, buffer.length, daemon.logOffset)
        return buffer.toString("utf8").includes(text)
      } finally {
        Fs.closeSync(fd)
      }
    } catch {
      return false
    }
  })

/** Starts a daemon (not waiting for it to be ready). The caller stops it with `stop`. */
export const spawn = (options: SpawnOptions): Effect.Effect<Daemon, ProcessError> =>
  Effect.async<Daemon, ProcessError>((resume) => {
    const what = Path.basename(options.command)
    let log: number
    let logOffset: number
    try {
      log = Fs.openSync(options.logFile, "a")
      logOffset = Fs.fstatSync(log).size
      if (options.user) Fs.fchownSync(log, options.user.uid, options.user.gid)
    } catch (cause) {
      resume(Effect.fail(new ProcessError({ message: `cannot open ${options.logFile}`, cause })))
      return
    }
    let child: ChildProcess.ChildProcess
    try {
      child = ChildProcess.spawn(options.command, options.args as Array<string>, {
        stdio: ["ignore", log, log],
        ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
        ...(options.user !== undefined ? { uid: options.user.uid, gid: options.user.gid } : {})
      })
    } catch (cause) {
      resume(Effect.fail(new ProcessError({ message: `cannot start ${what}: ${(cause as Error).message}`, cause })))
      return
    } finally {
      // the child has its own copy
      Fs.closeSync(log)
    }
    let exit: Exit | undefined
    const waiters: Array<(exit: Exit) => void> = []
    child.on("exit", (code, signal) => {
      exit = { code, signal }
      liveChildren.delete(child.pid!)
      options.watchdog.track(undefined)
      for (const waiter of waiters.splice(0)) waiter(exit)
    })
    child.on("error", (cause) => {
      if (child.pid === undefined) {
        resume(Effect.fail(new ProcessError({ message: `cannot start ${what}: ${cause.message}`, cause })))
      }
    })
    if (child.pid === undefined) return
    registerChild(child.pid, options.crashSignal)
    options.watchdog.track(child.pid)
    resume(Effect.succeed<Daemon>({
      pid: child.pid,
      logFile: options.logFile,
      logOffset,
      exited: () => exit,
      awaitExit: Effect.async<Exit>((resumeExit) => {
        if (exit) return resumeExit(Effect.succeed(exit))
        const waiter = (e: Exit) => resumeExit(Effect.succeed(e))
        waiters.push(waiter)
        return Effect.sync(() => {
          const i = waiters.indexOf(waiter)
          if (i >= 0) waiters.splice(i, 1)
        })
      }),
      kill: (signal) => {
        if (exit === undefined) child.kill(signal)
      }
    }))
  })

/**
 * Sends `signal` and waits up to `timeout` for the daemon to exit, then kills it (SIGKILL) and waits again.
 * Never fails: a daemon that survives SIGKILL for 10 s is a defect.
 */
export const stop = (daemon: Daemon, signal: NodeJS.Signals, timeout: Duration.DurationInput): Effect.Effect<Exit> =>
  Effect.suspend(() => {
    daemon.kill(signal)
    return daemon.awaitExit.pipe(
      Effect.timeout(timeout),
      Effect.catchTag("TimeoutException", () => {
        daemon.kill("SIGKILL")
        return Effect.orDie(daemon.awaitExit.pipe(Effect.timeout("10 seconds")))
      })
    )
  })

/**
 * Polls `ready` every `interval` until it returns true; fails when the daemon exits first (with the end of
 * its log) or at `timeout`.
 */
export const awaitReady = (
  daemon: Daemon,
  what: string,
  ready: Effect.Effect<boolean>,
  timeout: Duration.DurationInput,
  interval: Duration.DurationInput = "10 millis"
): Effect.Effect<void, ProcessError> => {
  const loop: Effect.Effect<void, ProcessError> = Effect.suspend(() => {
    const exit = daemon.exited()
    if (exit) {
      return Effect.fail(
        new ProcessError({
          message: `${what} exited with ${exit.code ?? exit.signal} while starting: ${logTail(daemon.logFile)}`
        })
      )
    }
    return Effect.flatMap(ready, (ok) => ok ? Effect.void : Effect.zipRight(Effect.sleep(interval), loop))
  })
  return loop.pipe(
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () =>
        new ProcessError({
          message: `${what} was not ready within ${Duration.format(timeout)}: ${logTail(daemon.logFile)}`
        })
    })
  )
}
