// Checks each public package as it will be published (packages/<x>/dist, after `npm run build`):
// publint --strict (package.json fields, exports, files) and @arethetypeswrong/cli --pack (the types
// every resolver — node10, node16 from CJS and from ESM, bundler — finds for every entry point).
// Exits non-zero if either reports anything for any package.
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

const started = Date.now()
let failed = 0
for (const name of publicPackages) {
  const dist = path.join("packages", name, "dist")
  if (!fs.existsSync(path.join(root, dist, "package.json"))) {
    console.error(`${dist}/package.json is missing: run npm run build first`)
    process.exit(1)
  }
  if (!run(`publint --strict ${dist}`, bin("publint"), ["--strict", dist])) failed++
  if (!run(`attw --pack ${dist}`, bin("attw"), ["--pack", dist, "--format", "ascii", "--no-color"])) failed++
}
console.log(`lint:packages: ${failed === 0 ? "no problem" : `${failed} check(s) failed`} (${Date.now() - started} ms)`)
process.exit(failed === 0 ? 0 : 1)
