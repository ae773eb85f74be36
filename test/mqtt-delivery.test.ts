import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../edge/app/logger.ts";
import { SimulatedDevice } from "../edge/app/simulate.ts";
import type { CountsMessage, StatusMessage } from "../edge/publish/messages.ts";
import { CountStore } from "../edge/store/store.ts";
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
import { deviceConfig, writeConfig } from "./helpers/device-config.ts";

const quiet = createLogger("silent");
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const counts = (msgs: readonly Received[]) =>
  msgs
    .filter((m) => !m.retain && m.topic.endsWith("/counts"))
    .map((m) => JSON.parse(m.payload) as CountsMessage);

/** Per `line:from>to:mode`, summed over the received messages (first copy of each id only). */
function totals(msgs: readonly CountsMessage[]): Map<string, number> {
  const seen = new Set<string>();
  const out = new Map<string, number>();
  for (const m of msgs) {
    if (seen.has(m.id)) continue;
    seen.add(m.id);
    for (const l of m.lines) {
      if (l.count === 0) continue;
      const k = `${l.line}:${l.from}>${l.to}:${l.mode}`;
      out.set(k, (out.get(k) ?? 0) + l.count);
    }
  }
  return out;
}

function expectConsecutive(msgs: readonly CountsMessage[]): void {
  const firstSeen: number[] = [];
  const ids = new Set<string>();
  for (const m of msgs) {
    if (ids.has(m.id)) continue; // at-least-once: a duplicate carries the same id and seq
    ids.add(m.id);
    firstSeen.push(m.seq);
  }
  expect(firstSeen).toEqual(Array.from({ length: firstSeen.length }, (_, i) => i + 1));
}

/** Rows in a database's outbox, read without disturbing the process that writes it. */
function outboxRows(path: string): number {
  if (!existsSync(path)) return 0;
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare("SELECT COUNT(*) AS n FROM outbox").get() as { n: number }).n;
  } catch {
    return 0; // not created yet
  } finally {
    db.close();
  }
}

function counter(args: string[]): ChildProcess {
  return spawn(process.execPath, [join(REPO_ROOT, "bin/counter.js"), ...args], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, LOG_LEVEL: "warn" },
  });
}

describe("delivery through an in-process broker (aedes)", () => {
  it("publishes each interval once, in order, with a retained status and an explicit offline on stop", async () => {
    const broker = await startAedes();
    cleanups.push(broker.close);
    const sub = await subscriber(broker.url, "city/#");
    cleanups.push(() => sub.client.endAsync());
    const { config } = deviceConfig("aedes-1", broker.url);
    const device = new SimulatedDevice(config, { ratePerSec: 5, seed: 3, tickMs: 50 }, "test", quiet);
    device.start();
    await waitFor(() => counts(sub.messages).length >= 3, 20_000, "three intervals delivered");
    await device.stop();
    await waitFor(
      () => sub.messages.some((m) => m.topic === "city/aedes-1/status" && !JSON.parse(m.payload).online),
      3000,
      "offline status",
    );
    const got = counts(sub.messages);
    expect(got.length).toBeGreaterThanOrEqual(3);
    expectConsecutive(got);
    expect(totals(got)).toEqual(new Map([...device.generated].filter(([, v]) => v > 0)));
    expect(got.at(-1)!.partial).toBe(true);
    const status = sub.messages
      .filter((m) => m.topic === "city/aedes-1/status")
      .map((m) => JSON.parse(m.payload) as StatusMessage);
    expect(status[0]!.online).toBe(true);
    // a late subscriber gets the retained status
    const late = await subscriber(broker.url, "city/aedes-1/status");
    cleanups.push(() => late.client.endAsync());
    await waitFor(() => late.messages.length > 0, 2000, "retained status");
    expect(late.messages[0]!.retain).toBe(true);
    expect(JSON.parse(late.messages[0]!.payload).online).toBe(false);
  });
});

