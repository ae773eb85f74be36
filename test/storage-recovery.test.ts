import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import type { IntervalCounts } from "../edge/domain/types.ts";
import type { CountsMessage, StatusMessage } from "../edge/publish/messages.ts";
import { CountStore } from "../edge/store/store.ts";
import { dataPath, describeWithAssets, MODEL_DIR, modelPath } from "./helpers/assets.ts";
import {
  freePort,
  hasMosquitto,
  Mosquitto,
  type Received,
  startAedes,
  subscriber,
  waitFor,
} from "./helpers/brokers.ts";
import { counterProcess } from "./helpers/counter-process.ts";
import { deviceConfig, writeConfig } from "./helpers/device-config.ts";

const clip = dataPath("intel-person-bicycle-car/person-bicycle-car-detection.mp4");
// A real full disk: a small tmpfs that is later enlarged (mount needs root, as in CI).
const isRoot = process.getuid?.() === 0;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function smallDisk(dir: string, size: string): { path: string; grow: () => void } {
  const path = join(dir, "disk");
  mkdirSync(path);
  const mount = (opts: string[]) => {
    const r = spawnSync("mount", opts, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`mount ${opts.join(" ")}: ${r.stderr}`);
  };
  mount(["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", path]);
  cleanups.push(() => {
    spawnSync("umount", [path]);
  });
  return { path, grow: () => mount(["-o", "remount,size=8m", path]) };
}

const countsOf = (msgs: readonly Received[]) =>
  msgs.filter((m) => m.topic.endsWith("/counts")).map((m) => JSON.parse(m.payload) as CountsMessage);
const statusesOf = (msgs: readonly Received[]) =>
  msgs.filter((m) => m.topic.endsWith("/status")).map((m) => JSON.parse(m.payload) as StatusMessage);

/** First delivery of each message id, in arrival order; fails on a seq reused for another id. */
function firstDeliveries(msgs: readonly CountsMessage[]): CountsMessage[] {
  const byId = new Map<string, CountsMessage>();
  const idOfSeq = new Map<number, string>();
  for (const m of msgs) {
    const other = idOfSeq.get(m.seq);
    if (other !== undefined && other !== m.id) throw new Error(`seq ${m.seq} used for ${other} and ${m.id}`);
    idOfSeq.set(m.seq, m.id);
    if (!byId.has(m.id)) byId.set(m.id, m);
  }
  return [...byId.values()];
}

async function setup(id: string, size = "80k") {
  const broker = new Mosquitto(await freePort());
  await broker.start();
  cleanups.push(() => broker.stop());
  const sub = await subscriber(broker.url, "city/#");
  cleanups.push(() => sub.client.endAsync());
  const { raw, dir } = deviceConfig(id, broker.url);
  const disk = smallDisk(dir, size);
  raw.storage = { path: join(disk.path, "counts.db") };
  // many zone rows make each interval large, so that the disk fills within a few intervals
  raw.zones = Array.from({ length: 12 }, (_, i) => ({
    name: `z${i}`,
    polygon: [
      [0, 0],
      [1, 0],
      [1, 1],
    ],
  }));
  return { sub, disk, file: writeConfig(raw, dir), dbPath: join(disk.path, "counts.db") };
}

/** Waits until `n` counts messages arrived after the first status that reported the storage error. */
async function heldInMemory(sub: { messages: Received[] }, n: number): Promise<void> {
  await waitFor(
    () => {
      const i = sub.messages.findIndex(
        (m) => m.topic.endsWith("/status") && (JSON.parse(m.payload) as StatusMessage).storageError !== null,
      );
      return i >= 0 && countsOf(sub.messages.slice(i)).length >= n;
    },
    60_000,
    `${n} intervals delivered from memory`,
  );
}

