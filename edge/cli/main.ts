import { readFileSync } from "node:fs";
import { Argument, Command, Option } from "commander";
import type { RunHandle } from "../app/run.ts";
import { ConfigError, configWarnings, loadConfigFile, readConfigDocument } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { findModel, licenseWarning, loadManifest } from "../detect/model-descriptor.ts";
import { DEFAULT_COUNTED_CLASSES } from "../domain/classes.ts";
import { Redactor, redactJson } from "../domain/redact.ts";
import { isWholeView, regionBeforeShaping } from "../domain/view.ts";

// Each command loads its modules when it runs: start-up stays quick, and a command loads only the
// native libraries it uses (`detect` needs no SQLite, `config check` no ONNX Runtime).
const lazy = {
  demo: () => import("../app/demo.ts"),
  logger: () => import("../app/logger.ts"),
  run: () => import("../app/run.ts"),
  simulate: () => import("../app/simulate.ts"),
  fetch: () => import("../detect/fetch-model.ts"),
  quantize: () => import("./model-quantize-command.ts"),
  modelBench: () => import("./model-bench-command.ts"),
  detect: () => import("./detect-command.ts"),
  evalDetect: () => import("./eval-detect-command.ts"),
  evalTrackCount: () => import("./eval-track-count-commands.ts"),
  progress: () => import("./progress.ts"),
  setup: () => import("./setup-command.ts"),
  siteLoad: () => import("../site/load.ts"),
  site: () => import("../site/site-process.ts"),
};

const defaultModelDir = process.env.MODEL_DIR ?? "models";

// Errors are printed through the redactor of the configuration in use (once one is loaded).
let redact: (s: string) => string = redactJson;
function loadConfig(path: string): Config {
  const c = loadConfigFile(path);
  const r = Redactor.for(c);
  redact = (s) => r.json(s);
  return c;
}

function packageVersion(): string {
  return (
    JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }
  ).version;
}

function modelOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option("--model <id|path>", "model id from the manifest or path to an .onnx file").default(
        loadManifest().defaultModel,
      ),
    )
    .addOption(
      new Option("--model-dir <dir>", "folder with fetched models (env MODEL_DIR)").default(defaultModelDir),
    )
    .option("--iou <x>", "NMS IoU threshold (default: model.iou's default)")
    .option(
      "--classes <list>",
      `comma-separated class names to keep (default: ${DEFAULT_COUNTED_CLASSES.join(",")})`,
    )
    .option("--threads <n>", "inference threads, 0 = one per core (default: model.threads's default)");
}

async function exit(code: Promise<number> | number): Promise<void> {
  process.exitCode = await code;
}

const program = new Command()
  .name("counter")
  .description(
    "Edge counter for pedestrians, cyclists and vehicles: counts on the device, images never leave it.",
  )
  .showHelpAfterError();

const config = program.command("config").description("work with device configuration files");
config
  .command("check")
  .argument("<file>", "YAML configuration file: a device's, or a site's (site.yaml, with a `site:` key)")
  .description("validate a configuration file and print every problem with its path")
  .action(async (file: string) => {
    const siteLoad = await lazy.siteLoad();
    if (siteLoad.isSiteDocument(readConfigDocument(file).toJS())) {
      const s = siteLoad.loadSiteConfigFile(file);
      const devices = new Set(s.gates.map((g) => g.device)).size;
      process.stdout.write(
        `${file}: valid (site ${s.site.id}, ${s.gates.length} gates on ${devices} devices, ${s.zones.length} zones, reset ${s.reset.time}, capacity ${s.capacity ?? "not set"})\n`,
      );
      for (const w of siteLoad.siteWarnings(s)) process.stderr.write(`warning: ${w}\n`);
      return;
    }
    const c = loadConfig(file);
    process.stdout.write(
      `${file}: valid (device ${c.device.id}, ${c.lines.length} lines, ${c.zones.length} zones, model ${c.model.id})\n`,
    );
    const region = c.camera.region;
    const v = regionBeforeShaping(region, c.camera.regionMargin, c);
    if (!isWholeView(v)) {
      const span = (a: number, b: number) => `${a.toFixed(2)}–${(a + b).toFixed(2)}`;
      process.stdout.write(
        `detection region: x ${span(v.x, v.width)}, y ${span(v.y, v.height)} of the view${region === "lines" ? " (around the lines and zones; widened to the model input's shape once the camera's is known)" : ""}\n`,
      );
    }
    const m = findModel(c.model.id);
    const lw = m && licenseWarning(m);
    if (lw) process.stderr.write(`warning: ${lw}\n`);
    for (const w of configWarnings(c)) process.stderr.write(`warning: ${w}\n`);
  });

