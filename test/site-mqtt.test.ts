import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Value } from "@sinclair/typebox/value";
import Database from "better-sqlite3";
import mqtt from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { createLogger } from "../edge/app/logger.ts";
import { SimulatedDevice } from "../edge/app/simulate.ts";
import { seededRandom } from "../edge/domain/random.ts";
import { parseSiteConfig } from "../edge/site/load.ts";
import { type AlarmMessage, type SiteMessage, SiteMessageSchema } from "../edge/site/messages.ts";
import { SiteProcess } from "../edge/site/site-process.ts";
import { REPO_ROOT } from "./helpers/assets.ts";
import {
  freePort,
  hasMosquitto,
  Mosquitto,
  type Received,
  startAedes,
  subscriber,
  waitFor,
} from "./helpers/brokers.ts";
import { deviceConfig } from "./helpers/device-config.ts";
import { gateCountsMessage } from "./helpers/gate-messages.ts";

const quiet = createLogger("silent");
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Gates g1..gN, each a simulated device with line `gate` (north -> south is in), 1-s intervals. */
function gates(n: number, url: string, brokerUrlOf: (i: number) => string = () => url): SimulatedDevice[] {
  return Array.from({ length: n }, (_, i) => {
    const { config } = deviceConfig(`g${i + 1}`, brokerUrlOf(i), {
      mqtt: { url: brokerUrlOf(i), baseTopic: "city", reconnectMinSec: 0.2, reconnectMaxSec: 1 },
    });
    return new SimulatedDevice(config, { ratePerSec: 4, seed: 10 + i, tickMs: 50 }, "test", quiet);
  });
}

function siteRaw(url: string, devices: readonly SimulatedDevice[], over: Record<string, unknown> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "site-mqtt-"));
  return {
    dir,
    raw: {
      site: { id: "fest", name: "Test festival" },
      gates: devices.map((d) => ({
        name: d.config.device.id,
        device: d.config.device.id,
        line: "gate",
        in: "south",
      })),
      reset: { time: "06:00", timeZone: "UTC" },
      mqtt: { url, baseTopic: "city", clientId: `site-fest-${Date.now()}` },
      storage: { path: join(dir, "site.db") },
      api: { port: 0 }, // the Site page on a free port: several sites run at once here
      ...over,
    } as Record<string, unknown>,
  };
}

/** What each device counted, as the site should see it: [entered, exited] per gate. */
function sent(devices: readonly SimulatedDevice[]): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  for (const d of devices) {
    let entered = 0;
    let exited = 0;
    for (const [k, v] of d.generated) {
      if (k.startsWith("gate:north>south:")) entered += v;
      else if (k.startsWith("gate:south>north:")) exited += v;
    }
    out.set(d.config.device.id, [entered, exited]);
  }
  return out;
}

const perGate = (m: SiteMessage | undefined) =>
  new Map((m?.gates ?? []).map((g) => [g.gate, [g.entered, g.exited] as [number, number]]));

const sameTotals = (a: Map<string, [number, number]>, b: Map<string, [number, number]>) =>
  a.size === b.size && [...a].every(([k, [e, x]]) => b.get(k)?.[0] === e && b.get(k)?.[1] === x);

const latestSite = (msgs: readonly Received[]) => {
  const last = msgs.filter((m) => m.topic.endsWith("/occupancy")).at(-1);
  return last ? (JSON.parse(last.payload) as SiteMessage) : undefined;
};

/** Every (device, seq) in the site's database, once each by its primary key; and the row count. */
function storedIntervals(path: string): { rows: number; perDevice: Map<string, number[]> } {
  const db = new Database(path, { readonly: true });
  try {
    const rows = db.prepare("SELECT device, seq FROM intervals ORDER BY device, seq").all() as {
      device: string;
      seq: number;
    }[];
    const perDevice = new Map<string, number[]>();
    for (const r of rows) perDevice.set(r.device, [...(perDevice.get(r.device) ?? []), r.seq]);
    return { rows: rows.length, perDevice };
  } finally {
    db.close();
  }
}

/** Each device's sequence numbers 1..n, none missing, none twice. */
function expectConsecutive(perDevice: Map<string, number[]>, devices: readonly SimulatedDevice[]): void {
  for (const d of devices) {
    const seqs = perDevice.get(d.config.device.id) ?? [];
    expect(seqs.length).toBeGreaterThan(0);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
  }
}

