// The packaging test: the six public packages as a user gets them. Builds them, packs each from its
// dist into a temporary folder outside the repository, installs the tarballs there with nothing else
// than registry packages (no workspace link), and there:
//   (a) `node app.mjs`: a SQLite pool (a file in the folder) and a PostgreSQL pool, a query on each;
//   (b) `node app.cjs`: each package through require();
//   (c) `tsc --noEmit` on a TypeScript consumer (strict, exactOptionalPropertyTypes, nodenext, no skipLibCheck).
// It also checks that effect resolves to one 3.x copy. The consumer's files are scripts/pack-consumer/.
//
// DBPOOL_PACK_REUSE=1 reuses one folder (os.tmpdir()/dbpool-pack-reuse) and its node_modules across runs.
// PostgreSQL at postgres://postgres@127.0.0.1:5432/test: when it is down the PostgreSQL part is skipped
// with a message, except with CI=true, where that fails the test.
import { spawnSync } from "node:child_process"
import fs from "node:fs"
import net from "node:net"
import os from "node:os"
import path from "node:path"
import { publicPackages, root } from "./pack-dist.mjs"

const consumerDir = path.join(root, "scripts", "pack-consumer")
const pgUrl = "postgres://postgres@127.0.0.1:5432/test"
const ci = process.env.CI === "true" || process.env.CI === "1"
const reuse = process.env.DBPOOL_PACK_REUSE === "1"

const started = Date.now()
const timings = []
const step = (label, fn) => {
  const t = Date.now()
  const result = fn()
  timings.push([label, Date.now() - t])
  return result
}
let dir
const fail = (message) => {
  console.error(`test:pack: FAILED: ${message}${dir ? ` (the folder is kept: ${dir})` : ""}`)
  process.exit(1)
}
const run = (command, args, options = {}) => {
  console.log(`$ ${command} ${args.join(" ")}${options.cwd && options.cwd !== root ? `  (in ${options.cwd})` : ""}`)
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit", ...options })
  if (result.status !== 0) fail(`${command} ${args.join(" ")} exited with ${result.status ?? result.signal}`)
  return result
}

const reachable = (host, port) =>
  new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 2000 })
    const done = (ok) => {
      socket.destroy()
      resolve(ok)
    }
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
    socket.once("timeout", () => done(false))
  })

const tempDir = () => {
  if (!reuse) return fs.mkdtempSync(path.join(os.tmpdir(), "dbpool-pack-"))
  const dir = path.join(os.tmpdir(), "dbpool-pack-reuse")
  fs.mkdirSync(dir, { recursive: true })
  // Keep the registry packages (better-sqlite3 compiles for a minute or two), never our own: the
  // tarballs, their installed copies and the lockfiles that pin their old checksums go.
  for (const f of fs.readdirSync(dir)) if (f.endsWith(".tgz")) fs.rmSync(path.join(dir, f))
  for (const f of ["node_modules/@dbpool", "node_modules/.package-lock.json", "package-lock.json"]) {
    fs.rmSync(path.join(dir, f), { recursive: true, force: true })
  }
  return dir
}

dir = tempDir()
if (path.relative(root, dir).split(path.sep)[0] !== "..") fail(`${dir} is inside the repository`)
console.log(`test:pack: working in ${dir}${reuse ? " (DBPOOL_PACK_REUSE=1)" : ""}`)

step("build", () => run("npm", ["run", "build", "--silent"]))

const tarballs = step("npm pack", () =>
  Object.fromEntries(publicPackages.map((name) => {
    const result = spawnSync(
      "npm",
      ["pack", path.join("packages", name, "dist"), "--pack-destination", dir, "--json"],
      {
        cwd: root,
        encoding: "utf8"
      }
    )
    if (result.status !== 0) fail(`npm pack packages/${name}/dist: ${result.stderr}`)
    const [info] = JSON.parse(result.stdout)
    return [info.name, `file:./${info.filename}`]
  })))

// The tarballs are installed as the consumer's own dependencies and, through overrides, as the
// dependencies of each other: npm must not look for @dbpool/* on the registry.
const consumerPackage = {
  name: "dbpool-pack-consumer",
  private: true,
  type: "module",
  dependencies: { ...tarballs, "@effect/sql": "^0.52.1", effect: "^3.22.4" },
  devDependencies: { "@types/node": "^20.19.43", typescript: "^5.9.3" },
  overrides: tarballs
}
fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify(consumerPackage, null, 2) + "\n")
for (const f of fs.readdirSync(consumerDir)) fs.copyFileSync(path.join(consumerDir, f), path.join(dir, f))

step("npm install", () => run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: dir }))

step("one copy of effect", () => {
  const result = spawnSync("npm", ["ls", "effect", "--all", "--json"], { cwd: dir, encoding: "utf8" })
  const versions = new Set()
  const visit = (deps) => {
    for (const [name, node] of Object.entries(deps ?? {})) {
      if (name === "effect" && node.version) versions.add(node.version)
      visit(node.dependencies)
    }
  }
  visit(JSON.parse(result.stdout).dependencies)
  const copies = fs.readdirSync(path.join(dir, "node_modules"), { recursive: true })
    .map((f) => f.split(path.sep))
    .filter((parts) => parts.at(-1) === "package.json" && parts.at(-2) === "effect")
    .filter((parts) => parts.length === 2 || parts.at(-3) === "node_modules")
    .map((parts) => parts.join("/"))
  console.log(`effect: ${[...versions].join(", ")}; installed copies: ${copies.join(", ")}`)
  if (versions.size !== 1 || ![...versions][0].startsWith("3.") || copies.length !== 1) {
    fail(`effect must resolve to one 3.x copy, found versions ${[...versions]} in ${copies}`)
  }
})

const pgUp = await reachable("127.0.0.1", 5432)
if (!pgUp && ci) fail(`PostgreSQL is not reachable on 127.0.0.1:5432 (CI=true: the PostgreSQL part may not be skipped)`)
if (!pgUp) {
  console.log(
    "test:pack: PostgreSQL is down on 127.0.0.1:5432: the PostgreSQL queries of app.mjs and app.cjs are skipped"
  )
}
const sqliteFile = path.join(dir, "app.db")
for (const f of [sqliteFile, `${sqliteFile}-wal`, `${sqliteFile}-shm`]) fs.rmSync(f, { force: true })
const appEnv = { ...process.env, DBPOOL_PACK_SQLITE_FILE: sqliteFile }
if (pgUp) appEnv.DBPOOL_PACK_PG_URL = pgUrl
else delete appEnv.DBPOOL_PACK_PG_URL

step("node app.mjs", () => run("node", ["app.mjs"], { cwd: dir, env: appEnv }))
step("node app.cjs", () => run("node", ["app.cjs"], { cwd: dir, env: appEnv }))
step(
  "tsc --noEmit",
  () => run(path.join(dir, "node_modules", ".bin", "tsc"), ["--noEmit", "-p", "tsconfig.json"], { cwd: dir })
)

if (!reuse) fs.rmSync(dir, { recursive: true, force: true })
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`
console.log(
  `test:pack: ok in ${seconds(Date.now() - started)} (${timings.map(([l, ms]) => `${l} ${seconds(ms)}`).join(", ")})`
)
