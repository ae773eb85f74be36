// npm run bench [-- --section detect|track|capture|pipeline|setup|scene|history|soak] [--iterations N] [--threads N]
//   [--models a,b] [--seconds N] [--repeats N] [--health-client on|off] [--minutes N (soak)]
// Prints median and p90 milliseconds per stage. Figures, not assertions: the machine is shared and noisy.
// Each section is one file in scripts/bench/; their figures' percentiles and formats are in scripts/bench/stats.ts.
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import type { BenchOptions, PipelineRunOptions } from "./bench/options.ts";

const { values: args } = parseArgs({
  options: {
    section: { type: "string", default: "all" },
    iterations: { type: "string", default: "30" },
    threads: { type: "string", default: "0" },
    models: { type: "string" },
    minutes: { type: "string" },
    seconds: { type: "string", default: "20" },
    repeats: { type: "string", default: "3" },
    // pipeline: a client asking /health in a loop while counting (off: throughput alone)
    "health-client": { type: "string", default: "on" },
    // pipeline-run (one configuration, started by the pipeline section in a child process)
    clip: { type: "string" },
    inference: { type: "string" },
    port: { type: "string" },
    db: { type: "string" },
  },
});

/** A number from a flag (whole when `whole`, at least `min`), or a clear error naming the flag. */
function numberFlag(flag: string, value: string, min: number, whole = true): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || (whole && !Number.isInteger(n)))
    throw new Error(`--${flag}: expected ${whole ? "a whole number" : "a number"} >= ${min}, got "${value}"`);
  return n;
}

function pipelineRunOptions(): PipelineRunOptions | undefined {
  if (args.clip === undefined || args.port === undefined || args.db === undefined) return undefined;
  return {
    clip: args.clip,
    inference: args.inference === "main-thread" ? "main-thread" : "worker",
    port: numberFlag("port", args.port, 1),
    db: args.db,
  };
}

const options: BenchOptions = {
  iterations: numberFlag("iterations", args.iterations, 1),
  threads: numberFlag("threads", args.threads, 0),
  models: args.models?.split(","),
  minutes: args.minutes === undefined ? undefined : numberFlag("minutes", args.minutes, 0, false),
  seconds: numberFlag("seconds", args.seconds, 0, false),
  repeats: numberFlag("repeats", args.repeats, 1),
  healthClient: args["health-client"] !== "off",
  pipelineRun: pipelineRunOptions(),
};

/** In the order `all` runs them; soak only with --minutes. */
const sections: Record<string, (options: BenchOptions) => Promise<void>> = {
  detect: async (o) => (await import("./bench/detect.ts")).benchDetect(o),
  track: async (o) => (await import("./bench/track.ts")).benchTrack(o),
  capture: async (o) => (await import("./bench/capture.ts")).benchCapture(o),
  pipeline: async (o) => (await import("./bench/pipeline.ts")).benchPipeline(o),
  setup: async (o) => (await import("./bench/setup.ts")).benchSetup(o),
  scene: async (o) => (await import("./bench/scene.ts")).benchScene(o),
  history: async (o) => (await import("./bench/history.ts")).benchHistory(o),
  soak: async (o) => (await import("./bench/soak.ts")).benchSoak(o),
};

const section = args.section;
if (section === "pipeline-run") {
  // one configuration of the pipeline section, in the child process it starts: its stdout is read
  await (await import("./bench/pipeline-run.ts")).benchPipelineRun(options);
} else {
  if (section !== "all" && !(section in sections))
    throw new Error(
      `--section: expected all or one of ${Object.keys(sections).join(", ")}, got "${section}"`,
    );
  if (section === "soak" && options.minutes === undefined)
    throw new Error("--section soak needs --minutes N");
  console.log(
    `# bench on ${process.platform}/${process.arch}, node ${process.version}, ${cpus().length} cores`,
  );
  for (const [name, run] of Object.entries(sections)) {
    if (section === name || (section === "all" && (name !== "soak" || options.minutes !== undefined)))
      await run(options);
  }
}
