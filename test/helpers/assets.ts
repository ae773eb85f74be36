import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe } from "vitest";

const repoRoot = resolve(import.meta.dirname, "../..");
export const MODEL_DIR = resolve(repoRoot, process.env.MODEL_DIR ?? "../shared/models");
export const DATA_DIR = resolve(repoRoot, process.env.DATA_DIR ?? "../shared/data");
export const REPO_ROOT = repoRoot;

export const modelPath = (file: string) => join(MODEL_DIR, file);
export const dataPath = (rel: string) => join(DATA_DIR, rel);

/**
 * A describe block that needs real models or data. Missing files skip it with a hint on a developer's
 * machine and fail it under CI=true, where the shared assets must be present.
 */
export function describeWithAssets(name: string, paths: readonly string[], body: () => void): void {
  const missing = paths.filter((p) => !existsSync(p));
  if (missing.length === 0) {
    describe(name, body);
    return;
  }
  const hint =
    `missing ${missing.join(", ")}. Set MODEL_DIR / DATA_DIR to folders holding the models ` +
    "(`counter model fetch <id> --dir DIR`) and test data (see docs/testing.md).";
  if (process.env.CI === "true") {
    describe(name, () => {
      throw new Error(`CI needs the shared test assets: ${hint}`);
    });
  } else {
    console.warn(`skipping "${name}": ${hint}`);
    describe.skip(name, body);
  }
}