function siteChild(configPath: string): ChildProcess {
  const p = spawn(process.execPath, [join(REPO_ROOT, "bin/counter.js"), "site", "--config", configPath], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, LOG_LEVEL: "warn" },
  });
  let err = "";
  p.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  cleanups.push(() => {
    if (p.exitCode === null) p.kill("SIGKILL");
    if (err.includes('"level":50')) console.error(err);
  });
  return p;
}

async function stopAll(devices: readonly SimulatedDevice[]): Promise<void> {
  await Promise.all(devices.map((d) => d.stop()));
}

describe("site process against an in-process broker (aedes)", () => {
  it("five gates: the site's totals per gate equal what the devices sent; the retained site message follows", async () => {
    const broker = await startAedes();
    cleanups.push(broker.close);
    const devices = gates(5, broker.url);
    const { raw } = siteRaw(broker.url, devices, { capacity: 4 });
    const config = parseSiteConfig(raw, "site.yaml", {});
    const site = new SiteProcess(config, { log: quiet });
    site.start();
    cleanups.push(() => site.stop());
    const sub = await subscriber(broker.url, "city/site/fest/#");
    cleanups.push(() => sub.client.endAsync());
    await waitFor(() => latestSite(sub.messages) !== undefined, 10_000, "site subscribed");
    for (const d of devices) d.start();
    await waitFor(() => site.received.intervals >= 15, 30_000, "three intervals per gate");
    expect(site.latest?.gates.every((g) => g.state === "ok" || g.state === "blind")).toBe(true);
    await stopAll(devices);
    await waitFor(() => sameTotals(perGate(latestSite(sub.messages)), sent(devices)), 10_000, "exact totals");
    const m = latestSite(sub.messages)!;
    expect(Value.Check(SiteMessageSchema, m)).toBe(true);
    expect(m.entered).toBe([...sent(devices).values()].reduce((s, [e]) => s + e, 0));
    expect(m.exited).toBe([...sent(devices).values()].reduce((s, [, x]) => s + x, 0));
    expect(m.occupancy).toBeGreaterThanOrEqual(Math.max(0, m.entered - m.exited));
    expect(m.gates.every((g) => g.missingIntervals === 0)).toBe(true);
    // the devices' clean stop says offline: the site says which gates and that it is partial
    await waitFor(
      () => latestSite(sub.messages)?.gates.every((g) => g.state === "offline") === true,
      12_000,
      "gates offline",
    );
    expect(latestSite(sub.messages)!.partial).toBe(true);
    // the alarm message carries the level the site message reports
    const alarms = sub.messages
      .filter((x) => x.topic === "city/site/fest/alarm")
      .map((x) => JSON.parse(x.payload) as AlarmMessage);
    expect(alarms.at(-1)?.level ?? null).toBe(latestSite(sub.messages)!.alarm);
    expect(storedIntervals(config.storage.path).rows).toBe(
      site.received.intervals - site.received.duplicates,
    );
  });
});

/** A TCP hop between a device and the broker that can be cut (the gate's uplink failing) and restored. */
class Uplink {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  constructor(
    readonly port: number,
    readonly brokerPort: number,
  ) {}
  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }
  async up(): Promise<void> {
    const server = createServer((down) => {
      const up = connect(this.brokerPort, "127.0.0.1");
      this.sockets.add(down).add(up);
      down.pipe(up).pipe(down);
      const close = () => {
        down.destroy();
        up.destroy();
      };
      down.on("error", close).on("close", close);
      up.on("error", close).on("close", close);
    });
    await new Promise<void>((r) => server.listen(this.port, "127.0.0.1", r));
    this.server = server;
  }
  async down(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}

