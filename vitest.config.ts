import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Native addons (onnxruntime-node, sharp, better-sqlite3) are not safe under worker threads.
    pool: "forks",
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
