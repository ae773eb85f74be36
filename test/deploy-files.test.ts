import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { expect, it } from "vitest";
import { dataPath, describeWithAssets, MODEL_DIR, modelPath, REPO_ROOT } from "./helpers/assets.ts";

// The container image and the systemd install each ship a chosen subset of the repository. These
// tests run the counter from exactly that subset, so a runtime file left out of either shows here.

function dockerfileParts(): string[] {
  const text = readFileSync(join(REPO_ROOT, "Dockerfile.arm64"), "utf8");
  const parts: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^COPY\s+(?!--from)(.+)$/.exec(line.trim());
    if (!m) continue;
    const words = m[1]!.split(/\s+/);
    parts.push(...words.slice(0, -1)); // the last word is the destination
  }
  return parts;
}

function installerParts(): string[] {
  const text = readFileSync(join(REPO_ROOT, "scripts/install-rpi.sh"), "utf8");
  const m = /^APP_PARTS=\(([^)]*)\)/m.exec(text);
  if (!m) throw new Error("APP_PARTS not found in scripts/install-rpi.sh");
  return m[1]!.trim().split(/\s+/);
}

function runFrom(parts: string[], args: string[], env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "deploy-files-"));
  for (const part of parts) {
    mkdirSync(dirname(join(dir, part)), { recursive: true });
    cpSync(join(REPO_ROOT, part), join(dir, part), { recursive: true });
  }
  symlinkSync(join(REPO_ROOT, "node_modules"), join(dir, "node_modules"));
  return spawnSync(process.execPath, [join(dir, "bin/counter.js"), ...args], {
    cwd: dir,
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
}

describeWithAssets(
  "the files shipped by Dockerfile.arm64 and install-rpi.sh run the counter",
  [modelPath("yolox_nano.onnx"), dataPath("images/street.jpg")],
  () => {
    it("lists what each ships", () => {
      expect(dockerfileParts()).toEqual(
        expect.arrayContaining(["package.json", "package-lock.json", "bin", "edge", "models"]),
      );
      expect(installerParts()).toEqual(
        expect.arrayContaining(["package.json", "package-lock.json", "bin", "edge", "models"]),
      );
    });

    it.each([
      ["Dockerfile.arm64", dockerfileParts],
      ["install-rpi.sh", installerParts],
    ])("%s: config check of the example, model list, detect on a photo", (_name, parts) => {
      const check = runFrom(parts(), ["config", "check", "examples/device.yaml"], {
        COUNTER_MQTT_PASSWORD: "secret",
      });
      expect(check.stderr + check.stdout).toMatch(/valid/);
      expect(check.status).toBe(0);
      const list = runFrom(parts(), ["model", "list"]);
      expect(list.status).toBe(0);
      expect(list.stdout).toContain("yolox-nano");
      const detect = runFrom(parts(), [
        "detect",
        dataPath("images/street.jpg"),
        "--model-dir",
        MODEL_DIR,
        "--json",
      ]);
      expect(detect.status, detect.stderr).toBe(0);
      const detections = JSON.parse(detect.stdout) as unknown[] | { detections: unknown[] }[];
      expect(JSON.stringify(detections)).toContain('"person"');
    });
  },
);
