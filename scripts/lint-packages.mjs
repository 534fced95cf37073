// Checks each public package as it will be published (packages/<x>/dist, after `npm run build`):
// publint --strict (package.json fields, exports, files) and @arethetypeswrong/cli --pack (the types
// every resolver — node10, node16 from CJS and from ESM, bundler — finds for every entry point).
// Also: the source package.json exports the compiled output under the `@dbpool/dist` condition (the
// benchmark runs dbpool compiled through it, as its peers run), and that condition stays out of the
// published package.json. Exits non-zero if any check reports anything for any package.
import { spawnSync } from "node:child_process"
import fs from "node:fs"
import path from "node:path"
import { publicPackages, root } from "./pack-dist.mjs"

const bin = (name) => path.join(root, "node_modules", ".bin", name)

const run = (label, command, args) => {
  const result = spawnSync(command, args, { cwd: root, encoding: "utf8" })
  const ok = result.status === 0
  console.log(`${ok ? "ok  " : "FAIL"} ${label}`)
  if (!ok) console.log(`${result.stdout}${result.stderr}`)
  return ok
}

const sourceExports = {
  ".": { "@dbpool/dist": "./dist/esm/index.js", default: "./src/index.ts" },
  "./*": { "@dbpool/dist": "./dist/esm/*.js", default: "./src/*.ts" }
}
const check = (label, ok, why) => {
  console.log(`${ok ? "ok  " : "FAIL"} ${label}`)
  if (!ok) console.log(why)
  return ok
}
const readJson = (file) => JSON.parse(fs.readFileSync(path.join(root, file), "utf8"))

const started = Date.now()
let failed = 0
for (const name of publicPackages) {
  const dist = path.join("packages", name, "dist")
  if (!fs.existsSync(path.join(root, dist, "package.json"))) {
    console.error(`${dist}/package.json is missing: run npm run build first`)
    process.exit(1)
  }
  const source = readJson(path.join("packages", name, "package.json")).exports
  const sourceOk = JSON.stringify(source) === JSON.stringify(sourceExports)
  if (!check(`packages/${name}/package.json exports`, sourceOk, `expected ${JSON.stringify(sourceExports)}`)) failed++
  const leaked = fs.readFileSync(path.join(root, dist, "package.json"), "utf8").includes("@dbpool/dist")
  if (!check(`${dist}/package.json without @dbpool/dist`, !leaked, "the benchmark's condition leaked")) failed++
  if (!run(`publint --strict ${dist}`, bin("publint"), ["--strict", dist])) failed++
  if (!run(`attw --pack ${dist}`, bin("attw"), ["--pack", dist, "--format", "ascii", "--no-color"])) failed++
}
console.log(`lint:packages: ${failed === 0 ? "no problem" : `${failed} check(s) failed`} (${Date.now() - started} ms)`)
process.exit(failed === 0 ? 0 : 1)
