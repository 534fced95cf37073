// Writes dbpool.rules.yml from AlertRule.defaults: `npx tsx packages/observability/test/writeRules.ts`.
// The package's test fails when the file and the defaults differ.
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { AlertRule } from "../src/index.js"

const file = fileURLToPath(new URL("../prometheus/dbpool.rules.yml", import.meta.url))
fs.writeFileSync(file, AlertRule.toPrometheus(AlertRule.defaults))
console.log(`wrote ${file}`)
