// The packages' own vitest configs, run together by `vitest run` at the top level.
export default ["packages/*/vitest.config.ts"]
