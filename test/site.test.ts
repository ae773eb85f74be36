import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Value } from "@sinclair/typebox/value";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { ConfigError } from "../edge/config/load.ts";
import { siteCsv } from "../edge/site/csv.ts";
import { loadSiteConfigFile, parseSiteConfig } from "../edge/site/load.ts";
import {
  AlarmMessageSchema,
  type ReceivedInterval,
  readCountsMessage,
  SiteMessageSchema,
} from "../edge/site/messages.ts";
import { withSiteReference } from "../edge/site/reference.ts";
import { dayStartAtOrBefore, nextDayStart } from "../edge/site/reset.ts";
import { type SiteConfig, SiteConfigSchema } from "../edge/site/schema.ts";
import { SiteState } from "../edge/site/site-state.ts";
import { SiteStore } from "../edge/site/site-store.ts";
import { REPO_ROOT } from "./helpers/assets.ts";
import { gateCountsMessage } from "./helpers/gate-messages.ts";

function siteConfig(over: Record<string, unknown> = {}): SiteConfig {
  const dir = mkdtempSync(join(tmpdir(), "site-"));
  return parseSiteConfig(
    {
      site: { id: "fest" },
      gates: [
        { name: "north", device: "gate-n", line: "gate", in: "south" },
        { name: "east", device: "gate-e", line: "gate", in: "west" },
      ],
      reset: { time: "06:00", timeZone: "Europe/Copenhagen" },
      capacity: 100,
      storage: { path: join(dir, "site.db") },
      ...over,
    },
    "site.yaml",
    {},
  );
}

/** A device's interval, rendered as the device renders it and read back as the site reads it. */
function interval(
  device: string,
  seq: number,
  startMs: number,
  counts: { in?: number; out?: number; inSide?: string; outSide?: string },
  coverageSec = 60,
): { iv: ReceivedInterval; body: string } {
  const inSide = counts.inSide ?? (device === "gate-e" ? "west" : "south");
  const outSide = counts.outSide ?? (device === "gate-e" ? "east" : "north");
  const msg = gateCountsMessage({
    device,
    seq,
    startMs,
    entered: counts.in ?? 0,
    exited: counts.out ?? 0,
    inSide,
    outSide,
    coverageSec,
    more: [{ line: "other", from: outSide, to: inSide, mode: "pedestrian", count: 99 }],
  });
  const body = JSON.stringify(msg);
  const iv = readCountsMessage(body);
  if (typeof iv === "string") throw new Error(iv);
  return { iv, body };
}

function feed(
  state: SiteState,
  store: SiteStore,
  x: { iv: ReceivedInterval; body: string },
  nowMs: number,
): boolean {
  const gates = state.gateCounts(x.iv);
  if (store.add(x.iv, x.body, gates, nowMs) === "duplicate") return false;
  state.addInterval(x.iv, gates, nowMs);
  return true;
}