describe.runIf(hasMosquitto || process.env.CI === "true")("faults against Mosquitto", () => {
  it("broker stopped across several intervals: every interval arrives after restart, in order, none lost or invented", async () => {
    const port = await freePort();
    const store = new Mosquitto(0).dir;
    const broker = new Mosquitto(
      port,
      `allow_anonymous true\npersistence true\npersistence_location ${store}/\n`,
    );
    await broker.start();
    cleanups.push(() => broker.stop());
    // a persistent session keeps the subscription across the broker restart
    const sub = await subscriber(broker.url, "city/+/counts", { clean: false, clientId: "sub-restart" });
    cleanups.push(() => sub.client.endAsync(true));
    const { config } = deviceConfig("restart-1", broker.url);
    const device = new SimulatedDevice(config, { ratePerSec: 8, seed: 5, tickMs: 50 }, "test", quiet);
    device.start();
    await waitFor(() => counts(sub.messages).length >= 2, 20_000, "two intervals delivered");
    // stop the broker mid-interval, not while the broker is passing an interval on (1-s intervals)
    await waitFor(() => Date.now() % 1000 > 300 && Date.now() % 1000 < 700, 2000, "mid-interval");
    await broker.stop();
    // intervals close while the broker is away
    await waitFor(() => device.output.outboxDepth() >= 3, 20_000, "three intervals waiting");
    await broker.start();
    await waitFor(() => device.output.brokerConnected, 20_000, "reconnect");
    await device.stop(); // drains the outbox before closing
    await waitFor(
      () => totalsEqual(totals(counts(sub.messages)), device.generated),
      15_000,
      "all counts at the subscriber",
    );
    const got = counts(sub.messages);
    expectConsecutive(got);
    expect(got.length).toBeGreaterThanOrEqual(6);
  });

  it("MQTT 5: the same delivery with protocolVersion 5", async () => {
    const port = await freePort();
    const broker = new Mosquitto(port);
    await broker.start();
    cleanups.push(() => broker.stop());
    const sub = await subscriber(broker.url, "city/#", { protocolVersion: 5 });
    cleanups.push(() => sub.client.endAsync());
    const { config } = deviceConfig("v5-1", broker.url, {
      mqtt: { url: broker.url, baseTopic: "city", protocolVersion: 5 },
    });
    const device = new SimulatedDevice(config, { ratePerSec: 5, seed: 4, tickMs: 50 }, "test", quiet);
    device.start();
    await waitFor(() => counts(sub.messages).length >= 2, 20_000, "two intervals over MQTT 5");
    await device.stop();
    await waitFor(
      () => totalsEqual(totals(counts(sub.messages)), device.generated),
      5000,
      "counts over MQTT 5",
    );
    expectConsecutive(counts(sub.messages));
    expect(
      sub.messages.some((m) => m.topic === "city/v5-1/status" && JSON.parse(m.payload).online === false),
    ).toBe(true);
  });

  it("SIGKILL between commit and publish: delivered after restart with the same ids", async () => {
    const port = await freePort();
    const { raw, dir } = deviceConfig("killed-1", `mqtt://127.0.0.1:${port}`);
    const file = writeConfig(raw, dir);
    // no broker yet: intervals are committed to the outbox and cannot be published
    const first = counter(["simulate", "--config", file, "--rate", "5"]);
    await waitFor(() => outboxRows(join(dir, "counts.db")) >= 2, 30_000, "two intervals in the outbox");
    first.kill("SIGKILL");
    await new Promise((r) => first.once("exit", r));
    const store = new CountStore(join(dir, "counts.db"));
    const waiting = store.pending(1000);
    store.close();
    expect(waiting.length).toBeGreaterThanOrEqual(2);
    const broker = new Mosquitto(port);
    await broker.start();
    cleanups.push(() => broker.stop());
    const sub = await subscriber(broker.url, "city/killed-1/counts");
    cleanups.push(() => sub.client.endAsync());
    const second = counter(["simulate", "--config", file, "--rate", "5", "--duration", "3"]);
    await new Promise((r) => second.once("exit", r));
    const got = counts(sub.messages);
    const head = got.slice(0, waiting.length);
    expect(head.map((m) => [m.id, m.seq])).toEqual(waiting.map((w) => [w.messageId, w.seq]));
    expectConsecutive(got);
  });

  it("wrong credentials: a clear error, the password never logged, counts kept on disk, retried until the broker accepts them", async () => {
    const port = await freePort();
    const broker = new Mosquitto(port, "allow_anonymous false\n");
    const pwfile = join(broker.dir, "passwd");
    writeFileSync(pwfile, "");
    spawnSync("mosquitto_passwd", ["-b", pwfile, "counter", "right-password"]);
    spawnSync("mosquitto_passwd", ["-b", pwfile, "watcher", "watcher-password"]);
    chmodSync(pwfile, 0o644); // mosquitto started as root drops to its own user
    broker.extraConfig = `allow_anonymous false\npassword_file ${pwfile}\n`;
    await broker.start();
    cleanups.push(() => broker.stop());
    const sub = await subscriber(broker.url, "city/#", { username: "watcher", password: "watcher-password" });
    cleanups.push(() => sub.client.endAsync());
    const logs: string[] = [];
    const log = pino({ level: "info" }, { write: (line: string) => logs.push(line) });
    const { config } = deviceConfig("badpw-1", broker.url, {
      mqtt: {
        url: broker.url,
        baseTopic: "city",
        username: "counter",
        password: "wrong-secret-123",
        reconnectMinSec: 0.2,
        reconnectMaxSec: 0.5,
      },
    });
    const device = new SimulatedDevice(config, { ratePerSec: 5, seed: 1, tickMs: 50 }, "test", log);
    device.start();
    cleanups.push(() => device.stop());
    await waitFor(() => device.output.outboxDepth() >= 2, 20_000, "two intervals waiting");
    expect(device.output.brokerError).toMatch(/refused the username or password|not authorized/);
    expect(device.output.database!.history().length).toBe(device.output.outboxDepth());
    expect(logs.join("\n")).toMatch(/username or password|not authorized/);
    expect(logs.join("\n")).not.toContain("wrong-secret-123");
    // the operator fixes the broker's password file and reloads it; the device is not restarted
    await waitFor(
      () => logs.filter((l) => /username or password|not authorized/.test(l)).length >= 2,
      20_000,
      "a second attempt",
    );
    spawnSync("mosquitto_passwd", ["-b", pwfile, "counter", "wrong-secret-123"]);
    broker.reload();
    await waitFor(
      () => device.output.brokerConnected,
      20_000,
      "reconnected after the password file was fixed",
    );
    await waitFor(() => device.output.outboxDepth() === 0, 20_000, "outbox drained");
    expect(device.output.brokerError).toBeNull();
    const got = counts(sub.messages);
    expect(got.length).toBeGreaterThanOrEqual(2); // those that waited, then the new ones
    expectConsecutive(got);
  });

  it("TLS failure (unknown certificate authority): a clear error and counts kept; with the CA configured they arrive", async () => {
    const port = await freePort();
    const broker = new Mosquitto(port);
    const d = broker.dir;
    makeCertificates(d);
    broker.extraConfig = `allow_anonymous true\ncertfile ${d}/server.crt\nkeyfile ${d}/server.key\n`;
    await broker.start();
    cleanups.push(() => broker.stop());
    const url = `mqtts://127.0.0.1:${port}`;
    const untrusted = deviceConfig("tls-1", url).config;
    const device = new SimulatedDevice(untrusted, { ratePerSec: 5, seed: 1, tickMs: 50 }, "test", quiet);
    device.start();
    await waitFor(() => device.output.brokerError !== null, 20_000, "the TLS error");
    await waitFor(() => device.output.outboxDepth() >= 1, 20_000, "an interval waiting");
    expect(device.output.brokerError).toMatch(/TLS failure|certificate/);
    await device.stop();
    const trusted = deviceConfig("tls-2", url, {
      mqtt: { url, baseTopic: "city", tls: { ca: join(d, "ca.crt") } },
    }).config;
    const sub = await subscriber(url, "city/tls-2/counts", { ca: readFileSync(join(d, "ca.crt")) });
    cleanups.push(() => sub.client.endAsync());
    const ok = new SimulatedDevice(trusted, { ratePerSec: 5, seed: 1, tickMs: 50 }, "test", quiet);
    ok.start();
    await waitFor(() => counts(sub.messages).length >= 1, 20_000, "an interval over TLS");
    await ok.stop();
    await waitFor(() => totalsEqual(totals(counts(sub.messages)), ok.generated), 5000, "counts over TLS");
  });

  it("client certificate required (as OS2iot's broker can): refused without one, delivered with it", async () => {
    const port = await freePort();
    const broker = new Mosquitto(port);
    const d = broker.dir;
    makeCertificates(d);
    broker.extraConfig =
      `cafile ${d}/ca.crt\ncertfile ${d}/server.crt\nkeyfile ${d}/server.key\n` +
      "require_certificate true\nuse_identity_as_username true\nallow_anonymous false\n";
    await broker.start();
    cleanups.push(() => broker.stop());
    const url = `mqtts://127.0.0.1:${port}`;
    const withoutCert = deviceConfig("tls-cert-0", url, {
      mqtt: { url, baseTopic: "city", tls: { ca: join(d, "ca.crt") } },
    }).config;
    const refused = new SimulatedDevice(withoutCert, { ratePerSec: 5, seed: 1, tickMs: 50 }, "test", quiet);
    refused.start();
    await waitFor(() => refused.output.brokerError !== null, 5000, "a broker error");
    expect(refused.output.brokerError).toMatch(
      /the broker requires a client certificate; set mqtt.tls.cert and mqtt.tls.key/,
    );
    await waitFor(() => refused.output.outboxDepth() >= 1, 5000, "counts kept while refused");
    await refused.stop();

    const tls = { ca: join(d, "ca.crt"), cert: join(d, "client.crt"), key: join(d, "client.key") };
    const withCert = deviceConfig("tls-cert-1", url, { mqtt: { url, baseTopic: "city", tls } }).config;
    const sub = await subscriber(url, "city/tls-cert-1/counts", {
      ca: readFileSync(tls.ca),
      cert: readFileSync(tls.cert),
      key: readFileSync(tls.key),
    });
    cleanups.push(() => sub.client.endAsync());
    const ok = new SimulatedDevice(withCert, { ratePerSec: 5, seed: 1, tickMs: 50 }, "test", quiet);
    ok.start();
    await waitFor(() => counts(sub.messages).length >= 1, 20_000, "an interval with the client certificate");
    await ok.stop();
    await waitFor(
      () => totalsEqual(totals(counts(sub.messages)), ok.generated),
      5000,
      "counts with a client certificate",
    );
  });

  it.each([
    [
      "cannot be created (its folder is a file)",
      (dir: string) => ({ path: join(dir, "not-a-folder", "counts.db"), maxSizeMb: 0 }),
      "prepare",
    ],
    [
      "fills up while counting (disk full)",
      (dir: string) => ({ path: join(dir, "counts.db"), maxSizeMb: 0.04 }),
      "run",
    ],
  ] as const)(
    "database %s: counting goes on in memory, status says so, every count still delivered in order",
    async (_name, storage, when) => {
      const port = await freePort();
      const broker = new Mosquitto(port);
      await broker.start();
      cleanups.push(() => broker.stop());
      const sub = await subscriber(broker.url, "city/#");
      cleanups.push(() => sub.client.endAsync());
      const { config, dir } = deviceConfig(`db-${when}`, broker.url);
      if (when === "prepare") writeFileSync(join(dir, "not-a-folder"), "");
      const cfg = { ...config, storage: { ...config.storage, ...storage(dir) } };
      // big zone rows make each interval large, so the small database fills within a few intervals
      const zones = Array.from({ length: 12 }, (_, i) => ({
        name: `z${i}`,
        polygon: [
          [0, 0],
          [1, 0],
          [1, 1],
        ] as [number, number][],
        dwellThresholdSec: 30,
      }));
      const device = new SimulatedDevice(
        { ...cfg, zones },
        { ratePerSec: 5, seed: 2, tickMs: 50 },
        "test",
        quiet,
      );
      device.start();
      await waitFor(() => device.output.storageError !== null, 15_000, "storage error");
      // counting goes on without the database: an interval closed after the failure is delivered
      const before = counts(sub.messages).length;
      await waitFor(() => counts(sub.messages).length > before, 15_000, "an interval after the failure");
      await device.stop();
      await waitFor(
        () => totalsEqual(totals(counts(sub.messages)), device.generated),
        5000,
        "counts delivered",
      );
      expectConsecutive(counts(sub.messages));
      const statuses = sub.messages
        .filter((m) => m.topic.endsWith("/status"))
        .map((m) => JSON.parse(m.payload) as StatusMessage);
      expect(statuses.some((s) => s.online && s.storageError !== null)).toBe(true);
    },
  );

  it("fleet: 100 devices, 1-s intervals, one broker: zero loss, and availability right when some are killed", async () => {
    const seconds = Number(process.env.FLEET_SECONDS ?? "60");
    const port = await freePort();
    const broker = new Mosquitto(port, "allow_anonymous true\nmax_queued_messages 100000\n");
    await broker.start();
    cleanups.push(() => broker.stop());
    const sub = await subscriber(broker.url, "city/#");
    cleanups.push(() => sub.client.endAsync());
    const killedIds = Array.from({ length: 5 }, (_, i) => `fleet-k${i}`);
    const children = killedIds.map((id) => {
      const { raw, dir } = deviceConfig(id, broker.url);
      return counter(["simulate", "--config", writeConfig(raw, dir), "--rate", "3"]);
    });
    cleanups.push(() => {
      for (const c of children) c.kill("SIGKILL");
    });
    const devices = Array.from({ length: 95 }, (_, i) => {
      const { config } = deviceConfig(`fleet-${i}`, broker.url);
      return new SimulatedDevice(config, { ratePerSec: 3, seed: i + 10, tickMs: 100 }, "test", quiet);
    });
    for (const d of devices) d.start();
    // every device, in-process or its own process, delivers `seconds` 1-s intervals
    const ids = [...killedIds, ...devices.map((d) => d.config.device.id)];
    const delivered = new Map<string, number>();
    let read = 0;
    await waitFor(
      () => {
        for (; read < sub.messages.length; read++) {
          const m = sub.messages[read] as Received;
          if (!m.topic.endsWith("/counts")) continue;
          const id = m.topic.split("/")[1] as string;
          delivered.set(id, (delivered.get(id) ?? 0) + 1);
        }
        return ids.every((id) => (delivered.get(id) ?? 0) >= seconds);
      },
      seconds * 3000,
      `${seconds} intervals from each of the ${ids.length} devices`,
    );
    for (const c of children) c.kill("SIGKILL");
    // the broker notices the dead connections (TCP reset) and publishes their last wills
    await waitFor(
      () => killedIds.every((id) => lastStatus(sub.messages, id)?.online === false),
      10_000,
      "last wills of killed devices",
    );
    for (const d of devices) expect(lastStatus(sub.messages, d.config.device.id)?.online).toBe(true);
    await Promise.all(devices.map((d) => d.stop()));
    for (const d of devices) {
      const id = d.config.device.id;
      await waitFor(
        () =>
          totalsEqual(
            totals(counts(sub.messages.filter((m) => m.topic === `city/${id}/counts`))),
            d.generated,
          ),
        10_000,
        `counts of ${id}`,
      );
      const mine = counts(sub.messages.filter((m) => m.topic === `city/${id}/counts`));
      expectConsecutive(mine);
      expect(mine.length).toBeGreaterThanOrEqual(seconds - 2);
      // the explicit offline status, or the last will if the broker was too busy to acknowledge it
      await waitFor(() => lastStatus(sub.messages, id)?.online === false, 10_000, `offline status of ${id}`);
    }
  }, 180_000);
});