const model = program.command("model").description("list and fetch detector models");
model
  .command("list")
  .description("models in the manifest")
  .action(() => {
    const m = loadManifest();
    for (const d of m.models) {
      const mark = d.id === m.defaultModel ? " (default)" : "";
      process.stdout.write(
        `${d.id.padEnd(18)} ${d.license.padEnd(11)} ${d.input.width}x${d.input.height}  ${d.name}${mark}\n`,
      );
    }
    process.stdout.write(
      "\nAGPL-3.0 models (Ultralytics) oblige you to publish the source of a networked service that uses them.\n",
    );
  });
model
  .command("fetch")
  .argument("<id>", "model id from the manifest")
  .description("download a model, verify its sha256 and write it atomically")
  .addOption(new Option("--dir <dir>", "target folder (env MODEL_DIR)").default(defaultModelDir))
  .option("--url <url>", "download from this URL instead of the manifest URL (sha256 still checked)")
  .option("--force", "download even if a verified copy exists")
  .action(async (id: string, o: { dir: string; url?: string; force?: boolean }) => {
    const d = findModel(id);
    if (!d) {
      process.stderr.write(
        `error: unknown model "${id}"; known: ${loadManifest()
          .models.map((m) => m.id)
          .join(", ")}\n`,
      );
      process.exitCode = 2;
      return;
    }
    const lw = licenseWarning(d);
    if (lw) process.stderr.write(`warning: ${lw}\n`);
    const bar = (await lazy.progress()).progressBar(`fetching ${id}`, " bytes");
    const fetching = await lazy.fetch();
    const r = await fetching.fetchModel(d, o.dir, {
      url: o.url ?? fetching.modelSourceUrl(d, process.env.MODEL_MIRROR),
      hint: fetching.modelFetchHint(d),
      ...(o.force ? { force: true } : {}),
      progress: {
        start: (t) => bar.start(t ?? d.bytes ?? 0, 0),
        update: (v) => bar.update(v),
        stop: () => bar.stop(),
      },
    });
    process.stdout.write(
      `${r.downloaded ? "fetched" : "already present"}: ${r.path} (${r.bytes} bytes, sha256 ${r.sha256})\n`,
    );
  });

model
  .command("quantize")
  .argument("<id|path>", "float model: manifest id (in --model-dir) or a file with a manifest sha256")
  .description(
    "make a static int8 (QDQ) copy of a float model, calibrated on images; recipe written beside it",
  )
  .addOption(
    new Option("--model-dir <dir>", "folder with fetched models (env MODEL_DIR)").default(defaultModelDir),
  )
  .option("--calibration <dir>", "folder of calibration images (default: $DATA_DIR/coco128-train2017/images)")
  .option(
    "--camera <device.yaml>",
    "calibrate on the camera this device file configures instead: its frames are held in memory only",
  )
  .option(
    "--every <sec>",
    "with --camera: seconds of the camera's time between calibration frames (default: 1)",
  )
  .option("--frames <n>", "calibration images or camera frames used (images: the first n by name)", "64")
  .option("--out <file>", "output file (default: <model>.int8.onnx beside the float model)")
  .option(
    "--ops <which>",
    "all: Conv, SiLU, Add, Concat, MaxPool, Resize in int8; conv: only Conv (default: all)",
  )
  .option("--stem-convs <n>", "first convolutions kept float (default: 2)")
  .option(
    "--head-depth <n>",
    "convolutions kept float at the outputs: those with fewer than n convolutions after them (default: 1)",
  )
  .option(
    "--range <how>",
    "activation ranges: percentile, minmax over all images, or mean of each image's extremes (default: percentile)",
  )
  .option(
    "--percentile <p>",
    "with --range percentile: share of values inside the range, in % (default: 99.99)",
  )
  .option("--threads <n>", "calibration threads, 0 = one per core", "0")
  .action(async (ref: string, o) => {
    if (o.camera && o.calibration)
      throw new Error("give --calibration DIR or --camera device.yaml, not both");
    if (o.every !== undefined && !o.camera)
      throw new Error("--every spaces camera frames: give it with --camera device.yaml");
    const camera = o.camera ? loadConfig(o.camera) : undefined;
    return exit((await lazy.quantize()).runQuantize(ref, { ...o, camera }));
  });

modelOptions(
  model
    .command("bench")
    .description(
      "time the float and int8 variants of a model on this device; shows what model.precision auto picks",
    )
    .option("--seconds <s>", "total timing, shared by the two variants", "10")
    .option("--json", "machine-readable output"),
).action(async (o) => exit((await lazy.modelBench()).runModelBench(o)));

modelOptions(
  program
    .command("detect")
    .argument("<images...>", "JPEG/PNG files")
    .description("run the detector on images and print the detections")
    .option("--conf <x>", "confidence threshold", "0.3")
    .option("--json", "machine-readable output"),
).action(async (images: string[], o) => exit((await lazy.detect()).runDetect(images, o)));

