import { readFileSync } from "node:fs";
import { Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { parse } from "yaml";
import { ConfigError, formatPath } from "../config/load.ts";
import { LineSchema } from "../config/schema.ts";
import {
  type CountComparison,
  compareCounts,
  DEFAULT_EVAL_LINES,
  groundTruthCrossings,
  type RelativeLine,
  runCountPipeline,
} from "../eval/count-eval.ts";
import { evaluateTracker } from "../eval/track-eval.ts";
import { type DetectorCliOptions, loadCliDetector } from "./detect-command.ts";
import { progressBar } from "./progress.ts";

/** Lines from a YAML file holding `lines:` as in a device configuration (other keys are ignored). */
export function readLinesFile(path: string): RelativeLine[] {
  const doc = parse(readFileSync(path, "utf8")) as { lines?: unknown } | null;
  const schema = Type.Array(LineSchema, { minItems: 1 });
  const lines = Value.Default(schema, Value.Clone(doc?.lines ?? []));
  const problems = [...Value.Errors(schema, lines)].map(
    (e) => `lines${formatPath(e.path).replace(/^\(root\)/, "")}: ${e.message}`,
  );
  if (problems.length > 0) throw new ConfigError(path, problems);
  return (lines as RelativeLine[]).map((l) => ({ name: l.name, points: l.points, from: l.from, to: l.to }));
}

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
}

export interface EvalCountReport extends CountComparison {
  readonly sequence: string;
  readonly model: string;
  readonly frames: number;
  readonly countsByMode: Record<string, number>;
  readonly msPerFrame: { readonly detect: number; readonly trackAndCount: number };
}

export async function evaluateCounting(
  seqDir: string,
  o: EvalCountOptions,
  showProgress: boolean,
): Promise<EvalCountReport> {
  const lines = o.lines ? readLinesFile(o.lines) : DEFAULT_EVAL_LINES;
  const truth = groundTruthCrossings(seqDir, lines);
  const detector = await loadCliDetector(o);
  const bar = showProgress ? progressBar("counting", " frames") : undefined;
  try {
    const run = await runCountPipeline(seqDir, detector, lines, {
      onFrame: (i, total) => {
        if (i === 1) bar?.start(total, 0);
        bar?.update(i);
      },
    });
    bar?.stop();
    return {
      ...compareCounts(run.counts, truth),
      sequence: seqDir,
      model: detector.info.id,
      frames: run.frames,
      countsByMode: Object.fromEntries(run.countsByMode),
      msPerFrame: run.msPerFrame,
    };
  } finally {
    bar?.stop();
    await detector.release();
  }
}

export function formatCountTable(r: EvalCountReport): string {
  const out = [
    `${r.sequence}: model ${r.model}, ${r.frames} frames`,
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
    `ms per frame: detect ${r.msPerFrame.detect.toFixed(1)}, track + count ${r.msPerFrame.trackAndCount.toFixed(2)}`,
  );
  return `${out.join("\n")}\n`;
}

export async function runEvalCount(seqDir: string, o: EvalCountOptions): Promise<number> {
  const report = await evaluateCounting(seqDir, o, !o.json);
  process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : formatCountTable(report));
  return 0;
}