function lastStatus(msgs: readonly Received[], id: string): StatusMessage | undefined {
  const mine = msgs.filter((m) => m.topic === `city/${id}/status`);
  return mine.length ? (JSON.parse(mine.at(-1)!.payload) as StatusMessage) : undefined;
}

function totalsEqual(a: Map<string, number>, b: Map<string, number>): boolean {
  const bb = [...b].filter(([, v]) => v > 0);
  return a.size === bb.length && bb.every(([k, v]) => a.get(k) === v);
}

/** A test CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl in `d`. */
function makeCertificates(d: string): void {
  const ssl = (args: string[]) => {
    const r = spawnSync("openssl", args, { cwd: d, encoding: "utf8" });
    if (r.status !== 0) throw new Error(r.stderr);
  };
  const key = (name: string) => ["-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`];
  const sign = (name: string, ext?: string) => [
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    `${name}.crt`,
    "-days",
    "2",
    ...(ext ? ["-extfile", ext] : []),
  ];
  ssl(["req", "-x509", ...key("ca"), "-out", "ca.crt", "-days", "2", "-subj", "/CN=test-ca"]);
  ssl(["req", ...key("server"), "-out", "server.csr", "-subj", "/CN=127.0.0.1"]);
  writeFileSync(join(d, "san.ext"), "subjectAltName=IP:127.0.0.1\n");
  ssl(sign("server", "san.ext"));
  ssl(["req", ...key("client"), "-out", "client.csr", "-subj", "/CN=tls-cert-1"]);
  ssl(sign("client"));
  // mosquitto drops root for its own user, which must read the keys
  for (const f of ["server.key", "client.key", "ca.crt", "server.crt"]) chmodSync(join(d, f), 0o644);
}
