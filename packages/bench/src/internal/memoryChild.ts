/**
 * One memory measurement, in a process of its own, started by `Memory.run` as
 * `node --expose-gc [--conditions=@dbpool/dist] --import tsx memoryChild.ts SCENARIO COUNT [PAUSE_MS]`
 * (or `SCENARIO,SCENARIO`: one after the other, as the quick mode does to
 * start fewer processes). It loads what
 * the scenario needs, warms up (COUNT connections opened and closed, so that
 * what a process makes once — lazily loaded modules, the code V8 compiles for
 * hot functions — is in the baseline, not in the figure), measures the heap
 * after repeated garbage collections (the baseline), opens COUNT connections
 * and waits until they are all idle, measures again (each measurement
 * repeated until it is stable, see `stable`), closes everything, and prints
 * one JSON line: {@link ChildResult}.
 *
 * Only the scenario's own modules are imported, so each process starts fast;
 * the baseline is taken after the imports, so they do not count.
 */
import type { Connector } from "@dbpool/sql/Connector"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Memory from "../Memory.js"
import { applicationName, servers } from "./servers.js"

/** What the child prints, one JSON line on stdout per scenario. */
export interface ChildResult {
  readonly scenario: Memory.ScenarioId
  readonly count: number
  /** `process.memoryUsage()` after the collections, before and after opening `count` connections. */
  readonly before: { readonly heapUsed: number; readonly external: number; readonly arrayBuffers: number }
  readonly after: { readonly heapUsed: number; readonly external: number; readonly arrayBuffers: number }
  /** How long opening the connections took, in milliseconds. */
  readonly openMs: number
  /** Where the process's time went, in milliseconds: loading, warm-up, baseline, opening and measuring. */
  readonly phasesMs: ReadonlyArray<number>
}

const gc = (globalThis as { gc?: () => void }).gc

/**
 * Repeated full collections with turns of the event loop between them, until
 * the heap stops shrinking (weak references and finalizers can free more on a
 * second pass), then the figures.
 */
