import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { parseConfig } from "../../edge/config/load.ts";
import type { Config } from "../../edge/config/schema.ts";

export const MODEL_DIR = resolve(process.env.MODEL_DIR ?? "../shared/models");
export const DATA_DIR = resolve(process.env.DATA_DIR ?? "../shared/data");

/** The PETS clip re-encoded as H.264 at a camera resolution; `limit` bounds its length (ffmpeg args). */
export function petsClipH264(out: string, width: number, height: number, limit: string[]): string {
  const result = spawnSync("ffmpeg", [
    "-v",
    "error",
    "-i",
    `${DATA_DIR}/pets09-s2l1/pets09-s2l1.avi`,
    ...limit,
    "-vf",
    `scale=${width}:${height}`,
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-pix_fmt",
    "yuv420p",
    "-y",
    out,
  ]);
  if (result.status !== 0)
    throw new Error(`ffmpeg could not make ${out}: ${result.error?.message ?? result.stderr.toString()}`);
  return out;
}

/** A device running YOLOX-Nano on `camera` with one vertical line, storing to `dbPath`, no MQTT or API. */
export function benchConfig(
  id: string,
  camera: Record<string, unknown>,
  threads: number,
  dbPath: string,
  extra = {},
): Config {
  return parseConfig(
    {
      device: { id, location: { latitude: 0, longitude: 0 } },
      // the whole view is scaled to the model's input, as for the figures measured before the
      // detection region around the lines became the default (a crop leaves ffmpeg less to scale)
      camera: { region: "whole", ...camera },
      model: { id: "yolox-nano", dir: MODEL_DIR, threads },
      lines: [
        {
          name: "a",
          points: [
            [0.5, 1],
            [0.5, 0],
          ],
        },
      ],
      storage: { path: dbPath },
      mqtt: { enabled: false },
      api: { enabled: false },
      ...extra,
    },
    id,
    {},
  );
}
