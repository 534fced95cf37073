/**
 * A scheduler for tests that decides when fibers yield: tasks are parked and
 * run one by one by `run`, and a chosen fiber can be made to yield after
 * exactly its n-th operation, with a callback run at that moment. Tasks of the
 * fiber that yielded are held back until every other task has run, so the
 * callback's consequences (another fiber releasing, interrupting...) all
 * happen inside the yielding fiber's gap.
 *
 * Used to put a fiber's yield at every point of the pool's acquisition path in
 * turn, instead of waiting for the default scheduler's 2048-operation yield to
 * land there by luck.
 */
import type { Fiber, Scheduler } from "effect"

type Task = () => void

export class SteppingScheduler implements Scheduler.Scheduler {
  private ready: Array<Task> = []
  private held: Array<Task> = []
  private holding: Fiber.RuntimeFiber<unknown, unknown> | undefined = undefined
  private target: Fiber.RuntimeFiber<unknown, unknown> | undefined = undefined
  private count = 0
  private at = 0
  private onYield: (() => void) | undefined = undefined
  /** Whether the chosen fiber reached its n-th operation (else the yield point lies beyond its run). */
  fired = false
  /** Called once when no task is left, before `run` returns. */
  onIdle: (() => void) | undefined = undefined

  /** The fiber yields after its `n`-th operation from now on; `onYield` runs at that moment. */
  yieldAt(fiber: Fiber.RuntimeFiber<any, any>, n: number, onYield: () => void): void {
    this.target = fiber
    this.count = 0
    this.at = n
    this.onYield = onYield
  }

  shouldYield(fiber: Fiber.RuntimeFiber<unknown, unknown>): number | false {
    if (fiber !== this.target || this.fired) return false
    if (++this.count < this.at) return false
    this.fired = true
    this.holding = fiber
    this.onYield?.()
    return 0
  }

  scheduleTask(task: Task, _priority: number, fiber?: Fiber.RuntimeFiber<unknown, unknown>): void {
    if (fiber !== undefined && fiber === this.holding) this.held.push(task)
    else this.ready.push(task)
  }

  /** Runs every task, the held ones once nothing else is left, until none remains. */
  run(): void {
    while (true) {
      const task = this.ready.shift()
      if (task !== undefined) {
        task()
        continue
      }
      if (this.held.length > 0) {
        this.holding = undefined
        this.ready = this.held
        this.held = []
        continue
      }
      const idle = this.onIdle
      if (idle === undefined) return
      this.onIdle = undefined
      idle()
    }
  }
}
