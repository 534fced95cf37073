/**
 * When the pipeline's connections go back to the pool: lanes idle for a while, lanes the pool's waiting
 * callers need (transactions, `reserve`, `withConnection` are never starved by sharing), and lanes held
 * long enough that the pool's own rules (lifetime, health checks, leak detection) should see their
 * connection between two holds.
 */

/** What a look over a lane reads and marks (a `Lane` has it). */
export interface LaneState {
  readonly load: number
  draining: boolean
  idleRounds: number
  readonly heldSince: number
}

/** How often lanes are looked over. */
export const interval = "10 millis"
/** A lane idle at this many looks in a row goes back to the pool. */
export const idleRounds = 2
/** A lane holding its connection this long is drained and gives it back (milliseconds). */
export const maxHold = 10_000

/**
 * One look over the lanes, given how many callers wait for a connection in the pool (`wanted`): the idle
 * lanes to give back now; busy lanes are marked draining (no new statement) and go back once answered.
 * The least loaded go first.
 */
export const lookOver = <L extends LaneState>(
  lanes: ReadonlyArray<L>,
  wanted: number,
  now: number
): ReadonlyArray<L> => {
  const release: Array<L> = []
  for (const lane of [...lanes].sort((a, b) => a.load - b.load)) {
    const old = now - lane.heldSince >= maxHold
    if (lane.load > 0) {
      lane.idleRounds = 0
      if ((wanted > 0 || old) && !lane.draining) {
        lane.draining = true
        wanted--
      }
    } else if (wanted > 0 || old || ++lane.idleRounds >= idleRounds) {
      wanted--
      release.push(lane)
    }
  }
  return release
}
