/** The events of a pool group (re-exported by PoolGroup.ts; apart so that the bookkeeping can build them). */
import * as Data from "effect/Data"

export type GroupEvent = Data.TaggedEnum<{
  /**
   * An idle connection of pool `from` is being closed so that its permit goes to another member: `to`, the
   * member that needed it most then (undefined when the close only brings `from` down to its fair share).
   */
  CapacityMoved: { readonly from: string; readonly to: string | undefined; readonly connectionId: string }
  /** The controller changed a member's ceiling: its fair share under contention, or back to its cap. */
  CeilingChanged: { readonly pool: string; readonly ceiling: number; readonly previous: number }
}>

export const GroupEvent = Data.taggedEnum<GroupEvent>()
