import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Type } from "@sinclair/typebox";
import { parse } from "yaml";
import { parseSection } from "../config/load.ts";
import { LineSchema } from "../config/schema.ts";
import { type CountKey, countKey } from "../domain/crossing-totals.ts";
import type { RelativeLine } from "../pipeline/pipeline.ts";
import { type CountingSequenceVideo, DEFAULT_EVAL_LINES, groundTruthCrossings } from "./count-eval.ts";
import { readSequence } from "./mot.ts";

/** A video with ground truth for counting: a MOTChallenge sequence or a tally folder. */
export interface CountingSequence extends CountingSequenceVideo {
  readonly dir: string;
  readonly name: string;
  readonly kind: "mot" | "tally";
  /** True crossings per line, direction and mode (`line:from>to:mode`). */
  readonly truth: ReadonlyMap<CountKey, number>;
}

/** Lines from a YAML file holding `lines:` as in a device configuration (other keys are ignored). */
export function readLinesFile(path: string): RelativeLine[] {
  const doc = parse(readFileSync(path, "utf8")) as { lines?: unknown } | null;
  const schema = Type.Array(LineSchema, { minItems: 1 });
  const lines = parseSection(schema, doc?.lines ?? [], "lines", path);
  return lines.map((l) => ({ name: l.name, points: l.points, from: l.from, to: l.to }));
}

interface TallyFile {
  readonly video: string;
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly frames: number;
  readonly crossings: readonly { line: string; direction: string; mode: string; count: number }[];
}

export function isTallyFolder(dir: string): boolean {
  return existsSync(join(dir, "tally.json"));
}

export function isMotSequence(dir: string): boolean {
  return existsSync(join(dir, "seqinfo.ini")) && existsSync(join(dir, "gt", "gt.txt"));
}

/**
 * Reads a counting sequence. A tally folder brings its lines and its manual counts per mode; a
 * MOTChallenge sequence (people only) is scored on `lines` (default: six lines across the frame)
 * against the crossings of its ground-truth tracks, all pedestrians.
 */
export function readCountingSequence(dir: string, lines?: readonly RelativeLine[]): CountingSequence {
  const name = dir.split("/").filter(Boolean).pop() ?? dir;
  if (isTallyFolder(dir)) {
    const t = JSON.parse(readFileSync(join(dir, "tally.json"), "utf8")) as TallyFile;
    const tallyLines = lines ?? readLinesFile(join(dir, "lines.yaml"));
    const truth = new Map<CountKey, number>();
    for (const c of t.crossings) {
      const [from, to] = c.direction.split(">") as [string, string];
      truth.set(countKey({ line: c.line, from, to, mode: c.mode }), c.count);
    }
    return {
      dir,
      name,
      kind: "tally",
      video: join(dir, t.video),
      width: t.width,
      height: t.height,
      frameRate: t.fps,
      frames: t.frames,
      lines: tallyLines,
      truth,
    };
  }
  const seq = readSequence(dir);
  if (!seq.video) throw new Error(`${dir}: no video file to run the detector on`);
  const seqLines = lines ?? DEFAULT_EVAL_LINES;
  const truth = new Map<CountKey, number>();
  for (const [k, n] of groundTruthCrossings(dir, seqLines))
    if (n > 0) truth.set(`${k}:pedestrian` as CountKey, n);
  return {
    dir,
    name,
    kind: "mot",
    video: seq.video,
    width: seq.width,
    height: seq.height,
    frameRate: seq.frameRate,
    frames: seq.length,
    lines: seqLines,
    truth,
  };
}

/** Every sequence with ground truth directly under `root`, by name. */
export function findCountingSequences(root: string): string[] {
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => join(root, d.name))
    .filter((dir) => isTallyFolder(dir) || isMotSequence(dir))
    .sort();
}