describe("site.yaml", () => {
  it("the example is valid and `config check` tells a site from a device", () => {
    const r = spawnSync(
      process.execPath,
      [join(REPO_ROOT, "bin/counter.js"), "config", "check", "examples/site.yaml"],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, SITE_MQTT_PASSWORD: "secret" },
        encoding: "utf8",
      },
    );
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(
      /valid \(site harbour-festival, 3 gates on 3 devices, 1 zones, reset 06:00, capacity 12000\)/,
    );
    expect(r.status).toBe(0);
  });

  it("names every invalid field and exits 2", () => {
    const dir = mkdtempSync(join(tmpdir(), "site-bad-"));
    const file = join(dir, "site.yaml");
    writeFileSync(
      file,
      stringify({
        site: { id: "bad id" },
        gates: [
          { name: "A", device: "d1", line: "gate", in: "south", dir: "x" },
          { name: "B", device: "d1", line: "gate" },
        ],
        reset: { time: "25:00" },
      }),
    );
    const r = spawnSync(process.execPath, [join(REPO_ROOT, "bin/counter.js"), "config", "check", file], {
      encoding: "utf8",
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("site.id: expected string to match");
    expect(r.stderr).toContain("gates[0].dir: unknown key");
    expect(r.stderr).toContain("gates[1].in: required");
    expect(r.stderr).toContain("reset.time: expected string to match");
  });

  it("`counter site` with a database it cannot open says which and exits 1 before connecting", () => {
    const dir = mkdtempSync(join(tmpdir(), "site-nodb-"));
    const file = join(dir, "site.yaml");
    writeFileSync(
      file,
      stringify({
        site: { id: "fest" },
        gates: [{ name: "a", device: "d1", line: "gate", in: "south" }],
        reset: { timeZone: "UTC" },
        mqtt: { url: "mqtt://127.0.0.1:9" },
        storage: { path: join(dir, "missing", "site.db") },
      }),
    );
    const r = spawnSync(process.execPath, [join(REPO_ROOT, "bin/counter.js"), "site", "--config", file], {
      encoding: "utf8",
      env: { ...process.env, LOG_LEVEL: "error" },
      timeout: 30_000,
    });
    expect(r.stderr).toContain(
      `error: site database ${join(dir, "missing", "site.db")}: Cannot open database because the directory does not exist`,
    );
    expect(r.status).toBe(1);
  });

  it("checks what the schema cannot: repeated gates, alarm order, time zone, no gates", () => {
    const bad = (over: Record<string, unknown>) => {
      try {
        siteConfig(over);
      } catch (err) {
        return (err as ConfigError).problems;
      }
      return [];
    };
    expect(
      bad({
        gates: [
          { name: "a", device: "d", line: "l", in: "x" },
          { name: "a", device: "d", line: "l", in: "y" },
        ],
      }),
    ).toEqual([
      'gates[1].name: "a" is already used by gates[0]',
      'gates[1].line: device d line "l" is already gates[0]',
    ]);
    expect(
      bad({
        alarms: [
          { name: "hi", atPercent: 90 },
          { name: "lo", atPercent: 50 },
        ],
      }),
    ).toEqual(["alarms[1].atPercent: levels go lowest first; 50 is not above 90"]);
    expect(bad({ reset: { timeZone: "Mars/Olympus" } })).toEqual([
      'reset.timeZone: unknown time zone "Mars/Olympus"',
    ]);
    expect(bad({ gates: [] })).toEqual(["gates: expected at least one of the gates, got 0"]);
    expect(bad({ api: { host: "0.0.0.0" } })).toEqual([
      "api.token: required when api.host is 0.0.0.0 (not loopback)",
    ]);
    expect(() => loadSiteConfigFile("/nonexistent/site.yaml")).toThrow(ConfigError);
  });
});

describe("reading the devices' messages", () => {
  it("takes coverage from quality.coverage when the device sends it (scene check), else coverageSec", () => {
    const { body } = interval("gate-n", 1, Date.parse("2026-07-01T04:00:00Z"), { in: 1 }, 60);
    const msg = JSON.parse(body) as { quality: Record<string, unknown> };
    expect((readCountsMessage(JSON.stringify(msg)) as ReceivedInterval).coverage).toBe(1);
    msg.quality.coverage = 0.4;
    expect((readCountsMessage(JSON.stringify(msg)) as ReceivedInterval).coverage).toBe(0.4);
    expect(
      readCountsMessage(JSON.stringify({ type: "counts", schemaVersion: 1, id: "x", seq: 1, entities: [] })),
    ).toMatch(/NGSI-LD/);
    expect(readCountsMessage("{")).toBe("not JSON");
  });
});

describe("the site's day", () => {
  const reset = { time: "06:00", timeZone: "Europe/Copenhagen" };
  it("starts at 06:00 local time, 23 h long across the spring change and 25 h across the autumn one", () => {
    const at = (s: string) => Date.parse(s);
    expect(dayStartAtOrBefore(at("2026-07-01T12:00:00Z"), reset)).toBe(at("2026-07-01T04:00:00Z"));
    expect(dayStartAtOrBefore(at("2026-07-01T03:59:00Z"), reset)).toBe(at("2026-06-30T04:00:00Z"));
    expect(dayStartAtOrBefore(at("2026-01-10T05:00:00Z"), reset)).toBe(at("2026-01-10T05:00:00Z"));
    const spring = at("2026-03-28T05:00:00Z"); // Saturday 06:00 CET; Sunday 06:00 is CEST
    expect(nextDayStart(spring, reset) - spring).toBe(23 * 3_600_000);
    const autumn = at("2026-10-24T04:00:00Z");
    expect(nextDayStart(autumn, reset) - autumn).toBe(25 * 3_600_000);
  });
});

