/**
 * The demo's live status: a progress bar and the pool's statistics, redrawn
 * in place on a terminal, or one plain line per update when the output is a
 * file or a pipe (CI logs, `npm start | cat`).
 *
 * @since 0.1.0
 */
import type { PoolStats } from "@dbpool/core/PoolStats"

/**
 * What one update shows.
 *
 * @example
 * ```ts
 * import type { Frame } from "@dbpool/examples/demo/Renderer"
 * import type { PoolStats } from "@dbpool/core/PoolStats"
 *
 * declare const stats: PoolStats
 * const frame: Frame = { elapsed: 1200, done: 500, total: 2000, errors: 0, stats }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Frame {
  /** Milliseconds since the scenario started. */
  readonly elapsed: number
  readonly done: number
  readonly total: number
  readonly errors: number
  readonly stats: PoolStats
}

/**
 * @example
 * ```ts
 * import * as Renderer from "@dbpool/examples/demo/Renderer"
 *
 * declare const frame: Renderer.Frame
 * const renderer = Renderer.make({ tty: false, write: (s) => void process.stdout.write(s) })
 * renderer.update(frame)
 * renderer.finish()
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Renderer {
  /** Shows a frame (redraws the previous one on a terminal). */
  readonly update: (frame: Frame) => void
  /** Leaves the last frame on screen and moves below it. */
  readonly finish: () => void
}

const number = new Intl.NumberFormat("en-US")

/**
 * Formats an integer with thousands separators.
 *
 * @example
 * ```ts
 * import { formatCount } from "@dbpool/examples/demo/Renderer"
 *
 * formatCount(12345.6) // "12,346"
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatCount = (n: number): string => number.format(Math.round(n))

/**
 * A bar of `width` cells, filled to `fraction` (clamped to 0..1).
 *
 * @example
 * ```ts
 * import { progressBar } from "@dbpool/examples/demo/Renderer"
 *
 * progressBar(0.5, 10) // "█████░░░░░"
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const progressBar = (fraction: number, width: number): string => {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width)
  return "█".repeat(filled) + "░".repeat(width - filled)
}

/**
 * Queries per second between two frames (0 when no time has passed).
 *
 * @example
 * ```ts
 * import * as Renderer from "@dbpool/examples/demo/Renderer"
 *
 * declare const before: Renderer.Frame // done 400 at 1000 ms
 * declare const now: Renderer.Frame // done 900 at 1500 ms
 * Renderer.rate(before, now) // 1000
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const rate = (previous: Frame | undefined, current: Frame): number => {
  const doneBefore = previous?.done ?? 0
  const elapsedBefore = previous?.elapsed ?? 0
  const seconds = (current.elapsed - elapsedBefore) / 1000
  return seconds <= 0 ? 0 : (current.done - doneBefore) / seconds
}

const percent = (frame: Frame): number => frame.total === 0 ? 100 : Math.floor((frame.done / frame.total) * 100)

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`

/**
 * The frame as a small table, for a terminal.
 *
 * @example
 * ```ts
 * import * as Renderer from "@dbpool/examples/demo/Renderer"
 *
 * declare const frame: Renderer.Frame
 * const lines = Renderer.table(frame, 1000) // [progress bar line, connections line]
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const table = (frame: Frame, queriesPerSecond: number): ReadonlyArray<string> => {
  const s = frame.stats
  return [
    `  ${progressBar(frame.done / Math.max(1, frame.total), 32)} ${String(percent(frame)).padStart(3)}%  ` +
    `${formatCount(frame.done)} / ${formatCount(frame.total)} queries  ` +
    `${formatCount(queriesPerSecond).padStart(6)} q/s  ${seconds(frame.elapsed)}`,
    `  connections  active ${String(s.activeConnections).padStart(3)}   idle ${String(s.idleConnections).padStart(3)}` +
    `   total ${String(s.totalConnections).padStart(3)} / ${s.maxConnections}` +
    `   waiting ${String(s.waitingRequests).padStart(3)}   errors ${frame.errors}`
  ]
}

/**
 * The frame as one plain line, for a file or a pipe.
 *
 * @example
 * ```ts
 * // [  1.2 s]  47%  1420/3000 queries  1180 q/s | active 6 idle 2 total 8/8 waiting 12 | errors 0
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const plainLine = (frame: Frame, queriesPerSecond: number): string => {
  const s = frame.stats
  return `[${seconds(frame.elapsed).padStart(7)}] ${String(percent(frame)).padStart(3)}%  ` +
    `${frame.done}/${frame.total} queries  ${Math.round(queriesPerSecond)} q/s | ` +
    `active ${s.activeConnections} idle ${s.idleConnections} total ${s.totalConnections}/${s.maxConnections} ` +
    `waiting ${s.waitingRequests} | errors ${frame.errors}`
}

/**
 * A renderer writing to `write`: redrawing in place when `tty`, else one
 * line per update.
 *
 * @example
 * ```ts
 * import * as Renderer from "@dbpool/examples/demo/Renderer"
 *
 * const renderer = Renderer.make({ tty: process.stdout.isTTY === true, write: (s) => process.stdout.write(s) })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: {
  readonly tty: boolean
  readonly write: (text: string) => void
  /** The terminal's width: longer lines are cut, since a wrapped line would break the redraw. */
  readonly columns?: number | undefined
}): Renderer => {
  let previous: Frame | undefined
  let drawn = 0
  return {
    update: (frame) => {
      const qps = rate(previous, frame)
      previous = frame
      if (!options.tty) {
        options.write(plainLine(frame, qps) + "\n")
        return
      }
      const width = options.columns ?? Infinity
      const lines = table(frame, qps).map((line) => line.length < width ? line : line.slice(0, width - 1))
      // Back to the first line drawn last time, then overwrite each line (cleared first).
      const up = drawn > 0 ? `\x1b[${drawn}F` : ""
      options.write(up + lines.map((line) => `\x1b[2K${line}\n`).join(""))
      drawn = lines.length
    },
    finish: () => {
      drawn = 0
    }
  }
}
