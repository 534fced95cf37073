// Turns what `tsc -b tsconfig.build.json` wrote into packages/<x>/dist into a package that can be packed
// and published from dist (`npm pack packages/<x>/dist`), laid out as effect's own packages are:
//
//   dist/package.json   generated: exports with import/require conditions, each with its own types
//   dist/esm            ES modules (+ source maps); types in dist/dts (read as ESM: dist is "type": "module")
//   dist/cjs            CommonJS (+ source maps) with their own .d.ts, under a {"type": "commonjs"} package.json
//   dist/src            the sources the source maps and declaration maps point at
//   dist/<Module>/      package.json stubs so that resolvers without `exports` (node10) find each module
//   README.md, LICENSE, CHANGELOG.md
//   the source package.json's `files` (assets read from disk, not imported: observability's prometheus/
//   rules file)
//
// The source package.json keeps its ./src/*.ts exports: in the repository, vitest, tsc and tsx read the
// sources directly. It also exports dist/esm under the `@dbpool/dist` condition, which only the benchmark
// asks for (`tsx --conditions=@dbpool/dist`: dbpool runs compiled, as its peers do); the package.json
// written here is built from scratch and has no such condition. Usage: node scripts/pack-dist.mjs (after the tsc build; `npm run build` does both).
import fs from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"

/** The repository's root; the other scripts import it, with `publicPackages` and `walk`, from here. */
export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
export const publicPackages = ["core", "sql", "pg", "mysql", "sqlite", "observability", "dashboard", "cluster"]

// Fields of the source package.json carried over as they are (order kept in the output).
const carried = [
  "name",
  "version",
  "description",
  "keywords",
  "license",
  "repository",
  "homepage",
  "bugs",
  "engines",
  "sideEffects",
  "dependencies",
  "peerDependencies",
  "peerDependenciesMeta",
  "publishConfig"
]

const readJson = (file) => JSON.parse(fs.readFileSync(file, "utf8"))
const writeJson = (file, value) => fs.writeFileSync(file, JSON.stringify(value, null, 2) + "\n")

/** The public modules: every top-level src/*.ts (src/internal is not exported). */
const modulesOf = (pkgDir) =>
  fs.readdirSync(path.join(pkgDir, "src"))
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
    .map((f) => f.slice(0, -3))
    .sort((a, b) => (a === "index" ? -1 : b === "index" ? 1 : a.localeCompare(b)))

const entry = (module) => ({
  import: { types: `./dts/${module}.d.ts`, default: `./esm/${module}.js` },
  require: { types: `./cjs/${module}.d.ts`, default: `./cjs/${module}.js` }
})

const manifest = (source, modules) => {
  const out = {}
  for (const key of carried) if (source[key] !== undefined) out[key] = source[key]
  out.type = "module"
  out.main = "./cjs/index.js"
  out.module = "./esm/index.js"
  out.types = "./cjs/index.d.ts"
  out.exports = { "./package.json": "./package.json" }
  for (const m of modules) out.exports[m === "index" ? "." : `./${m}`] = entry(m)
  out.files = [
    "esm",
    "cjs",
    "dts",
    "src",
    ...modules.filter((m) => m !== "index"),
    ...(source.files ?? []),
    "CHANGELOG.md"
  ]
  return out
}

/** Every file under `dir`, at any depth. */
export const walk = (dir) =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? walk(path.join(dir, d.name)) : [path.join(dir, d.name)]
  )

// tsc writes source paths relative to packages/<x>/src; in the packed package the sources are dist/src.
// Rewrites only paths that still point into packages/<x>/src, so a second run changes nothing.
const retargetSourceMaps = (pkgDir, dist) => {
  const srcDir = path.join(pkgDir, "src")
  for (const sub of ["esm", "cjs", "dts"]) {
    for (const file of walk(path.join(dist, sub)).filter((f) => f.endsWith(".map"))) {
      const map = readJson(file)
      const base = path.dirname(file)
      let changed = false
      map.sources = map.sources.map((s) => {
        const abs = path.resolve(base, map.sourceRoot ?? "", s)
        if (!abs.startsWith(srcDir + path.sep)) return s
        changed = true
        return path.relative(base, path.join(dist, "src", path.relative(srcDir, abs))).split(path.sep).join("/")
      })
      if (changed) fs.writeFileSync(file, JSON.stringify(map))
    }
  }
}

// tsc -b is incremental and never deletes: the output of a source file that was removed or renamed
// would be packed with the rest.
const removeStaleOutputs = (pkgDir, dist) => {
  for (const sub of ["esm", "cjs", "dts"]) {
    for (const file of walk(path.join(dist, sub))) {
      const rel = path.relative(path.join(dist, sub), file)
      if (rel === "package.json") continue
      const source = rel.replace(/(\.d)?\.(js|ts)(\.map)?$/, ".ts")
      if (!fs.existsSync(path.join(pkgDir, "src", source))) fs.rmSync(file)
    }
  }
}

const copyIfExists = (from, to) => {
  if (fs.existsSync(from)) fs.copyFileSync(from, to)
}

export const assemble = (name) => {
  const pkgDir = path.join(root, "packages", name)
  const dist = path.join(pkgDir, "dist")
  for (const sub of ["esm", "cjs", "dts"]) {
    if (!fs.existsSync(path.join(dist, sub))) {
      throw new Error(`${dist}/${sub} is missing: run tsc -b tsconfig.build.json`)
    }
  }
  const source = readJson(path.join(pkgDir, "package.json"))
  const modules = modulesOf(pkgDir)

  removeStaleOutputs(pkgDir, dist)
  fs.rmSync(path.join(dist, "src"), { recursive: true, force: true })
  fs.cpSync(path.join(pkgDir, "src"), path.join(dist, "src"), { recursive: true })
  retargetSourceMaps(pkgDir, dist)
  writeJson(path.join(dist, "cjs", "package.json"), { type: "commonjs" })
  for (const m of modules.filter((m) => m !== "index")) {
    fs.mkdirSync(path.join(dist, m), { recursive: true })
    writeJson(path.join(dist, m, "package.json"), {
      main: `../cjs/${m}.js`,
      module: `../esm/${m}.js`,
      types: `../cjs/${m}.d.ts`,
      sideEffects: []
    })
  }
  writeJson(path.join(dist, "package.json"), manifest(source, modules))
  copyIfExists(path.join(pkgDir, "README.md"), path.join(dist, "README.md"))
  copyIfExists(path.join(pkgDir, "CHANGELOG.md"), path.join(dist, "CHANGELOG.md"))
  for (const asset of source.files ?? []) {
    fs.rmSync(path.join(dist, asset), { recursive: true, force: true })
    fs.cpSync(path.join(pkgDir, asset), path.join(dist, asset), { recursive: true })
  }
  fs.copyFileSync(path.join(root, "LICENSE"), path.join(dist, "LICENSE"))
  return dist
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const name of publicPackages) {
    const dist = assemble(name)
    console.log(`${path.relative(root, dist)}: ${readJson(path.join(dist, "package.json")).name}`)
  }
}
