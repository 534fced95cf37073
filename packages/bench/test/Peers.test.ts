import { describe, expect, it } from "@effect/vitest"
import * as Peers from "../src/internal/peers.js"

describe("Peers", () => {
  it("the hand-written promise pool hands a released item to the oldest waiter, and keeps it idle when nobody waits", async () => {
    const pool = new Peers.HandWrittenPool(["a"])
    const first = await pool.acquire()
    const order: Array<string> = []
    const waiters = [1, 2, 3].map((n) => pool.acquire().then((item) => order.push(`${n}:${item}`)))
    expect(pool.waiting).toBe(3)
    pool.release(first)
    await waiters[0]
    expect(order).toEqual(["1:a"])
    pool.release("a")
    pool.release("a")
    await Promise.all(waiters)
    expect(order).toEqual(["1:a", "2:a", "3:a"])
    pool.release("a")
    expect(pool.waiting).toBe(0)
    expect(pool.idle).toEqual(["a"])
  })

  for (const id of ["promise.pool", "generic-pool", "tarn", "pg-pool"] as const) {
    it(`${id}: filled to its size, a lease shows as leftover until released, and closing closes every item`, async () => {
      const tracker: Peers.Tracker = { created: 0, closed: 0 }
      const subject = await Peers.makePromiseSubject(id, 3, tracker)
      expect(tracker.created).toBe(3)
      expect(subject.leftover()).toBeUndefined()
      const held = await subject.acquire()
      expect(subject.leftover()).toContain(id)
      subject.release(held)
      // generic-pool returns an item to its idle list one tick after release
      await new Promise((resolve) => setImmediate(resolve))
      expect(subject.leftover()).toBeUndefined()
      await subject.close()
      expect(tracker).toEqual({ created: 3, closed: 3 })
    })
  }
})