const settle = async () => {
  if (gc === undefined) throw new Error("run with node --expose-gc")
  let last = Number.POSITIVE_INFINITY
  for (let i = 0; i < 10; i++) {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
    await new Promise((resolve) => setTimeout(resolve, 5))
    const used = process.memoryUsage().heapUsed
    if (i >= 3 && used >= last - 64) break
    last = Math.min(last, used)
  }
  gc()
  const m = process.memoryUsage()
  return { heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Between two readings (argument 3, default 200 ms; the quick mode shortens it). */
let pauseMs = 200

/**
 * Pauses of `pauseMs` (for the handshakes' leftovers: timers, buffers of the last
 * packets) each followed by `settle`, until two readings in a row are within
 * 4 KB. The first few cycles of a process are not: V8 allocates feedback and
 * baseline code for the functions it has just started running (20 KB, then
 * 13 KB, then noise, measured with nothing else going on), and that must not
 * count as the connections' memory.
 */
const stable = async () => {
  let last = await settle()
  for (let i = 0; i < 8; i++) {
    await pause(pauseMs)
    const next = await settle()
    if (Math.abs(next.heapUsed - last.heapUsed) < 4096) return next
    last = next
  }
  return last
}

/** What one scenario opens and closes; `open(n)` resolves once all `n` are idle. */
interface Subject {
  readonly open: (n: number) => Promise<unknown>
  readonly close: (held: unknown) => Promise<void>
}

const waitUntil = async (check: () => Promise<boolean>, what: string) => {
  const giveUp = Date.now() + 30_000
  while (!(await check())) {
    if (Date.now() > giveUp) throw new Error(`gave up after 30 s waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

const subjects: Record<Memory.ScenarioId, () => Promise<Subject>> = {
  "pg.raw": async () => {
    const { default: Pg } = await import("pg")
    const s = servers.pg
    const one = async () => {
      const client = new Pg.Client({
        host: s.host,
        port: s.port,
        user: s.user,
        database: s.database,
        application_name: applicationName
      })
      // What any careful user adds: an idle client's error must not crash the process.
      client.on("error", () => {})
      await client.connect()
      return client
    }
    return {
      open: (n) => Promise.all(Array.from({ length: n }, one)),
      close: async (held) => {
        await Promise.all((held as Array<InstanceType<typeof Pg.Client>>).map((c) => c.end()))
      }
    }
  },
  "mysql.raw": async () => {
    const { default: Mysql } = await import("mysql2")
    const s = servers.mysql
    const one = () =>
      new Promise<ReturnType<typeof Mysql.createConnection>>((resolve, reject) => {
        // The options dbpool's MysqlPool passes (multipleStatements, supportBigNumbers).
        const conn = Mysql.createConnection({
          host: s.host,
          port: s.port,
          user: s.user,
          database: s.database,
          multipleStatements: true,
          supportBigNumbers: true
        })
        conn.on("error", () => {})
        conn.connect((error) => error ? reject(error) : resolve(conn))
      })
    return {
      open: (n) => Promise.all(Array.from({ length: n }, one)),
      close: async (held) => {
        await Promise.all(
          (held as Array<ReturnType<typeof Mysql.createConnection>>).map((c) =>
            new Promise<void>((resolve) => c.end(() => resolve()))
          )
        )
      }
    }
  },
  "pg.dbpool": async () => {
    const { connector } = await import("@dbpool/pg/PgPool")
    const s = servers.pg
    return sqlPool(connector({ host: s.host, port: s.port, username: s.user, database: s.database, applicationName }))
  },
  "mysql.dbpool": async () => {
    const { connector } = await import("@dbpool/mysql/MysqlPool")
    const s = servers.mysql
    return sqlPool(connector({ host: s.host, port: s.port, username: s.user, database: s.database }))
  },
  "core.array": () =>
    Promise.resolve({
      open: (n) => Promise.resolve(Array.from({ length: n }, () => ({}))),
      close: () => Promise.resolve()
    }),
  "core.pool": async () => {
    const [ResourcePool, Effect, Exit, Scope] = await Promise.all([
      import("@dbpool/core/ResourcePool"),
      import("effect/Effect"),
      import("effect/Exit"),
      import("effect/Scope")
    ])
    return {
      open: async (n) => {
        const scope = Effect.runSync(Scope.make())
        const pool = await Effect.runPromise(Scope.extend(
          ResourcePool.make({
            acquire: Effect.sync(() => ({})),
            config: { name: "memory", minConnections: n, maxConnections: n }
          }),
          scope
        ))
        await waitUntil(
          () => Effect.runPromise(pool.stats).then((s) => s.idleConnections === n && s.totalConnections === n),
          `${n} idle resources`
        )
        return { scope, pool }
      },
      close: (held) => Effect.runPromise(Scope.close((held as { scope: Scope.CloseableScope }).scope, Exit.void))
    }
  }
}

/** dbpool's SQL pool over a driver's connector, `min = max = n`, resolved once all `n` are idle. */
const sqlPool = async <N, E>(connector: Effect.Effect<Connector<N, E>, unknown>): Promise<Subject> => {
  const [Pool, Effect, Exit, Scope] = await Promise.all([
    import("@dbpool/sql/Pool"),
    import("effect/Effect"),
    import("effect/Exit"),
    import("effect/Scope")
  ])
  return {
    open: async (n) => {
      const scope = Effect.runSync(Scope.make())
      const pool = await Effect.runPromise(Scope.extend(
        Effect.flatMap(connector, (c) => Pool.make(c, { name: "memory", minConnections: n, maxConnections: n })),
        scope
      ))
      await waitUntil(
        () => Effect.runPromise(pool.stats).then((s) => s.idleConnections === n && s.totalConnections === n),
        `${n} idle connections`
      )
      return { scope, pool }
    },
    close: (held) => Effect.runPromise(Scope.close((held as { scope: Scope.CloseableScope }).scope, Exit.void))
  }
}

/** Measures one scenario: loads it, warms up, baseline, opens `count`, measures, closes. */
const measure = async (scenario: Memory.ScenarioId, count: number): Promise<ChildResult> => {
  const marks = [performance.now()]
  const subject = await subjects[scenario]()
  marks.push(performance.now())
  // Warm-up: the same `count` connections opened and closed, so that what a process makes once (lazily
  // loaded modules, the code V8 compiles for the functions that turn hot) is in the baseline: measured
  // with one connection only, the JIT's code for the opening path counted as 4-5 KB per connection.
  await subject.close(await subject.open(count))
  marks.push(performance.now())
  const before = await stable()
  marks.push(performance.now())
  const held = await subject.open(count)
  marks.push(performance.now())
  const after = await stable()
  marks.push(performance.now())
  // `held` is used after the measurement, so nothing of it could be collected before.
  await subject.close(held)
  return {
    scenario,
    count,
    before,
    after,
    openMs: marks[4]! - marks[3]!,
    phasesMs: marks.slice(1).map((t, i) => Math.round(t - marks[i]!))
  }
}

const main = async () => {
  const [list, countText, pauseText] = process.argv.slice(2)
  const scenarios = (list ?? "").split(",")
  const count = Number(countText)
  pauseMs = Number(pauseText ?? pauseMs)
  if (!scenarios.every((s) => s in subjects) || !Number.isInteger(count) || count < 1 || !(pauseMs >= 0)) {
    throw new Error(`usage: memoryChild.ts SCENARIO[,SCENARIO] COUNT [PAUSE_MS]; scenarios: ${Object.keys(subjects)}`)
  }
  // Node loads `performance` lazily, some 50 KB of heap at its first use: that must happen before the baseline.
  performance.now()
  // Several scenarios (the quick mode) run one after the other, each with its own warm-up and baseline,
  // the previous one closed: what it leaves behind is in the next one's baseline.
  for (const scenario of scenarios) {
    process.stdout.write(JSON.stringify(await measure(scenario as Memory.ScenarioId, count)) + "\n")
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(1)
  }
)
