import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Aedes } from "aedes";
import mqtt from "mqtt";
import { parse } from "yaml";
import { parseConfig } from "../config/load.ts";
import { fetchModel, modelFetchHint, modelSourceUrl } from "../detect/fetch-model.ts";
import { findModel } from "../detect/model-descriptor.ts";
import type { CountsMessage } from "../publish/messages.ts";
import type { Logger } from "./logger.ts";
import { startCounter } from "./run.ts";

/** OpenCV's sample video (PETS 2009 S2.L1), pinned to a commit and checked against its sha256. */
export const SAMPLE_CLIP = {
  id: "pets09-s2l1",
  file: "vtest.avi",
  url: "https://raw.githubusercontent.com/opencv/opencv/0dd31c3bba49e26298458ce2e18969a31dbd7df8/samples/data/vtest.avi",
  sha256: "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf",
  otherSha256: [],
};

export const DEMO_CONFIG = new URL("../../examples/demo-pets09.yaml", import.meta.url);

export interface DemoOptions {
  readonly input?: string | undefined;
  readonly modelDir: string;
  readonly dataDir: string | undefined;
  readonly cacheDir?: string;
  readonly out: NodeJS.WritableStream;
  readonly log: Logger;
  readonly version: string;
}

async function sampleClip(o: DemoOptions): Promise<string> {
  if (o.input) {
    if (!existsSync(o.input) && !/^[a-z]+:\/\//i.test(o.input))
      throw new Error(`--input ${o.input} does not exist`);
    return o.input;
  }
  const local = o.dataDir ? join(o.dataDir, "pets09-s2l1", "pets09-s2l1.avi") : undefined;
  if (local && existsSync(local)) return local;
  const cache = o.cacheDir ?? join(homedir(), ".cache", "edge-counter");
  mkdirSync(cache, { recursive: true });
  o.out.write(`fetching the sample clip into ${cache} (once)\n`);
  return (
    await fetchModel(SAMPLE_CLIP, cache, {
      hint: "or set DATA_DIR to a folder holding pets09-s2l1/pets09-s2l1.avi, or count your own video with --input FILE",
    })
  ).path;
}

/**
 * `counter demo`: the real pipeline on a sample clip with an in-process MQTT broker, printing a live
 * table of counts per line, direction and mode. No camera, no external broker.
 */
export async function runDemo(o: DemoOptions): Promise<number> {
  const input = await sampleClip(o);
  const model = findModel("yolox-nano")!;
  if (!existsSync(join(o.modelDir, model.file))) {
    o.out.write(`fetching model ${model.id} into ${o.modelDir} (once)\n`);
    await fetchModel(model, o.modelDir, {
      url: modelSourceUrl(model, process.env.MODEL_MIRROR),
      hint: modelFetchHint(model),
    });
  }
  const broker = await Aedes.createBroker();
  const server = createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
  const raw = parse(readFileSync(DEMO_CONFIG, "utf8")) as Record<string, Record<string, unknown>>;
  // the demo's database lives only as long as the demo
  const work = mkdtempSync(join(tmpdir(), "edge-counter-demo-"));
  try {
    return await countDemo(o, input, raw, work, url, broker, server);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function countDemo(
  o: DemoOptions,
  input: string,
  raw: Record<string, Record<string, unknown>>,
  work: string,
  url: string,
  broker: Aedes,
  server: Server,
): Promise<number> {
  raw.camera = { ...raw.camera, source: resolve(input), ...(o.input ? { replayFps: undefined } : {}) };
  raw.model = { ...raw.model, dir: o.modelDir };
  raw.storage = { ...raw.storage, path: join(work, "counts.db") };
  raw.mqtt = { ...raw.mqtt, url };
  const config = parseConfig(JSON.parse(JSON.stringify(raw)), "demo", process.env);
  const received: CountsMessage[] = [];
  const sub = await mqtt.connectAsync(url);
  sub.on("message", (_t, p) => {
    const m = JSON.parse(p.toString()) as { type: string };
    if (m.type === "counts") received.push(m as CountsMessage);
  });
  await sub.subscribeAsync(`${config.mqtt.baseTopic}/+/counts`, { qos: 1 });
  const tty = (o.out as NodeJS.WriteStream).isTTY === true;
  let frames = 0;
  let lastDraw = 0;
  const handle = await startCounter(config, {
    log: o.log,
    version: o.version,
    onFrame: () => {
      frames++;
      const now = Date.now();
      if (now - lastDraw > (tty ? 250 : 2000)) {
        lastDraw = now;
        draw(false);
      }
    },
  });
  const draw = (final: boolean) => {
    const totals = handle.runtime.totals();
    const lines = [
      `${final ? "done" : "running"}: ${frames} frames, ${handle.runtime.processedFps().toFixed(1)} fps, ${received.length} interval messages over MQTT`,
      "line          direction           mode          count",
    ];
    for (const l of config.lines) {
      for (const [from, to] of [
        [l.from, l.to],
        [l.to, l.from],
      ]) {
        const rows = totals.filter((r) => r.line === l.name && r.from === from && r.to === to);
        if (rows.length === 0)
          lines.push(`${l.name.padEnd(13)} ${`${from} > ${to}`.padEnd(19)} ${"-".padEnd(13)} 0`);
        for (const r of rows)
          lines.push(`${l.name.padEnd(13)} ${`${from} > ${to}`.padEnd(19)} ${r.mode.padEnd(13)} ${r.count}`);
      }
    }
    const text = `${lines.join("\n")}\n`;
    o.out.write(tty && !final ? `\x1b[2J\x1b[H${text}` : text);
  };
  const stop = () => handle.stop();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  await handle.done;
  process.removeListener("SIGINT", stop);
  process.removeListener("SIGTERM", stop);
  await new Promise((r) => setTimeout(r, 200));
  draw(true);
  await sub.endAsync();
  server.close();
  await new Promise<void>((r) => broker.close(() => r()));
  return 0;
}
