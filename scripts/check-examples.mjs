// Type-checks every example a user reads: each ```ts block of a JSDoc `@example` in the public packages'
// sources (packages/{core,sql,pg,mysql,sqlite,observability,cluster}/src) and of their README.md files. Each block becomes a
// module of its own in .examples-tmp/ (gitignored; inside the repository so that `@dbpool/*` resolve to
// the workspace packages), compiled with tsc under the repository's strict settings.
// Exits non-zero if a block does not compile; tsc's messages name the block's file and line.
import { spawnSync } from "node:child_process"
import fs from "node:fs"
import path from "node:path"
import { publicPackages, root, walk } from "./pack-dist.mjs"

const out = path.join(root, ".examples-tmp")

/** ```ts blocks of a Markdown text, with the line (1-based) each starts on. */
const fencedBlocks = (lines, firstLine) => {
  const blocks = []
  let start = -1
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim()
    if (start < 0 && /^```(ts|typescript)\s*$/.test(line)) start = i
    else if (start >= 0 && line === "```") {
      blocks.push({ line: firstLine + start, code: lines.slice(start + 1, i).join("\n") })
      start = -1
    }
  }
  return blocks
}

/** ```ts blocks after an `@example` tag of each JSDoc comment of a source file. */
const jsdocExamples = (text) => {
  const blocks = []
  for (const match of text.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
    const firstLine = text.slice(0, match.index).split("\n").length
    const lines = match[0].split("\n").map((l) => l.replace(/^\s*\/?\*+\/?\s?/, ""))
    const tag = lines.findIndex((l) => l.trimStart().startsWith("@example"))
    if (tag < 0) continue
    // The example runs to the next tag.
    const end = lines.findIndex((l, i) => i > tag && /^\s*@\w/.test(l))
    blocks.push(...fencedBlocks(lines.slice(tag + 1, end < 0 ? undefined : end), firstLine + tag + 1))
  }
  return blocks
}

const collect = () => {
  const found = []
  for (const name of publicPackages) {
    const pkgDir = path.join(root, "packages", name)
    for (const file of walk(path.join(pkgDir, "src")).filter((f) => f.endsWith(".ts")).sort()) {
      for (const block of jsdocExamples(fs.readFileSync(file, "utf8"))) found.push({ file, ...block })
    }
    const readme = path.join(pkgDir, "README.md")
    if (fs.existsSync(readme)) {
      for (const block of fencedBlocks(fs.readFileSync(readme, "utf8").split("\n"), 1)) {
        found.push({ file: readme, ...block })
      }
    }
  }
  return found
}

const started = Date.now()
const blocks = collect()
fs.rmSync(out, { recursive: true, force: true })
fs.mkdirSync(out, { recursive: true })
const files = blocks.map((block) => {
  const rel = path.relative(path.join(root, "packages"), block.file)
  const name = `${rel.replace(/[\\/.]/g, "_")}_L${block.line}.ts`
  // The origin on the first line, so that a tsc error leads back to the example.
  fs.writeFileSync(path.join(out, name), `// packages/${rel}:${block.line}\n${block.code}\n`)
  return name
})
fs.writeFileSync(
  path.join(out, "tsconfig.json"),
  JSON.stringify(
    {
      extends: "../tsconfig.base.json",
      compilerOptions: {
        composite: false,
        incremental: false,
        noEmit: true,
        declaration: false,
        declarationMap: false,
        emitDeclarationOnly: false,
        // An example shows a value without always using it.
        noUnusedLocals: false
      },
      files
    },
    null,
    2
  )
)

const tsc = spawnSync(path.join(root, "node_modules", ".bin", "tsc"), ["-p", path.join(out, "tsconfig.json")], {
  cwd: root,
  stdio: "inherit"
})
const perFile = blocks.reduce((n, b) => n.set(b.file, (n.get(b.file) ?? 0) + 1), new Map())
console.log(
  `check:examples: ${blocks.length} blocks from ${perFile.size} files ${
    tsc.status === 0 ? "compile" : "checked, some do NOT compile"
  } (${((Date.now() - started) / 1000).toFixed(1)} s)`
)
process.exit(tsc.status === 0 ? 0 : 1)
