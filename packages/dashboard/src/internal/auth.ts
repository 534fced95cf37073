/**
 * The optional bearer token. A request carries it in `Authorization: Bearer`
 * (curl, Prometheus, probes) or in the cookie the page sets after it was
 * opened once with `?token=` (a browser's EventSource cannot send headers).
 * Compared in constant time, on digests so that lengths do not leak either;
 * never logged, never echoed.
 */
import * as Redacted from "effect/Redacted"
import * as crypto from "node:crypto"

export const cookieName = "dbpool_dashboard"

const digest = (s: string): Buffer => crypto.createHash("sha256").update(s, "utf8").digest()

export interface Guard {
  /** Whether the presented secret is the token (always true without a token). */
  readonly accepts: (presented: string | undefined) => boolean
  readonly enabled: boolean
}

export const make = (token: Redacted.Redacted<string> | undefined): Guard => {
  if (token === undefined) return { enabled: false, accepts: () => true }
  const expected = digest(Redacted.value(token))
  return {
    enabled: true,
    accepts: (presented) => presented !== undefined && crypto.timingSafeEqual(digest(presented), expected)
  }
}

/** The token in `Authorization: Bearer <token>`, if any. */
export const bearer = (header: string | undefined): string | undefined => {
  if (header === undefined) return undefined
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
  return match === null ? undefined : match[1]
}
