import { defineProject, mergeConfig } from "vitest/config"
import shared from "../../vitest.shared.js"

// test/setup.ts gives each test file databases of its own, so two runs on one machine never share tables.
export default mergeConfig(shared, defineProject({ test: { name: "examples", setupFiles: ["test/setup.ts"] } }))
