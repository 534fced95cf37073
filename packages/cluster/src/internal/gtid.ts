/**
 * GTID positions as text, compared without a server.
 *
 * MariaDB: `domain-server-seq` per replication domain, comma separated (`@@gtid_binlog_pos`,
 * `@@gtid_slave_pos`). Sequence numbers grow within a domain whichever server wrote them, so a position
 * has reached another when, in each of the other's domains, its sequence number is at least as high.
 *
 * MySQL: GTID sets, `uuid[:tag]:interval[:interval...]` per source, comma separated (`@@gtid_executed`,
 * newlines allowed). Transactions may be applied out of order (parallel appliers), so a set has reached
 * another only when it contains every transaction of it.
 */

/** The highest sequence number of each domain; an entry that is not `d-s-n` is ignored. */
const mariadbDomains = (position: string): Map<string, bigint> => {
  const seqs = new Map<string, bigint>()
  for (const gtid of position.split(",")) {
    const match = /^\s*(\d+)-(\d+)-(\d+)\s*$/.exec(gtid)
    if (match === null) continue
    const seq = BigInt(match[3]!)
    const known = seqs.get(match[1]!)
    if (known === undefined || seq > known) seqs.set(match[1]!, seq)
  }
  return seqs
}

export const mariadbAtLeast = (a: string, b: string): boolean => {
  const reached = mariadbDomains(a)
  for (const [domain, seq] of mariadbDomains(b)) {
    const at = reached.get(domain)
    if (at === undefined || at < seq) return false
  }
  return true
}

type Interval = readonly [bigint, bigint]

/** Each source (uuid, and tag when there is one) with its transaction intervals, merged and sorted. */
const mysqlSets = (set: string): Map<string, Array<Interval>> => {
  const sources = new Map<string, Array<Interval>>()
  for (const entry of set.split(",")) {
    const parts = entry.trim().toLowerCase().split(":")
    const uuid = parts[0]!
    if (uuid === "") continue
    let tag = ""
    for (const part of parts.slice(1)) {
      const interval = /^(\d+)(?:-(\d+))?$/.exec(part)
      if (interval === null) {
        tag = part
        continue
      }
      const key = `${uuid}:${tag}`
      const list = sources.get(key) ?? []
      list.push([BigInt(interval[1]!), BigInt(interval[2] ?? interval[1]!)])
      sources.set(key, list)
    }
  }
  for (const [key, list] of sources) {
    list.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))
    const merged: Array<Interval> = []
    for (const [start, end] of list) {
      const last = merged[merged.length - 1]
      if (last !== undefined && start <= last[1] + 1n) {
        merged[merged.length - 1] = [last[0], end > last[1] ? end : last[1]]
      } else merged.push([start, end])
    }
    sources.set(key, merged)
  }
  return sources
}

export const mysqlAtLeast = (a: string, b: string): boolean => {
  const have = mysqlSets(a)
  for (const [source, needed] of mysqlSets(b)) {
    const intervals = have.get(source) ?? []
    for (const [start, end] of needed) {
      if (!intervals.some(([s, e]) => s <= start && end <= e)) return false
    }
  }
  return true
}