describe.skipIf(!isRoot || !hasMosquitto)("sequence numbers across a full disk (tmpfs)", () => {
  it.each([
    ["fills while counting", "240k"],
    ["is too full to create the database at start", "80k"],
  ])(
    "the disk %s, then grows: held intervals are written to the database, numbering never repeats",
    async (_what, size) => {
      const { sub, disk, file, dbPath } = await setup(`full-${size}`, size);
      const p = counterProcess(["simulate", "--config", file, "--rate", "5"]);
      cleanups.push(() => {
        p.child.kill("SIGKILL");
      });
      await heldInMemory(sub, 3);
      disk.grow();
      // a database that could not be opened is tried again every 10 s
      await waitFor(() => /database is writable again/.test(p.stderr()), 60_000, "the database recovered");
      const seen = countsOf(sub.messages).length;
      await waitFor(() => countsOf(sub.messages).length >= seen + 2, 30_000, "two more intervals");
      p.child.kill("SIGTERM");
      expect(await p.exited).toBe(0);

      const delivered = firstDeliveries(countsOf(sub.messages));
      expect(delivered.map((m) => m.seq)).toEqual(delivered.map((_, i) => i + 1));
      expect(statusesOf(sub.messages).some((s) => s.storageError !== null)).toBe(true);
      // every interval that went out is in the history, the ones held in memory included
      const store = new CountStore(dbPath);
      const stored = store.history();
      store.close();
      expect(stored.length).toBe(delivered.length);
      expect(stored.map((iv) => iv.startMs)).toEqual(delivered.map((m) => Date.parse(m.intervalStart)));
    },
  );

  it("killed while counts were held in memory: the restart numbers above everything that went out", async () => {
    const { sub, disk, file } = await setup("full-2");
    const first = counterProcess(["simulate", "--config", file, "--rate", "5"]);
    cleanups.push(() => {
      first.child.kill("SIGKILL");
    });
    await heldInMemory(sub, 3);
    first.child.kill("SIGKILL");
    await first.exited;
    const before = Math.max(...countsOf(sub.messages).map((m) => m.seq));
    disk.grow();
    const second = counterProcess(["simulate", "--config", file, "--rate", "5", "--duration", "3"]);
    cleanups.push(() => {
      second.child.kill("SIGKILL");
    });
    expect(await second.exited).toBe(0);
    await waitFor(
      () => countsOf(sub.messages).some((m) => m.seq > before),
      10_000,
      "counts from the second run",
    );
    const delivered = firstDeliveries(countsOf(sub.messages)); // throws on a reused seq
    const seqs = delivered.map((m) => m.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(seqs.filter((s) => s > before).length).toBeGreaterThanOrEqual(2);
  });
});

describeWithAssets("power loss in the middle of an interval", [modelPath("yolox_nano.onnx"), clip], () => {
  it("SIGKILL: the restart delivers the saved open interval as partial, with the coverage it had", async () => {
    const broker = await startAedes();
    cleanups.push(broker.close);
    const { raw, dir } = deviceConfig("kill-open", broker.url, {
      camera: { source: clip, mode: "live", fps: 5 },
      model: { id: "yolox-nano", dir: MODEL_DIR, threads: 1 },
      aggregation: { periodSec: 86_400 }, // the interval is still open when the power goes
      api: { enabled: false },
    });
    raw.storage = { path: join(dir, "counts.db"), checkpointSec: 1 };
    const file = writeConfig(raw, dir);
    const first = counterProcess(["run", "--config", file]);
    cleanups.push(() => {
      first.child.kill("SIGKILL");
    });
    const saved = () => {
      try {
        const db = new Database(join(dir, "counts.db"), { readonly: true, fileMustExist: true });
        const row = db.prepare("SELECT value FROM meta WHERE key = 'open_interval'").get() as
          | { value: string }
          | undefined;
        db.close();
        return row ? (JSON.parse(row.value) as IntervalCounts) : undefined;
      } catch {
        return undefined;
      }
    };
    await waitFor(() => (saved()?.quality.framesProcessed ?? 0) >= 10, 60_000, "a saved open interval");
    first.child.kill("SIGKILL");
    await first.exited;
    const open = saved()!;
    expect(open.quality.coverageSec).toBeGreaterThan(1);

    const sub = await subscriber(broker.url, "city/kill-open/counts");
    cleanups.push(() => sub.client.endAsync());
    const second = counterProcess(["run", "--config", file]);
    cleanups.push(() => {
      second.child.kill("SIGKILL");
    });
    await waitFor(() => sub.messages.length >= 1, 60_000, "the recovered interval");
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    const msgs = countsOf(sub.messages);
    const recovered = msgs[0]!;
    expect(recovered.seq).toBe(1);
    expect(recovered.partial).toBe(true);
    expect(Date.parse(recovered.intervalStart)).toBe(open.startMs);
    expect(recovered.quality.framesProcessed).toBeGreaterThanOrEqual(open.quality.framesProcessed);
    expect(recovered.quality.coverageSec).toBeGreaterThanOrEqual(open.quality.coverageSec);
    expect(second.stderr()).toMatch(/the last run ended without closing its interval/);
    // delivered once: the restart's own partial interval is another message with another id
    expect(new Set(msgs.map((m) => m.id)).size).toBe(msgs.length);
    expect(saved()).toBeUndefined();
  });
});
