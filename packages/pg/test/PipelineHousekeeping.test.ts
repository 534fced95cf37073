import { describe, expect, it } from "@effect/vitest"
import * as Housekeeping from "../src/internal/pipelineHousekeeping.js"

const lane = (name: string, load: number, heldSince = 0) => ({ name, load, draining: false, idleRounds: 0, heldSince })
const names = (lanes: ReadonlyArray<{ readonly name: string }>) => lanes.map((l) => l.name)

describe("when the pipeline gives connections back", () => {
  it("an idle lane goes back at its second idle look, a busy one stays", () => {
    const idle = lane("idle", 0)
    const busy = lane("busy", 3)
    expect(names(Housekeeping.lookOver([idle, busy], 0, 1))).toEqual([])
    expect(names(Housekeeping.lookOver([idle, busy], 0, 2))).toEqual(["idle"])
    expect(busy.draining).toBe(false)
  })

  it("callers waiting in the pool take the least loaded lanes: idle ones at once, busy ones once answered", () => {
    const lanes = [lane("a", 5), lane("b", 0), lane("c", 2), lane("d", 1)]
    expect(names(Housekeeping.lookOver(lanes, 3, 1))).toEqual(["b"])
    expect(lanes.map((l) => [l.name, l.draining])).toEqual([["a", false], ["b", false], ["c", true], ["d", true]])
  })

  it("a lane held for maxHold drains, so the pool's lifetime and health rules see its connection", () => {
    const old = lane("old", 4, 0)
    const young = lane("young", 4, 5_000)
    expect(names(Housekeeping.lookOver([old, young], 0, Housekeeping.maxHold))).toEqual([])
    expect([old.draining, young.draining]).toEqual([true, false])
    expect(names(Housekeeping.lookOver([lane("idle-old", 0, 0)], 0, Housekeeping.maxHold))).toEqual(["idle-old"])
  })
})