const evaluate = program.command("eval").description("measure accuracy");
modelOptions(
  evaluate
    .command("detect")
    .description("COCO-style AP50 and AP50-95 per class on images with YOLO txt labels")
    .requiredOption("--images <dir>", "folder of images")
    .requiredOption("--labels <dir>", "folder of YOLO labels with the same stems")
    .option(
      "--crowd <file>",
      "COCO iscrowd regions to ignore (default: crowd.json beside the images folder, if present)",
    )
    .option("--conf <x>", "confidence threshold (COCO evaluation uses a low one)", "0.001")
    .option("--json", "machine-readable output"),
).action(async (o) => exit((await lazy.evalDetect()).runEvalDetect(o)));

evaluate
  .command("track")
  .argument("<seq-dir>", "MOTChallenge-style folder: seqinfo.ini, gt/gt.txt")
  .description(
    "feed the ground-truth boxes, with drops and jitter, through the tracker: MOTA, IDF1, ID switches",
  )
  .option("--drop <x>", "share of boxes dropped", "0.1")
  .option("--jitter <x>", "box jitter, fraction of box size", "0.05")
  .option("--seed <n>", "random seed", "1")
  .option("--json", "machine-readable output")
  .action(async (seqDir: string, o) => exit((await lazy.evalTrackCount()).runEvalTrack(seqDir, o)));
modelOptions(
  evaluate
    .command("count")
    .argument(
      "<dir>",
      "a tally folder (tally.json, lines.yaml, video) or a MOTChallenge folder (video, gt/gt.txt, seqinfo.ini); with --all, a folder of them",
    )
    .description(
      "run the counter on the video; compare crossings per line, direction and mode with the ground truth",
    )
    .option(
      "--lines <file>",
      "YAML file with `lines:` as in a device config (default: the tally's lines.yaml, or six lines at 25/50/75 % of the frame)",
    )
    .option("--all", "every sequence with ground truth in <dir>, and a table per mode over all of them")
    .option("--write <file>", "with --all: also write the summary table (Markdown) to this file")
    .option("--conf <x>", "detector confidence, the tracker's low-score floor (default: model.confidence's)")
    .option(
      "--region <region>",
      "where the detector looks, as camera.region: whole, lines (around the lines, plus the margin) or x1,y1,x2,y2 (default: camera.region's)",
    )
    .option("--region-margin <x>", "margin of region 'lines' (default: camera.regionMargin's)")
    .option("--json", "machine-readable output"),
).action(async (seqDir: string, o) => exit((await lazy.evalTrackCount()).runEvalCount(seqDir, o)));

