import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, extname, join } from "node:path";
import type { LabelledBox } from "./detection-ap.ts";

export interface DatasetImage {
  readonly id: string;
  readonly path: string;
}

const IMAGE_EXTENSIONS = new Set([".jpg", ".jpeg", ".png", ".webp", ".bmp"]);

export function listImages(dir: string): DatasetImage[] {
  return readdirSync(dir)
    .filter((f) => IMAGE_EXTENSIONS.has(extname(f).toLowerCase()))
    .sort()
    .map((f) => ({ id: basename(f, extname(f)), path: join(dir, f) }));
}

/** Reads a YOLO txt label file (class cx cy w h, normalised) into pixel boxes. A missing file means no objects. */
export function readYoloLabels(path: string, imageId: string, width: number, height: number): LabelledBox[] {
  if (!existsSync(path)) return [];
  const boxes: LabelledBox[] = [];
  readFileSync(path, "utf8")
    .split("\n")
    .forEach((line, i) => {
      const parts = line.trim().split(/\s+/);
      if (parts.length < 5 || parts[0] === "") return;
      const [c, cx, cy, w, h] = parts.slice(0, 5).map(Number) as [number, number, number, number, number];
      if ([c, cx, cy, w, h].some((v) => !Number.isFinite(v)))
        throw new Error(`${path}:${i + 1}: not a YOLO label line`);
      boxes.push({
        imageId,
        classId: c,
        crowd: false,
        box: {
          x1: (cx - w / 2) * width,
          y1: (cy - h / 2) * height,
          x2: (cx + w / 2) * width,
          y2: (cy + h / 2) * height,
        },
      });
    });
  return boxes;
}

interface CrowdFile {
  crowd: Record<string, { category: string; bbox_xywh: [number, number, number, number] }[]>;
}

/** COCO iscrowd regions as in coco-val64/crowd.json, keyed by image file name; class matched by name. */
export function readCrowdRegions(path: string, labels: readonly string[]): LabelledBox[] {
  const data = JSON.parse(readFileSync(path, "utf8")) as CrowdFile;
  const out: LabelledBox[] = [];
  for (const [file, regions] of Object.entries(data.crowd)) {
    for (const r of regions) {
      const classId = labels.indexOf(r.category);
      if (classId < 0) continue;
      const [x, y, w, h] = r.bbox_xywh;
      out.push({
        imageId: basename(file, extname(file)),
        classId,
        crowd: true,
        box: { x1: x, y1: y, x2: x + w, y2: y + h },
      });
    }
  }
  return out;
}