describe.runIf(hasMosquitto || process.env.CI === "true")("site process faults against Mosquitto", () => {
  async function mosquitto(): Promise<Mosquitto> {
    const port = await freePort();
    const store = new Mosquitto(0).dir;
    // persistence: the site's session (subscriptions, queued intervals) survives a broker restart
    const broker = new Mosquitto(
      port,
      `allow_anonymous true\npersistence true\npersistence_location ${store}/\nmax_queued_messages 0\n`,
    );
    await broker.start();
    cleanups.push(() => broker.stop());
    return broker;
  }

  it("site process SIGKILLed and restarted while gates count: the broker keeps its intervals, none lost or doubled", async () => {
    const broker = await mosquitto();
    const devices = gates(4, broker.url);
    const { raw, dir } = siteRaw(broker.url, devices);
    const file = join(dir, "site.yaml");
    writeFileSync(file, stringify(raw));
    const sub = await subscriber(broker.url, "city/#");
    cleanups.push(() => sub.client.endAsync());
    const published = () => sub.messages.filter((m) => m.topic.endsWith("/counts")).length;
    let site = siteChild(file);
    // its first connection creates the session: from then on the broker keeps the gates' intervals for it
    await waitFor(() => latestSite(sub.messages) !== undefined, 30_000, "site subscribed");
    for (const d of devices) d.start();
    await waitFor(
      () => latestSite(sub.messages)?.gates.every((g) => g.intervals >= 2) ?? false,
      30_000,
      "site counting",
    );
    site.kill("SIGKILL");
    await new Promise((r) => site.once("exit", r));
    const atKill = published();
    await waitFor(() => published() >= atKill + 12, 30_000, "intervals published while the site is down");
    site = siteChild(file);
    await waitFor(() => published() >= atKill + 20, 30_000, "more intervals after the restart");
    await stopAll(devices);
    await waitFor(
      () => sameTotals(perGate(latestSite(sub.messages)), sent(devices)),
      20_000,
      "exact totals after restart",
    );
    site.kill("SIGTERM");
    await new Promise((r) => site.once("exit", r));
    const stored = storedIntervals(join(dir, "site.db"));
    expectConsecutive(stored.perDevice, devices);
    expect(stored.rows).toBe(
      new Set(sub.messages.filter((m) => m.topic.endsWith("/counts")).map((m) => m.payload)).size,
    );
  });

  it("broker restarted: the site's persistent session resumes; nothing lost or doubled", async () => {
    const broker = await mosquitto();
    const devices = gates(4, broker.url);
    const { raw, dir } = siteRaw(broker.url, devices);
    const file = join(dir, "site.yaml");
    writeFileSync(file, stringify(raw));
    const sub = await subscriber(broker.url, "city/site/fest/occupancy", {
      clean: false,
      clientId: `obs-${Date.now()}`,
    });
    cleanups.push(() => sub.client.endAsync(true));
    const site = siteChild(file);
    await waitFor(() => latestSite(sub.messages) !== undefined, 30_000, "site subscribed");
    for (const d of devices) d.start();
    await waitFor(
      () => latestSite(sub.messages)?.gates.every((g) => g.intervals >= 2) ?? false,
      30_000,
      "site counting",
    );
    await broker.stop();
    await waitFor(
      () => devices.every((d) => d.output.outboxDepth() >= 2),
      20_000,
      "intervals waiting at the gates",
    );
    await broker.start();
    await waitFor(() => devices.every((d) => d.output.brokerConnected), 20_000, "gates reconnected");
    await stopAll(devices);
    await waitFor(
      () => sameTotals(perGate(latestSite(sub.messages)), sent(devices)),
      20_000,
      "exact totals after the broker restart",
    );
    site.kill("SIGTERM");
    await new Promise((r) => site.once("exit", r));
    expectConsecutive(storedIntervals(join(dir, "site.db")).perDevice, devices);
  });

  it("a gate offline for a while: partial meanwhile; its backlog fills in and the totals are exact", async () => {
    const broker = await mosquitto();
    const uplink = new Uplink(await freePort(), broker.port);
    await uplink.up();
    cleanups.push(() => uplink.down());
    const devices = gates(3, broker.url, (i) => (i === 0 ? uplink.url : broker.url));
    const { raw } = siteRaw(broker.url, devices);
    const site = new SiteProcess(parseSiteConfig(raw, "site.yaml", {}), { log: quiet });
    site.start();
    cleanups.push(() => site.stop());
    const sub = await subscriber(broker.url, "city/site/fest/occupancy");
    cleanups.push(() => sub.client.endAsync());
    await waitFor(() => latestSite(sub.messages) !== undefined, 10_000, "site subscribed");
    for (const d of devices) d.start();
    await waitFor(() => site.latest?.gates.every((g) => g.intervals >= 2) ?? false, 30_000, "site counting");
    await uplink.down(); // the broker publishes g1's last will
    await waitFor(() => site.latest?.gates[0]?.state === "offline", 15_000, "g1 offline");
    expect(site.latest!.partial).toBe(true);
    const partialSince = site.latest!.partialSince;
    expect(partialSince).not.toBeNull();
    await waitFor(() => devices[0]!.output.outboxDepth() >= 5, 20_000, "five intervals waiting at g1");
    const before = site.latest!.gates[0]!;
    expect(site.latest!.partialSince).toBe(partialSince);
    await uplink.up();
    await waitFor(() => devices[0]!.output.outboxDepth() === 0, 20_000, "g1's backlog delivered");
    await waitFor(
      () => site.latest?.partial === false && site.latest.gates[0]!.intervals >= before.intervals + 5,
      15_000,
      "site whole again, with g1's backlog",
    );
    await stopAll(devices);
    await waitFor(() => sameTotals(perGate(site.latest), sent(devices)), 20_000, "exact totals");
    expect(site.latest!.gates.every((g) => g.missingIntervals === 0)).toBe(true);
    expectConsecutive(storedIntervals(site.config.storage.path).perDevice, devices);
  });

  it("50 gates, an hour of 1-minute intervals sent as fast as the broker takes them: totals exact, every interval once", async () => {
    const broker = await mosquitto();
    const gateCount = 50;
    const minutes = 60;
    // the site's day starts 2 h ago, so the hour of intervals lies inside it
    const dayStart = Math.ceil((Date.now() - 2 * 3_600_000) / 60_000) * 60_000;
    const ids = Array.from({ length: gateCount }, (_, i) => `gate-${i + 1}`);
    const dir = mkdtempSync(join(tmpdir(), "site-scale-"));
    const config = parseSiteConfig(
      {
        site: { id: "fest" },
        gates: ids.map((id) => ({ name: id, device: id, line: "gate", in: "south" })),
        reset: { time: new Date(dayStart).toISOString().slice(11, 16), timeZone: "UTC" },
        mqtt: { url: broker.url, baseTopic: "city" },
        storage: { path: join(dir, "site.db") },
      },
      "site.yaml",
      {},
    );
    const site = new SiteProcess(config, { log: quiet });
    site.start();
    cleanups.push(() => site.stop());
    await waitFor(() => site.brokerConnected, 10_000, "site connected");
    const clients = await Promise.all(ids.map((id) => mqtt.connectAsync(broker.url, { clientId: id })));
    cleanups.push(() => Promise.all(clients.map((c) => c.endAsync())).then(() => undefined));
    const random = seededRandom(7);
    const rand = (n: number) => Math.floor(random() * n);
    const expected = new Map<string, [number, number]>(ids.map((id) => [id, [0, 0]]));
    for (let m = 0; m < minutes; m++) {
      await Promise.all(
        ids.map((id, g) => {
          const entered = rand(30);
          const exited = rand(30);
          const e = expected.get(id)!;
          e[0] += entered;
          e[1] += exited;
          const msg = gateCountsMessage({
            device: id,
            seq: m + 1,
            startMs: dayStart + m * 60_000,
            entered,
            exited,
          });
          return clients[g]!.publishAsync(`city/${id}/counts`, JSON.stringify(msg), { qos: 1 });
        }),
      );
    }
    await waitFor(
      () => site.received.intervals >= gateCount * minutes,
      120_000,
      "every interval at the site",
    );
    await waitFor(() => sameTotals(perGate(site.latest), expected), 5000, "exact totals");
    const stored = storedIntervals(config.storage.path);
    expect(stored.rows).toBe(gateCount * minutes);
    for (const id of ids)
      expect(stored.perDevice.get(id)).toEqual(Array.from({ length: minutes }, (_, i) => i + 1));
    const total = [...expected.values()].reduce((s, [e]) => s + e, 0);
    expect(site.latest!.entered).toBe(total);
    expect(site.latest!.gates.every((g) => g.missingIntervals === 0 && g.intervals === minutes)).toBe(true);
  });
});
