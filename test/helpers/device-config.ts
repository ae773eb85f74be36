import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { parseConfig } from "../../edge/config/load.ts";
import type { Config } from "../../edge/config/schema.ts";

/** A valid device configuration for tests: one line, 1-second intervals (opted in), a fresh database. */
export function deviceConfig(
  id: string,
  mqttUrl: string,
  over: Record<string, unknown> = {},
): { config: Config; raw: Record<string, unknown>; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), `dev-${id}-`));
  const raw: Record<string, unknown> = {
    device: { id, location: { latitude: 55.68, longitude: 12.57 } },
    camera: { source: "simulated" },
    lines: [
      {
        name: "gate",
        points: [
          [0, 0.5],
          [1, 0.5],
        ],
        from: "north",
        to: "south",
      },
    ],
    aggregation: { periodSec: 1 },
    privacy: { allowShortIntervals: true }, // tests want many intervals quickly
    storage: { path: join(dir, "counts.db") },
    mqtt: { url: mqttUrl, baseTopic: "city" },
    ...over,
  };
  return { config: parseConfig(raw, `${id}.yaml`, {}), raw, dir };
}

export function writeConfig(raw: Record<string, unknown>, dir: string): string {
  const path = join(dir, "device.yaml");
  writeFileSync(path, stringify(raw));
  return path;
}
