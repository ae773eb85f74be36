#!/usr/bin/env node
// Runs the compiled counter from dist/ when `npm run build` made one, else the TypeScript sources
// directly (no build step between a git checkout and a running counter). COUNTER_FROM_SOURCE=1
// forces the sources, as the tests do.
import { existsSync } from "node:fs";

const built = new URL("../dist/cli/main.js", import.meta.url);
if (existsSync(built) && process.env.COUNTER_FROM_SOURCE !== "1") {
  await import(built.href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../edge/cli/main.ts");
}
