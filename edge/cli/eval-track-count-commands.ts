import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseSection } from "../config/load.ts";
import { CameraSchema, type Config } from "../config/schema.ts";
import type { Detector } from "../detect/detector.ts";
import { byDirection, type CountComparison, compareCounts, runCountPipeline } from "../eval/count-eval.ts";
import { FEET_TOLERANCE, FeetAccumulator, type FeetScore } from "../eval/feet-score.ts";
import { type GroupScore, type ModeScores, scoreModes } from "../eval/mode-score.ts";
import { readGroundTruth } from "../eval/mot.ts";
import { findCountingSequences, readCountingSequence, readLinesFile } from "../eval/sequence.ts";
import { evaluateTracker } from "../eval/track-eval.ts";
import { type DetectorCliOptions, loadCliDetector } from "./detect-command.ts";
import { progressBar } from "./progress.ts";

export async function runEvalTrack(
  seqDir: string,
  o: { drop: string; jitter: string; seed: string; json?: boolean },
): Promise<number> {
  const r = evaluateTracker(seqDir, {
    dropRate: Number(o.drop),
    jitter: Number(o.jitter),
    seed: Number(o.seed),
  });
  if (o.json) {
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    return 0;
  }
  const m = r.metrics;
  process.stdout.write(
    `${r.sequence}: ground truth with ${r.noise.dropRate * 100}% of boxes dropped and ${r.noise.jitter * 100}% jitter (seed ${r.noise.seed})\n` +
      `  frames ${m.frames}, gt boxes ${m.gtBoxes}, gt ids ${m.gtIds}, predicted ids ${m.predictedIds}\n` +
      `  MOTA ${m.mota.toFixed(3)}  IDF1 ${m.idf1.toFixed(3)}  ID switches ${m.idSwitches}  fragmentations ${m.fragmentations}` +
      `  FN ${m.falseNegatives}  FP ${m.falsePositives}\n`,
  );
  return 0;
}

export interface EvalCountOptions extends DetectorCliOptions {
  lines?: string;
  json?: boolean;
  /** Evaluate every sequence with ground truth under the given folder. */
  all?: boolean;
  /** Also write the table as Markdown to this file. */
  write?: string;
  /** `camera.region`: whole, lines, or x1,y1,x2,y2. */
  region?: string;
  regionMargin?: string;
}

/** The command line's region options as `camera.region` and `camera.regionMargin` (schema defaults). */
export function regionFrom(o: Pick<EvalCountOptions, "region" | "regionMargin">): {
  region: Config["camera"]["region"];
  margin: number;
} {
  const raw: Record<string, unknown> = { source: "(eval)" };
  if (o.region !== undefined)
    raw.region = /^[a-z]+$/i.test(o.region) ? o.region : o.region.split(",").map((v) => Number(v.trim()));
  if (o.regionMargin !== undefined) raw.regionMargin = Number(o.regionMargin);
  const camera = parseSection(CameraSchema, raw, "camera", "command line");
  return { region: camera.region, margin: camera.regionMargin };
}

export interface EvalCountReport extends CountComparison {
  readonly sequence: string;
  readonly kind: "mot" | "tally";
  readonly model: string;
  /** Where the detector looked (`camera.region`, and its margin for `lines`). */
  readonly region: string;
  readonly frames: number;
  readonly countsByMode: Record<string, number>;
  /** Per line × direction × mode, per mode group, and class errors told apart from counting errors. */
  readonly modes: ModeScores;
  readonly msPerFrame: { readonly detect: number; readonly trackAndCount: number };
  /** Where the counted boxes put people's feet, against the ground-truth boxes (MOTChallenge sequences). */
  readonly feet?: FeetScore;
}

/** Runs the counter on one sequence and scores it per line and direction and per mode. */
export async function evaluateCounting(
  seqDir: string,
  o: EvalCountOptions,
  showProgress: boolean,
  loaded?: Detector,
): Promise<EvalCountReport> {
  const seq = readCountingSequence(seqDir, o.lines ? readLinesFile(o.lines) : undefined);
  const detector = loaded ?? (await loadCliDetector(o));
  const bar = showProgress ? progressBar(seq.name, " frames") : undefined;
  const region = regionFrom(o);
  const truthBoxes = seq.kind === "mot" ? readGroundTruth(join(seqDir, "gt", "gt.txt")) : undefined;
  const feet = truthBoxes ? new FeetAccumulator() : undefined;
  try {
    const run = await runCountPipeline(seq, detector, {
      region,
      onStep:
        feet && truthBoxes
          ? (frame, result) => feet.add(result.users, truthBoxes.get(frame) ?? [])
          : undefined,
      onFrame: (i, total) => {
        if (i === 1) bar?.start(total, 0);
        bar?.update(i);
      },
    });
    bar?.stop();
    // per line and direction, with every direction of every line listed (zeros included)
    const truthByDirection = byDirection(seq.truth);
    for (const l of seq.lines)
      for (const d of [`${l.name}:${l.from}>${l.to}`, `${l.name}:${l.to}>${l.from}`])
        if (!truthByDirection.has(d)) truthByDirection.set(d, 0);
    const countsByMode: Record<string, number> = {};
    for (const [k, n] of run.counted) {
      const mode = k.slice(k.lastIndexOf(":") + 1);
      countsByMode[mode] = (countsByMode[mode] ?? 0) + n;
    }
    return {
      ...compareCounts(byDirection(run.counted), truthByDirection),
      sequence: seqDir,
      kind: seq.kind,
      model: detector.info.id,
      region: describeRegion(region),
      frames: run.frames,
      countsByMode,
      modes: scoreModes(run.counted, seq.truth),
      msPerFrame: run.msPerFrame,
      ...(feet ? { feet: feet.result() } : {}),
    };
  } finally {
    bar?.stop();
    if (!loaded) await detector.release();
  }
}

