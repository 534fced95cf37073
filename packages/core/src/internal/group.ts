/**
 * One connection budget shared by several pools: the group's bookkeeping, all in synchronous steps.
 *
 * A member's share of the budget is what its state already counts against its own maximum: its open
 * connections (closing ones included) plus its creations pending. So the group keeps no counter that
 * could drift: `used` is the sum over the members, read inside the state's own transitions (one JS
 * thread: nothing runs between the read and the `pending++` that follows it). A creation is granted
 * before it counts as pending; the permit comes back when the close completes (`closeDone`) or the
 * creation fails, and `freed` hands it to the neediest member first.
 *
 * Capacity moves in two ways. At once: a member that needs a connection and gets no permit makes the
 * group close an idle connection of another member above its floor. On the controller's tick
 * (`rebalance`): when the members' demand exceeds the budget, each gets a max-min fair share (floors
 * first), and a member that would take more than its share gets it as its `ceiling`: it closes its idle
 * surplus now and the rest as its connections come back (the state's release closes what is above the
 * ceiling).
 *
 * Ceilings have hysteresis, so that demand swinging across the budget does not move them on every tick: a
 * ceiling is lowered at once (a member is waiting for its share), but raised at once only when the members'
 * demand is clearly under the budget, or the member's own demand clearly under its ceiling (by `margin`);
 * otherwise only once the higher value has been wanted for `ticks` ticks in a row.
 */
import { GroupEvent } from "./groupEvent.js"
import type { Budget, Conn, PoolState } from "./state.js"

/** What the group reads and moves in a member pool: its state, and the bounds it joined with. */
export class Member implements Budget {
  constructor(
    readonly group: Group,
    readonly state: PoolState<unknown, unknown>,
    /** Never closed below this by the group; always reachable (the floors fit the budget). */
    readonly floor: number,
    /** The member's own cap in the group (its `maxConnections` unless given lower). */
    readonly cap: number
  ) {}

  /** Ticks in a row at which the controller wanted a higher ceiling than this member has (hysteresis). */
  raiseWanted = 0

  get name(): string {
    return this.state.name
  }

  /** Permits held: open connections (closing ones too) and creations pending. */
  get used(): number {
    return this.state.open.size + this.state.pending
  }

  get live(): number {
    return this.state.open.size - this.state.closing
  }

  /** Its cap, bounded by a `resize` of the pool too. */
  get limit(): number {
    return Math.min(this.cap, this.state.max)
  }

  /** Connections it lacks now: waiters no creation covers, or its floor; within its ceiling. */
  get need(): number {
    const s = this.state
    if (s.closed || s.circuitOpen) return 0
    const wanted = Math.max(this.floor - (this.live + s.pending), s.waiters.length - s.pending)
    return Math.max(0, Math.min(wanted, Math.min(this.limit, s.ceiling) - this.used))
  }

  /** Idle connections the group may close: those above the floor. */
  get spare(): number {
    return this.state.closed ? 0 : Math.max(0, Math.min(this.state.idle.length, this.live - this.floor))
  }

  /** What it would use now: connections lent or checked, and waiters; within its floor and cap. */
  get demand(): number {
    const s = this.state
    return Math.min(this.limit, Math.max(this.floor, s.active + s.validating + s.waiters.length))
  }

  readonly grant = (wanted: number): number => this.group.grant(this, wanted)
  readonly freed = (now: number): void => this.group.freed(now)
}

/** Max-min fair shares of `budget`: floors first, then one connection at a time to the member with the fewest. */
export const fairShares = (demands: ReadonlyArray<number>, floors: ReadonlyArray<number>, budget: number) => {
  const shares = floors.slice()
  let left = budget - shares.reduce((a, b) => a + b, 0)
  while (left > 0) {
    let pick = -1
    for (let i = 0; i < shares.length; i++) {
      if (shares[i]! < demands[i]! && (pick < 0 || shares[i]! < shares[pick]!)) pick = i
    }
    if (pick < 0) break
    shares[pick]!++
    left--
  }
  return shares
}

export interface GroupHooks {
  /** Records a group event (no Effect step: called inside the state's transitions). */
  readonly emit: (event: GroupEvent) => void
  /** A connection was closed to move its permit to another member. */
  readonly moved: () => void
}

/** The ceilings' hysteresis: see the module's comment. `{ margin: 0, ticks: 1 }` has none. */
export interface Hysteresis {
  /** Ceilings are raised at once when the members' demand is at most the budget less this. */
  readonly margin: number
  /** Otherwise a higher ceiling must have been wanted for this many ticks in a row. */
  readonly ticks: number
}

export class Group {
  readonly members: Array<Member> = []
  capacityMoves = 0

  constructor(
    readonly name: string,
    readonly budget: number,
    readonly hooks: GroupHooks,
    readonly hysteresis: Hysteresis = { margin: 0, ticks: 1 }
  ) {}