describe("site state with its SQLite history", () => {
  const day = Date.parse("2026-07-01T04:00:00Z"); // 06:00 in Copenhagen
  const min = 60_000;

  it("occupancy is entries minus exits in time order, held at zero (counted) with its peak; duplicates dropped", () => {
    const config = siteConfig();
    const store = new SiteStore(config.storage.path);
    const state = new SiteState(config, day + 10 * min);
    const now = day + 10 * min;
    expect(feed(state, store, interval("gate-n", 1, day, { in: 0, out: 3 }), now)).toBe(true); // exits before anyone entered
    expect(feed(state, store, interval("gate-n", 2, day + min, { in: 10, out: 2 }), now)).toBe(true);
    expect(feed(state, store, interval("gate-e", 1, day + min, { in: 5, out: 0 }), now)).toBe(true);
    expect(feed(state, store, interval("gate-e", 1, day + min, { in: 5, out: 0 }), now)).toBe(false); // redelivery
    // a replaced unit numbers from 1 again: a new interval, not a redelivery
    const again = interval("gate-e", 1, day + 3 * min, { in: 1, out: 0 });
    expect(store.add(again.iv, again.body, state.gateCounts(again.iv), now)).toBe("seq-reused");
    state.addInterval(again.iv, state.gateCounts(again.iv), now);
    const { site } = state.snapshot(now);
    expect(site.occupancy).toBe(14); // clamped 0, then +8 +5, then +1
    expect(site.entered).toBe(16);
    expect(site.exited).toBe(5);
    expect(site.clamps).toBe(1);
    expect(site.peak).toEqual({ occupancy: 14, at: new Date(day + 4 * min).toISOString() });
    expect(site.gates.map((g) => [g.gate, g.entered, g.exited])).toEqual([
      ["north", 10, 5],
      ["east", 6, 0],
    ]);
    expect([...Value.Errors(SiteMessageSchema, site)].map((e) => `${e.path} ${e.message}`)).toEqual([]);
    store.close();
  });

  it("a late interval fills the history and corrects the totals; a gap in seq is reported until it arrives", () => {
    const config = siteConfig();
    const store = new SiteStore(config.storage.path);
    const state = new SiteState(config, day + 10 * min);
    const now = day + 5 * min;
    feed(state, store, interval("gate-n", 1, day, { in: 10 }), now);
    feed(state, store, interval("gate-n", 3, day + 2 * min, { out: 4 }), now);
    feed(state, store, interval("gate-e", 1, day, { in: 1 }), now);
    let s = state.snapshot(now).site;
    expect(s.gates[0]!.missingIntervals).toBe(1);
    expect(s.occupancy).toBe(7);
    feed(state, store, interval("gate-n", 2, day + min, { in: 6 }), now); // the outbox delivers the missing one
    s = state.snapshot(now).site;
    expect(s.gates[0]!.missingIntervals).toBe(0);
    expect(s.occupancy).toBe(13);
    expect(s.peak.occupancy).toBe(17);
    expect(s.peak.at).toBe(new Date(day + 2 * min).toISOString());
    // restart: the same figures from SQLite
    const again = new SiteState(config, now);
    const d = again.days();
    again.restore(store.gateCounts(d.previous.fromMs, d.today.toMs));
    again.restoreSeqStats("today", store.seqStats(d.today.fromMs, d.today.toMs));
    const r = again.snapshot(now).site;
    expect([r.occupancy, r.entered, r.exited, r.peak.occupancy, r.gates[0]!.missingIntervals]).toEqual([
      13, 17, 4, 17, 0,
    ]);
    store.close();
  });

  it("at the reset the day's remainder becomes the previous day's drift and today starts from zero", () => {
    const config = siteConfig();
    const store = new SiteStore(config.storage.path);
    const state = new SiteState(config, day + 23 * 60 * min);
    const late = day + 23 * 60 * min;
    feed(state, store, interval("gate-n", 1, late, { in: 50, out: 47 }), late + min);
    const next = day + 24 * 60 * min;
    expect(state.rollTo(next - 1)).toBe(false);
    expect(state.rollTo(next + 1000)).toBe(true);
    feed(state, store, interval("gate-n", 2, next, { in: 4 }), next + min);
    // an interval of yesterday arrives after the reset: it corrects yesterday, not today
    feed(state, store, interval("gate-e", 1, late + min, { out: 2 }), next + min);
    const s = state.snapshot(next + min).site;
    expect(s.dayStart).toBe(new Date(next).toISOString());
    expect([s.occupancy, s.entered, s.exited]).toEqual([4, 4, 0]);
    expect(s.previousDay).toEqual({
      dayStart: new Date(day).toISOString(),
      dayEnd: new Date(next).toISOString(),
      entered: 50,
      exited: 49,
      drift: 1,
      clamps: 0,
    });
    store.close();
  });

  it("gates go offline (status or silence) and blind (coverage), making occupancy partial since then", () => {
    const config = siteConfig();
    const store = new SiteStore(config.storage.path);
    const t0 = day + 10 * min;
    const state = new SiteState(config, t0);
    expect(state.snapshot(t0).site.gates.map((g) => g.state)).toEqual(["unknown", "unknown"]);
    feed(state, store, interval("gate-n", 1, day, { in: 1 }), t0);
    feed(state, store, interval("gate-e", 1, day, { in: 1 }, 30), t0); // half the interval observed
    state.addStatus({ deviceId: "gate-n", online: true, cameraDown: false, sceneStates: [] }, t0);
    let s = state.snapshot(t0 + 1000).site;
    expect(s.gates.map((g) => [g.state, g.coverage])).toEqual([
      ["ok", 1],
      ["blind", 0.5],
    ]);
    expect(s.partial).toBe(true);
    expect(s.partialSince).toBe(new Date(t0).toISOString()); // partial since start: nothing was heard then
    feed(state, store, interval("gate-e", 2, day + min, { in: 1 }), t0 + 2000);
    s = state.snapshot(t0 + 3000).site;
    expect(s.partial).toBe(false);
    expect(s.partialSince).toBe(null);
    // the device's scene check says it cannot see: blind at once, before its interval ends
    state.addStatus(
      { deviceId: "gate-e", online: true, cameraDown: false, sceneStates: ["obscured"] },
      t0 + 3000,
    );
    s = state.snapshot(t0 + 3001).site;
    expect([s.gates[1]!.state, s.gates[1]!.scene, s.partial]).toEqual(["blind", ["obscured"], true]);
    state.addStatus({ deviceId: "gate-e", online: true, cameraDown: false, sceneStates: [] }, t0 + 4000);
    expect(state.snapshot(t0 + 4001).site.partial).toBe(false);
    // gate-n's last interval was received at t0: silent for more than 2 intervals
    s = state.snapshot(t0 + 2 * min + 1).site;
    expect(s.gates[0]!.state).toBe("offline");
    state.addStatus(
      { deviceId: "gate-e", online: false, cameraDown: false, sceneStates: [] },
      t0 + 2 * min + 2,
    );
    s = state.snapshot(t0 + 2 * min + 3).site;
    expect(s.gates.map((g) => g.state)).toEqual(["offline", "offline"]);
    expect(s.partialSince).toBe(new Date(t0 + 2 * min + 1).toISOString());
    store.close();
  });

  it("raises the alarm levels at their share of capacity and leaves them only below the clearance", () => {
    const config = siteConfig({ capacity: 100 });
    const store = new SiteStore(config.storage.path);
    const state = new SiteState(config, day + 30 * min);
    const now = day + 30 * min;
    const levels: (string | null)[] = [];
    const step = (seq: number, c: { in?: number; out?: number }) => {
      feed(state, store, interval("gate-n", seq, day + seq * min, c), now);
      const { alarm } = state.snapshot(now);
      if (alarm) {
        expect(Value.Check(AlarmMessageSchema, alarm)).toBe(true);
        levels.push(alarm.level);
      }
    };
    step(1, { in: 79 }); // 79 %
    step(2, { in: 1 }); // 80 %: warning
    step(3, { out: 3 }); // 77 %: still warning (clears below 75 %)
    step(4, { in: 25 }); // 102 %: full
    step(5, { out: 6 }); // 96 %: still full
    step(6, { out: 30 }); // 66 %: below both
    expect(levels).toEqual(["warning", "full", null]);
    store.close();
  });

  it("a corrected `in` side recounts the whole history", () => {
    const config = siteConfig();
    const store = new SiteStore(config.storage.path);
    const state = new SiteState(config, day + 5 * min);
    store.regateIfChanged("first", (iv) => state.gateCounts(iv), readCountsMessage);
    feed(state, store, interval("gate-n", 1, day, { in: 7, out: 2 }), day + 2 * min);
    const flipped = siteConfig({
      gates: [
        { name: "north", device: "gate-n", line: "gate", in: "north" },
        { name: "east", device: "gate-e", line: "gate", in: "west" },
      ],
      storage: config.storage,
    });
    const state2 = new SiteState(flipped, day + 5 * min);
    expect(store.regateIfChanged("second", (iv) => state2.gateCounts(iv), readCountsMessage)).toBe(true);
    expect(store.gateCounts(day, day + min).find((g) => g.gate === "north")).toMatchObject({
      entered: 2,
      exited: 7,
    });
    expect(store.regateIfChanged("second", (iv) => state2.gateCounts(iv), readCountsMessage)).toBe(false);
    store.close();
  });
});

