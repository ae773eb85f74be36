import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { encodedImageSize } from "../detect/preprocess.ts";
import {
  type ClassAp,
  evaluateDetections,
  type LabelledBox,
  meanAp,
  type ScoredBox,
} from "../eval/detection-ap.ts";
import { listImages, readCrowdRegions, readYoloLabels } from "../eval/yolo-dataset.ts";
import { type DetectorCliOptions, loadCliDetector, modelConfigFrom } from "./detect-command.ts";
import { progressBar } from "./progress.ts";

export interface EvalDetectOptions extends DetectorCliOptions {
  images: string;
  labels: string;
  crowd?: string;
  json?: boolean;
}

export interface EvalDetectReport {
  readonly model: string;
  readonly images: number;
  readonly confidence: number;
  readonly crowdRegions: number;
  readonly classes: readonly (ClassAp & { readonly label: string })[];
  readonly mean: { readonly ap50: number; readonly ap5095: number };
}

export async function evaluateDetectDataset(
  o: EvalDetectOptions,
  showProgress: boolean,
): Promise<EvalDetectReport> {
  const detector = await loadCliDetector(o, { maxDetections: 100 });
  const images = listImages(o.images);
  if (images.length === 0) throw new Error(`no images in ${o.images}`);
  const labels = detector.info.labels;
  const classNames = modelConfigFrom(o).classes;
  const classIds = classNames.map((n) => labels.indexOf(n));
  const wanted = new Set(classIds);
  const groundTruth: LabelledBox[] = [];
  const detections: ScoredBox[] = [];
  const bar = showProgress ? progressBar("evaluating", " images") : undefined;
  bar?.start(images.length, 0);
  for (const img of images) {
    const data = await readFile(img.path);
    const size = await encodedImageSize(data);
    for (const g of readYoloLabels(join(o.labels, `${img.id}.txt`), img.id, size.width, size.height)) {
      if (wanted.has(g.classId)) groundTruth.push(g);
    }
    for (const d of await detector.detect({ kind: "encoded", data })) {
      detections.push({ imageId: img.id, classId: d.classId, score: d.score, box: d.box });
    }
    bar?.increment();
  }
  bar?.stop();
  await detector.release();
  const crowdPath = o.crowd ?? join(dirname(resolve(o.images)), "crowd.json");
  const crowd = existsSync(crowdPath)
    ? readCrowdRegions(crowdPath, labels).filter((c) => wanted.has(c.classId))
    : [];
  const perClass = evaluateDetections([...groundTruth, ...crowd], detections, classIds);
  return {
    model: detector.info.id,
    images: images.length,
    confidence: Number(o.conf),
    crowdRegions: crowd.length,
    classes: perClass.map((c) => ({ ...c, label: labels[c.classId] ?? String(c.classId) })),
    mean: { ap50: meanAp(perClass, "ap50"), ap5095: meanAp(perClass, "ap5095") },
  };
}

const fmt = (v: number) => (Number.isNaN(v) ? "  -  " : v.toFixed(3));

export function formatEvalTable(r: EvalDetectReport): string {
  const lines = [
    `model ${r.model}, ${r.images} images, confidence >= ${r.confidence}, ${r.crowdRegions} crowd regions ignored`,
    "class        gt   dets   AP50   AP50-95",
  ];
  for (const c of r.classes) {
    lines.push(
      `${c.label.padEnd(11)} ${String(c.groundTruths).padStart(3)} ${String(c.detections).padStart(6)}  ${fmt(c.ap50)}  ${fmt(c.ap5095)}`,
    );
  }
  lines.push(`${"mean".padEnd(22)}  ${fmt(r.mean.ap50)}  ${fmt(r.mean.ap5095)}`);
  return `${lines.join("\n")}\n`;
}

export async function runEvalDetect(o: EvalDetectOptions): Promise<number> {
  const report = await evaluateDetectDataset(o, !o.json);
  process.stdout.write(
    o.json
      ? `${JSON.stringify(report, (_k, v) => (Number.isNaN(v) ? null : v), 2)}\n`
      : formatEvalTable(report),
  );
  return 0;
}