program
  .command("run")
  .description(
    "count: camera -> detector -> tracker -> lines and zones -> intervals -> SQLite -> MQTT; local API",
  )
  .requiredOption("--config <file>", "device configuration (YAML)")
  .option(
    "--fetch-model",
    "download the configured model first if model.dir lacks a verified copy (from MODEL_MIRROR if set)",
  )
  .action(async (o: { config: string; fetchModel?: boolean }) => {
    const config = loadConfig(o.config);
    const log = (await lazy.logger()).createLogger(undefined, redact);
    for (const w of configWarnings(config)) log.warn(`configuration: ${w}`);
    // Listen before starting: a stop that arrives while the model loads (systemd stopping a unit that
    // is still starting) must still end in a clean shutdown, not Node's default exit on the signal.
    let handle: RunHandle | undefined;
    let stopRequested = false;
    const stop = () => {
      log.info("stopping: finishing the frame, closing the partial interval");
      stopRequested = true;
      handle?.stop();
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    const descriptor = o.fetchModel ? findModel(config.model.id) : undefined;
    if (descriptor) {
      const fetching = await lazy.fetch();
      const url = fetching.modelSourceUrl(descriptor, process.env.MODEL_MIRROR);
      const r = await fetching.fetchModel(descriptor, config.model.dir, {
        url,
        hint: fetching.modelFetchHint(descriptor),
      });
      log
        .child({ stage: "detect" })
        .info(
          { model: descriptor.id, path: r.path, sha256: r.sha256, ...(r.downloaded ? { url } : {}) },
          r.downloaded ? "model fetched" : "model present",
        );
    }
    handle = await (await lazy.run()).startCounter(config, {
      log,
      version: packageVersion(),
      configPath: o.config,
    });
    if (stopRequested) handle.stop();
    await handle.done;
    log.info("stopped");
  });

program
  .command("setup")
  .description(
    "set-up mode of the running counter: on (the page's scene preview and live positions, for setup.maxMinutes), off, or status",
  )
  .addArgument(new Argument("<action>", "on, off or status").choices(["on", "off", "status"]))
  .requiredOption("--config <file>", "the device configuration `counter run` was started with")
  .action(async (action: "on" | "off" | "status", o: { config: string }) => {
    const config = loadConfig(o.config);
    await exit((await lazy.setup()).runSetup(action, config, process.stdout));
  });

program
  .command("demo")
  .description("the real pipeline on a sample clip with an in-process MQTT broker; prints counts live")
  .option("--input <video>", "count this video (file or stream URL) instead of the sample clip")
  .addOption(
    new Option("--model-dir <dir>", "folder with fetched models (env MODEL_DIR)").default(defaultModelDir),
  )
  .action(async (o: { input?: string; modelDir: string }) => {
    const log = (await lazy.logger()).createLogger(process.env.LOG_LEVEL ?? "warn");
    process.exitCode = await (await lazy.demo()).runDemo({
      input: o.input,
      modelDir: o.modelDir,
      dataDir: process.env.DATA_DIR ?? "../shared/data",
      out: process.stdout,
      log,
      version: packageVersion(),
    });
  });

program
  .command("simulate")
  .description(
    "a device without camera: random crossings on the configured lines, stored and published like `counter run`",
  )
  .requiredOption("--config <file>", "device configuration (YAML)")
  .option("--rate <n>", "mean crossings per second per line", "2")
  .option("--seed <n>", "random seed", "1")
  .option("--duration <sec>", "stop after this many seconds (default: until SIGINT/SIGTERM)")
  .action(async (o: { config: string; rate: string; seed: string; duration?: string }) => {
    const config = loadConfig(o.config);
    const log = (await lazy.logger()).createLogger(undefined, redact);
    const device = new (await lazy.simulate()).SimulatedDevice(
      config,
      { ratePerSec: Number(o.rate), seed: Number(o.seed), tickMs: 100 },
      packageVersion(),
      log,
    );
    device.start();
    log.info({ device: config.device.id }, "simulated device started");
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
      if (o.duration) setTimeout(resolve, Number(o.duration) * 1000);
    });
    await device.stop();
    log.info("stopped");
  });

program
  .command("site")
  .description(
    "one site, many gates: the gates' intervals from the broker -> occupancy, per-gate totals, alarms (site.yaml)",
  )
  .requiredOption("--config <file>", "site configuration (YAML with `site:` and `gates:`)")
  .addOption(
    new Option(
      "--csv <bucket>",
      "print entries and exits per gate and 15 min or hour from the site's database as CSV, and exit",
    ).choices(["15m", "1h"]),
  )
  .option("--from <time>", "with --csv: first interval start, ISO 8601 (default: the site day's reset)")
  .option("--to <time>", "with --csv: end, ISO 8601 (default: the next reset)")
  .action(async (o: { config: string; csv?: "15m" | "1h"; from?: string; to?: string }) => {
    const siteLoad = await lazy.siteLoad();
    const config = siteLoad.loadSiteConfigFile(o.config);
    const r = Redactor.for(config);
    redact = (s) => r.json(s);
    if (o.csv) {
      const { SiteStore } = await import("../site/site-store.ts");
      const csv = await import("../site/csv.ts");
      const day = csv.siteDayAround(config, Date.now());
      const at = (v: string | undefined, fallback: number, name: string) => {
        const ms = v === undefined ? fallback : Date.parse(v);
        if (!Number.isFinite(ms)) throw new Error(`--${name}: expected an ISO 8601 time, got "${v}"`);
        return ms;
      };
      const store = new SiteStore(config.storage.path, { readonly: true });
      try {
        process.stdout.write(
          csv.siteCsv(store, o.csv, at(o.from, day.fromMs, "from"), at(o.to, day.toMs, "to")),
        );
      } finally {
        store.close();
      }
      return;
    }
    const log = (await lazy.logger()).createLogger(undefined, redact);
    for (const w of siteLoad.siteWarnings(config)) log.warn(`configuration: ${w}`);
    const site = new (await lazy.site()).SiteProcess(config, { log });
    const page = await site.startApi();
    site.start();
    log.info({ site: config.site.id, gates: config.gates.length, page }, "site started");
    const failed = await Promise.race([
      site.failed,
      new Promise<undefined>((resolve) => {
        process.once("SIGINT", () => resolve(undefined));
        process.once("SIGTERM", () => resolve(undefined));
      }),
    ]);
    await site.stop();
    if (failed !== undefined) {
      log.error({ err: failed }, "stopped: the site's database failed");
      process.exitCode = 1;
    } else log.info("stopped");
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${redact(err.message)}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`error: ${redact((err as Error).message)}\n`);
    process.exitCode = 1;
  }
}
