import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Native addons (onnxruntime-node, sharp, better-sqlite3) are not safe under worker threads.
    pool: "forks",
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // counters the tests start run the working tree's sources, never a dist/ left by `npm run build`
    env: { COUNTER_FROM_SOURCE: "1" },
  },
});
