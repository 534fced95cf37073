import { defineConfig } from "vitest/config"
import projects from "./vitest.workspace.js"

// The package list lives in vitest.workspace.ts (the layout's name for it); handing it to `test.projects`
// keeps Vitest 3.2 from warning that workspace files are deprecated.
export default defineConfig({ test: { projects } })
