// npm run bench:site [-- --gates 50 --minutes 1440 --sample-every 30]
// A festival day in accelerated time: `counter site` (a child process) against a real Mosquitto, fed
// by one MQTT client per gate that publishes 1-minute intervals as fast as the broker takes them.
// Prints how long the site message takes to follow an interval, the site process's RSS over the
// day, and whether the totals came out exact. Figures, not assertions: the machine is shared.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import mqtt from "mqtt";
import { stringify } from "yaml";
import { seededRandom } from "../edge/domain/random.ts";
import type { SiteMessage } from "../edge/site/messages.ts";
import { gateCountsMessage } from "../test/helpers/gate-messages.ts";

const { values: args } = parseArgs({
  options: {
    gates: { type: "string", default: "50" },
    minutes: { type: "string", default: "1440" },
    "sample-every": { type: "string", default: "30" },
  },
});
const gateCount = Number(args.gates);
const minutes = Number(args.minutes);
const sampleEvery = Number(args["sample-every"]);

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

const dir = mkdtempSync(join(tmpdir(), "bench-site-"));
const port = await freePort();
writeFileSync(
  join(dir, "mosquitto.conf"),
  `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n`,
);
const broker = spawn("mosquitto", ["-c", join(dir, "mosquitto.conf")], { stdio: "ignore" });
const url = `mqtt://127.0.0.1:${port}`;
// the site's day (reset to reset) started 12 h ago: the intervals sent fill it from its start, and the
// bench ends long before its next reset
const dayStart = Math.ceil((Date.now() - 12 * 3_600_000) / 60_000) * 60_000;
const ids = Array.from({ length: gateCount }, (_, i) => `gate-${i + 1}`);
writeFileSync(
  join(dir, "site.yaml"),
  stringify({
    site: { id: "bench" },
    gates: ids.map((id) => ({ name: id, device: id, line: "gate", in: "south" })),
    reset: { time: new Date(dayStart).toISOString().slice(11, 16), timeZone: "UTC" },
    capacity: 100_000,
    mqtt: { url, baseTopic: "bench" },
    storage: { path: join(dir, "site.db") },
    api: { enabled: false },
  }),
);
await new Promise((r) => setTimeout(r, 300)); // mosquitto binds; the clients retry anyway
const observer = await mqtt.connectAsync(url, { reconnectPeriod: 200 });
let latest: SiteMessage | undefined;
let latestAtMs = 0;
observer.on("message", (_t, p) => {
  latest = JSON.parse(p.toString()) as SiteMessage;
  latestAtMs = performance.now();
});
await observer.subscribeAsync("bench/site/bench/occupancy", { qos: 1 });
const site = spawn(
  process.execPath,
  [resolve("bin/counter.js"), "site", "--config", join(dir, "site.yaml")],
  {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, LOG_LEVEL: "warn" },
  },
);
process.on("exit", () => {
  site.kill("SIGKILL");
  broker.kill("SIGKILL");
});
await until(() => latest !== undefined, 30_000, "the site process");
const clients = await Promise.all(ids.map((id) => mqtt.connectAsync(url, { clientId: id })));

const random = seededRandom(11);
const rand = (n: number) => Math.floor(random() * n);
const expected = new Map(ids.map((id) => [id, { entered: 0, exited: 0 }]));
/** From sending a minute's first interval to the site message that counts it. */
const firstLatencies: number[] = [];
/** From the PUBACK of a minute's last interval to the site message that counts all of the minute. */
const latencies: number[] = [];
const rss: { minute: number; mb: number }[] = [{ minute: 0, mb: rssMb(site.pid!) }];
const t0 = performance.now();
const counted = () => latest!.gates.reduce((s, g) => s + g.intervals, 0);
for (let m = 0; m < minutes; m++) {
  const sample = (m + 1) % sampleEvery === 0 || m === minutes - 1;
  // a sample minute starts with the site idle: what is measured is one minute's intervals, not a backlog
  if (sample) await until(() => counted() >= gateCount * m, 120_000, `minute ${m - 1}`);
  const firstSent = performance.now();
  let firstSeenAt = 0;
  const seen = sample
    ? until(() => counted() > gateCount * m, 60_000, "the first interval").then(() => {
        firstSeenAt = latestAtMs;
      })
    : Promise.resolve();
  await Promise.all(
    ids.map((id, g) => {
      // a day's shape: arrivals in the first half, departures in the second
      const evening = m >= minutes / 2;
      const entered = rand(evening ? 8 : 20);
      const exited = rand(evening ? 20 : 8);
      const e = expected.get(id)!;
      e.entered += entered;
      e.exited += exited;
      const msg = gateCountsMessage({
        device: id,
        seq: m + 1,
        startMs: dayStart + m * 60_000,
        entered,
        exited,
      });
      return clients[g]!.publishAsync(`bench/${id}/counts`, JSON.stringify(msg), { qos: 1 });
    }),
  );
  if (sample) {
    const lastSent = performance.now();
    await seen;
    await until(() => counted() >= gateCount * (m + 1), 60_000, `minute ${m}`);
    firstLatencies.push(firstSeenAt - firstSent);
    latencies.push(latestAtMs - lastSent);
    rss.push({ minute: m + 1, mb: rssMb(site.pid!) });
  }
}
const elapsedSec = (performance.now() - t0) / 1000;
const exact = latest!.gates.every(
  (g) => expected.get(g.gate)!.entered === g.entered && expected.get(g.gate)!.exited === g.exited,
);
const q = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!.toFixed(0);
console.log(
  `gates ${gateCount}, intervals ${gateCount * minutes} (${minutes} min each), sent in ${elapsedSec.toFixed(1)} s`,
);
console.log(
  `totals exact: ${exact}; occupancy ${latest!.occupancy}, entered ${latest!.entered}, exited ${latest!.exited}, peak ${latest!.peak.occupancy}, clamps ${latest!.clamps}`,
);
console.log(
  `site message after a gate's interval: median ${q(firstLatencies, 0.5)} ms, max ${q(firstLatencies, 1)} ms; after the last of ${gateCount} gates' intervals of a minute: median ${q(latencies, 0.5)} ms, max ${q(latencies, 1)} ms (${latencies.length} minutes sampled)`,
);
const quarter = (f: number) => rss[Math.min(rss.length - 1, Math.round(f * (rss.length - 1)))]!;
console.log(
  `site process RSS (MB): ${[0, 0.25, 0.5, 0.75, 1].map((f) => `${quarter(f).mb.toFixed(0)} at minute ${quarter(f).minute}`).join(", ")}`,
);
await Promise.all(clients.map((c) => c.endAsync()));
await observer.endAsync();
site.kill("SIGTERM");
await new Promise((r) => site.once("exit", r));
broker.kill("SIGTERM");