describe("site docs", () => {
  it("keeps the site JSON Schemas and the site.yaml reference in docs/ in step with the code (npm run schema)", () => {
    const onDisk = (f: string) => JSON.parse(readFileSync(join(REPO_ROOT, "docs", f), "utf8"));
    expect(onDisk("site-config.schema.json")).toEqual(JSON.parse(JSON.stringify(SiteConfigSchema)));
    expect(onDisk("mqtt-site.schema.json")).toEqual(JSON.parse(JSON.stringify(SiteMessageSchema)));
    expect(onDisk("mqtt-site-alarm.schema.json")).toEqual(JSON.parse(JSON.stringify(AlarmMessageSchema)));
    const doc = readFileSync(join(REPO_ROOT, "docs/configuration.md"), "utf8");
    expect(withSiteReference(doc)).toBe(doc);
  });
});

describe("CSV per gate and 15 minutes or hour", () => {
  it("`counter site --csv` sums the stored intervals per gate and bucket, beside a running site process", () => {
    const config = siteConfig();
    const store = new SiteStore(config.storage.path);
    const day = Date.parse("2026-07-01T04:00:00Z");
    const state = new SiteState(config, day);
    for (let m = 0; m < 40; m++) {
      feed(state, store, interval("gate-n", m + 1, day + m * 60_000, { in: 2, out: 1 }), day);
      if (m % 2 === 0) feed(state, store, interval("gate-e", m + 1, day + m * 60_000, { in: 1 }), day);
    }
    const dir = mkdtempSync(join(tmpdir(), "site-csv-"));
    const file = join(dir, "site.yaml");
    writeFileSync(
      file,
      stringify({
        site: { id: "fest" },
        gates: config.gates,
        reset: config.reset,
        storage: { path: config.storage.path },
      }),
    );
    // the store stays open for writing, as the site process keeps it
    const r = spawnSync(
      process.execPath,
      [
        join(REPO_ROOT, "bin/counter.js"),
        "site",
        "--config",
        file,
        "--csv",
        "15m",
        "--from",
        "2026-07-01T04:00:00Z",
        "--to",
        "2026-07-01T05:00:00Z",
      ],
      { encoding: "utf8" },
    );
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const q = (k: number) => new Date(day + k * 15 * 60_000).toISOString();
    expect(r.stdout.trim().split("\n")).toEqual([
      "gate,start,end,entered,exited",
      `east,${q(0)},${q(1)},8,0`,
      `north,${q(0)},${q(1)},30,15`,
      `east,${q(1)},${q(2)},7,0`,
      `north,${q(1)},${q(2)},30,15`,
      `east,${q(2)},${q(3)},5,0`,
      `north,${q(2)},${q(3)},20,10`,
    ]);
    expect(
      siteCsv(store, "1h", day, day + 3_600_000)
        .trim()
        .split("\n")
        .slice(1),
    ).toEqual([`east,${q(0)},${q(4)},20,0`, `north,${q(0)},${q(4)},80,40`]);
    store.close();
  });
});
