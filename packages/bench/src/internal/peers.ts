/**
 * The promise-based peers of the overhead benchmark: a hand-written promise
 * pool, generic-pool, tarn and pg-pool over a fake client (no socket), each
 * looped by plain async functions, not fibers, as their users would.
 */
import * as GenericPool from "generic-pool"
import { EventEmitter } from "node:events"
import PgPool from "pg-pool"
import * as Tarn from "tarn"

/** A dummy resource. */
export interface Item {
  readonly id: number
}

/** Counts the dummy resources, so that a leak shows. */
export interface Tracker {
  created: number
  closed: number
}

/** A promise pool, built for one round. */
export interface PromiseSubject {
  readonly acquire: () => Promise<unknown>
  readonly release: (resource: unknown) => unknown
  /** After the loops stopped, before `close`: a description of what is still held, if anything. */
  readonly leftover: () => string | undefined
  readonly close: () => Promise<void>
}

/**
 * The smallest correct pool: a stack of idle resources and a FIFO of waiting
 * resolvers; a release hands the resource straight to the oldest waiter.
 */
export class HandWrittenPool<A> {
  readonly idle: Array<A>
  private waiters: Array<(a: A) => void> = []
  private head = 0
  constructor(items: ReadonlyArray<A>) {
    this.idle = [...items]
  }
  get waiting(): number {
    return this.waiters.length - this.head
  }
  acquire(): Promise<A> {
    if (this.idle.length > 0) return Promise.resolve(this.idle.pop()!)
    return new Promise((resolve) => this.waiters.push(resolve))
  }
  release(a: A): void {
    if (this.head < this.waiters.length) {
      const resolve = this.waiters[this.head]!
      this.waiters[this.head++] = undefined as never
      if (this.head > 1024 && this.head * 2 > this.waiters.length) {
        this.waiters = this.waiters.slice(this.head)
        this.head = 0
      }
      resolve(a)
    } else {
      this.idle.push(a)
    }
  }
}

/**
 * The surface of `pg.Client` that pg-pool touches: connect, end, events,
 * `_queryable` / `_ending`. Connecting and ending complete at once.
 */
const fakeClient = (tracker: Tracker) =>
  class FakeClient extends EventEmitter {
    readonly id = ++tracker.created
    _queryable = true
    _ending = false
    connect(callback?: (err?: Error) => void): Promise<void> | undefined {
      if (callback === undefined) return Promise.resolve()
      callback()
      return undefined
    }
    end(callback?: () => void): Promise<void> | undefined {
      if (!this._ending) tracker.closed++
      this._ending = true
      this._queryable = false
      this.emit("end")
      if (callback === undefined) return Promise.resolve()
      callback()
      return undefined
    }
    ref(): void {}
    unref(): void {}
  }

const fill = async (size: number, acquire: () => Promise<unknown>, release: (r: unknown) => unknown) => {
  const all = await Promise.all(Array.from({ length: size }, acquire))
  for (const r of all) release(r)
}

export const makePromiseSubject = async (
  id: "promise.pool" | "generic-pool" | "tarn" | "pg-pool",
  size: number,
  tracker: Tracker
): Promise<PromiseSubject> => {
  const open = (): Item => ({ id: ++tracker.created })
  const close = () => {
    tracker.closed++
  }
  switch (id) {
    case "promise.pool": {
      const pool = new HandWrittenPool<Item>(Array.from({ length: size }, open))
      return {
        acquire: () => pool.acquire(),
        release: (r) => pool.release(r as Item),
        leftover: () =>
          pool.idle.length === size && pool.waiting === 0
            ? undefined
            : `${id}: idle ${pool.idle.length}, waiting ${pool.waiting} (expected idle = ${size})`,
        close: async () => {
          for (const _ of pool.idle.splice(0)) close()
        }
      }
    }
    case "generic-pool": {
      const pool = GenericPool.createPool<Item>(
        { create: async () => open(), destroy: async () => close() },
        { min: size, max: size }
      )
      const acquire = () => pool.acquire()
      const release = (r: unknown) => pool.release(r as Item)
      await fill(size, acquire, release)
      return {
        acquire,
        release,
        leftover: () =>
          pool.borrowed === 0 && pool.available === size && pool.pending === 0
            ? undefined
            : `${id}: borrowed ${pool.borrowed}, available ${pool.available}, pending ${pool.pending} ` +
              `(expected available = ${size})`,
        close: async () => {
          await pool.drain()
          await pool.clear()
        }
      }
    }
    case "tarn": {
      const pool = new Tarn.Pool<Item>({ create: async () => open(), destroy: close, min: size, max: size })
      const acquire = () => pool.acquire().promise
      const release = (r: unknown) => pool.release(r as Item)
      await fill(size, acquire, release)
      return {
        acquire,
        release,
        leftover: () =>
          pool.numUsed() === 0 && pool.numFree() === size && pool.numPendingAcquires() === 0
            ? undefined
            : `${id}: used ${pool.numUsed()}, free ${pool.numFree()}, pending ${pool.numPendingAcquires()} ` +
              `(expected free = ${size})`,
        close: async () => {
          await pool.destroy()
        }
      }
    }
    case "pg-pool": {
      const pool = new PgPool({ Client: fakeClient(tracker) as never, max: size, idleTimeoutMillis: 0 })
      const acquire = () => pool.connect()
      const release = (r: unknown) => (r as { release: () => void }).release()
      await fill(size, acquire, release)
      return {
        acquire,
        release,
        leftover: () =>
          pool.idleCount === size && pool.totalCount === size && pool.waitingCount === 0
            ? undefined
            : `${id}: idle ${pool.idleCount}, total ${pool.totalCount}, waiting ${pool.waitingCount} ` +
              `(expected idle = total = ${size})`,
        close: () => pool.end()
      }
    }
  }
}