  /** Permits held by every member. */
  get used(): number {
    let used = 0
    for (const m of this.members) used += m.used
    return used
  }

  /** Why `floor` cannot join, or undefined: the floors must fit the budget, so that every floor can be held. */
  refuse(name: string, floor: number): string | undefined {
    if (this.members.some((m) => m.name === name)) return `a pool named "${name}" is already in group "${this.name}"`
    const floors = this.members.reduce((sum, m) => sum + m.floor, floor)
    return floors > this.budget
      ? `the floors of group "${this.name}" would add up to ${floors}, more than its maxConnections (${this.budget})`
      : undefined
  }

  join(member: Member): void {
    this.members.push(member)
    member.state.budget = member
  }

  /** The member's pool has closed and drained: its permits are all back. */
  leave(member: Member): void {
    const i = this.members.indexOf(member)
    if (i >= 0) this.members.splice(i, 1)
  }

  /** How many of `wanted` creations `member` may start now; when short, room is made elsewhere. */
  grant(member: Member, wanted: number): number {
    const n = Math.max(0, Math.min(wanted, member.limit - member.used, this.budget - this.used))
    if (n < wanted) this.reclaim()
    return n
  }

  /**
   * Closes idle connections of members above their floor until the permits free or being freed cover
   * every member's need: oldest idle first, from the member with the most spare connections.
   */
  reclaim(): void {
    let toFree = -(this.budget - this.used)
    for (const m of this.members) toFree += m.need - m.state.closing
    while (toFree > 0) {
      const needy = this.neediest()
      const victim = this.mostSpare()
      if (needy === undefined || victim === undefined) return
      this.move(victim, victim.state.idle[0]!, needy)
      toFree--
    }
  }

  /** A permit came back: the members that need one ask first, the least served first; then the rest refill. */
  freed(now: number): void {
    const order = this.members.slice().sort((a, b) => {
      const needs = Number(b.need > 0) - Number(a.need > 0)
      return needs !== 0 ? needs : (a.used - a.floor) - (b.used - b.floor)
    })
    for (const m of order) m.state.ensureCapacity(now)
  }

  /**
   * The controller's step. Under contention (the members' demand exceeds the budget) every member's
   * ceiling is its fair share, and idle connections above it close now; otherwise ceilings go back to
   * the members' caps. Then idle connections move to the members in need, and free permits are handed out.
   */
  rebalance(now: number): void {
    const members = this.members.filter((m) => !m.state.closed)
    const demands = members.map((m) => m.demand)
    const total = demands.reduce((a, b) => a + b, 0)
    const shares = total > this.budget ? fairShares(demands, members.map((m) => m.floor), this.budget) : undefined
    const quiet = total <= this.budget - this.hysteresis.margin
    // Only a member that would take more than its share is held to it: the others may use what is free.
    members.forEach((m, i) =>
      this.moveCeiling(
        m,
        shares === undefined || demands[i]! <= shares[i]! ? m.limit : Math.min(m.limit, shares[i]!),
        quiet || demands[i]! <= m.state.ceiling - this.hysteresis.margin
      )
    )
    for (const m of members) {
      while (m.live > m.state.ceiling && m.spare > 0) this.move(m, m.state.idle[0]!, this.neediest())
    }
    this.reclaim()
    this.freed(now)
  }

  /**
   * Lowers at once; raises at once when `quiet` (the group's demand, or the member's own, is under the
   * budget or its ceiling by the margin), else once a higher ceiling was wanted `ticks` ticks in a row.
   */
  private moveCeiling(member: Member, wanted: number, quiet: boolean): void {
    if (wanted <= member.state.ceiling) {
      member.raiseWanted = 0
      this.setCeiling(member, wanted)
    } else if (quiet || ++member.raiseWanted >= this.hysteresis.ticks) {
      member.raiseWanted = 0
      this.setCeiling(member, wanted)
    }
  }

  private setCeiling(member: Member, ceiling: number): void {
    const previous = member.state.ceiling
    if (previous === ceiling) return
    member.state.ceiling = ceiling
    this.hooks.emit(GroupEvent.CeilingChanged({ pool: member.name, ceiling, previous }))
  }

  private move(from: Member, conn: Conn<unknown>, to: Member | undefined): void {
    from.state.close(conn, "idle")
    this.capacityMoves++
    this.hooks.moved()
    this.hooks.emit(GroupEvent.CapacityMoved({ from: from.name, to: to?.name, connectionId: conn.id }))
  }

  private neediest(): Member | undefined {
    let best: Member | undefined
    for (const m of this.members) if (m.need > 0 && (best === undefined || m.need > best.need)) best = m
    return best
  }

  private mostSpare(): Member | undefined {
    let best: Member | undefined
    for (const m of this.members) {
      if (m.spare > 0 && m.need === 0 && (best === undefined || m.spare > best.spare)) best = m
    }
    return best
  }
}