function describeRegion(r: ReturnType<typeof regionFrom>): string {
  if (r.region === "lines") return `lines (margin ${r.margin})`;
  return r.region === "whole" ? "whole" : r.region.join(",");
}

export function formatCountTable(r: EvalCountReport): string {
  const out = [
    `${r.sequence}: model ${r.model}, detection region ${r.region}, ${r.frames} frames`,
    "line    direction          counted   true  accuracy",
  ];
  for (const row of r.rows) {
    out.push(
      `${row.line.padEnd(7)} ${row.direction.padEnd(18)} ${String(row.counted).padStart(7)} ${String(row.truth).padStart(6)}  ${row.accuracy === null ? "    -" : row.accuracy.toFixed(3)}`,
    );
  }
  out.push(
    `overall: counted ${r.totalCounted}, true ${r.totalTruth}, overallAccuracy ${r.overallAccuracy.toFixed(3)}`,
  );
  out.push(`by mode: ${JSON.stringify(r.countsByMode)}`);
  out.push(
    `per mode: ${Object.entries(r.modes.groups)
      .filter(([, g]) => g.truth > 0 || g.counted > 0)
      .map(([name, g]) => `${name} ${g.counted}/${g.truth}`)
      .join(", ")}; counting errors ${r.modes.countingErrors}, class errors ${r.modes.classErrors}`,
  );
  if (r.feet)
    out.push(
      `feet: ${r.feet.off} of ${r.feet.matched} matched boxes off the true feet by more than ${FEET_TOLERANCE} of the height`,
    );
  out.push(
    `ms per frame: detect ${r.msPerFrame.detect.toFixed(1)}, track + count ${r.msPerFrame.trackAndCount.toFixed(2)}`,
  );
  return `${out.join("\n")}\n`;
}

const GROUP_COLUMNS = ["pedestrian", "cyclist", "car", "truck/bus", "vehicle total"] as const;

/** One row per sequence and a sum: counted/truth and accuracy per mode group (Markdown). */
export function formatSummaryTable(reports: readonly EvalCountReport[]): string {
  const cell = (g: GroupScore | undefined) =>
    !g || (g.truth === 0 && g.counted === 0)
      ? "–"
      : `${g.counted}/${g.truth}${g.accuracy === null ? "" : ` (${g.accuracy.toFixed(2)})`}`;
  const head = `| sequence | ${GROUP_COLUMNS.join(" | ")} | counting errors | class errors | accuracy |`;
  const lines = [head, `|${"---|".repeat(GROUP_COLUMNS.length + 4)}`];
  for (const r of reports) {
    const name = r.sequence.split("/").filter(Boolean).pop() ?? r.sequence;
    lines.push(
      `| ${name} | ${GROUP_COLUMNS.map((c) => cell(r.modes.groups[c])).join(" | ")} | ${r.modes.countingErrors} | ${r.modes.classErrors} | ${r.modes.accuracy.toFixed(3)} |`,
    );
  }
  const sum = (c: string): GroupScore => {
    const gs = reports.map((r) => r.modes.groups[c]).filter((g): g is GroupScore => g !== undefined);
    const truth = gs.reduce((s, g) => s + g.truth, 0);
    const counted = gs.reduce((s, g) => s + g.counted, 0);
    // accuracy of the sum: the errors of each sequence, not the difference of the totals
    const err = gs.reduce((s, g) => s + (g.accuracy === null ? g.counted : (1 - g.accuracy) * g.truth), 0);
    return { truth, counted, accuracy: truth > 0 ? 1 - err / truth : null };
  };
  const truth = reports.reduce((s, r) => s + r.modes.totalTruth, 0);
  const err = reports.reduce((s, r) => s + (1 - r.modes.accuracy) * r.modes.totalTruth, 0);
  lines.push(
    `| **all** | ${GROUP_COLUMNS.map((c) => cell(sum(c))).join(" | ")} | ${reports.reduce((s, r) => s + r.modes.countingErrors, 0)} | ${reports.reduce((s, r) => s + r.modes.classErrors, 0)} | ${(1 - err / truth).toFixed(3)} |`,
  );
  return `${lines.join("\n")}\n`;
}

export async function runEvalCount(dir: string, o: EvalCountOptions): Promise<number> {
  if (!o.all) {
    const report = await evaluateCounting(dir, o, !o.json);
    process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : formatCountTable(report));
    return 0;
  }
  const dirs = findCountingSequences(dir);
  if (dirs.length === 0) throw new Error(`${dir}: no folder with tally.json or gt/gt.txt below it`);
  const detector = await loadCliDetector(o);
  const reports: EvalCountReport[] = [];
  try {
    for (const d of dirs) {
      const r = await evaluateCounting(d, { ...o, lines: undefined }, !o.json, detector);
      reports.push(r);
      if (!o.json) process.stdout.write(formatCountTable(r));
    }
  } finally {
    await detector.release();
  }
  const table = formatSummaryTable(reports);
  const heading = `model ${detector.info.id}, detection region ${reports[0]?.region}`;
  if (o.json) process.stdout.write(`${JSON.stringify(reports, null, 2)}\n`);
  else process.stdout.write(`\n${heading}\n${table}`);
  if (o.write) writeFileSync(o.write, `${heading}\n\n${table}`);
  return 0;
}
