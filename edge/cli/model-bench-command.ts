import { existsSync } from "node:fs";
import { detectorOptionsFrom } from "../detect/load-detector.ts";
import { comparePrecisions, INT8_MIN_GAIN, modelVariants } from "../detect/precision.ts";
import { type DetectorCliOptions, modelConfigFrom } from "./detect-command.ts";

/** `counter model bench`: the float and int8 variants timed on this device, and what `auto` would pick. */
export async function runModelBench(
  o: DetectorCliOptions & { seconds: string; json?: boolean },
): Promise<number> {
  const seconds = Number(o.seconds);
  if (!(seconds > 0)) throw new Error(`--seconds must be a positive number, got ${o.seconds}`);
  const options = detectorOptionsFrom(modelConfigFrom(o), (m) => process.stderr.write(`warning: ${m}\n`));
  const paths = modelVariants(o.model, o.modelDir);
  if (!existsSync(paths.int8)) {
    throw new Error(
      `no int8 variant at ${paths.int8}; make it with: counter model quantize ${o.model} --model-dir ${o.modelDir}`,
    );
  }
  const c = await comparePrecisions(options, paths, seconds);
  if (o.json) {
    process.stdout.write(`${JSON.stringify(c, null, 2)}\n`);
    return 0;
  }
  const row = (name: string, t: typeof c.float32) =>
    `${name.padEnd(8)} ${t.msPerFrame.toFixed(2).padStart(8)} ${String(t.runs).padStart(6)}  ${t.path}\n`;
  process.stdout.write(
    `${c.cpu}, ONNX Runtime ${c.onnxruntime}, ${c.threads} threads${options.threads === 0 ? " (one per core)" : ""}\n` +
      `variant  ms/frame   runs  file\n${row("float32", c.float32)}${row("int8", c.int8)}` +
      `int8 runs at ${c.speedup}x the float model's speed; model.precision auto picks ${c.choice} ` +
      `(int8 only when at least ${INT8_MIN_GAIN * 100} % faster)\n`,
  );
  return 0;
}
