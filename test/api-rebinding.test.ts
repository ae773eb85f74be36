import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { type AddressInfo, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type ApiSource, buildApi } from "../edge/api/server.ts";
import { geometryRevision, saveGeometry } from "../edge/config/edit.ts";
import { parseConfig, redactConfig } from "../edge/config/load.ts";
import { Redactor } from "../edge/domain/redact.ts";
import type { StatusMessage } from "../edge/publish/messages.ts";
import { SetupMode, setupOptionsFrom } from "../edge/setup/setup-mode.ts";
import { describeWithAssets } from "./helpers/assets.ts";

// DNS rebinding against the loopback API, in a real browser: a page of evil.example is served by its
// own server, then evil.example resolves to 127.0.0.1 (here: Chromium's --host-resolver-rules), so
// the page's requests reach the device as the page's own origin. No credentials are asked on
// loopback; only the name the request uses gives it away.

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

const dir = mkdtempSync(join(tmpdir(), "rebind-"));
const configFile = join(dir, "device.yaml");
const DEVICE =
  "device: { id: rebind-1, location: { latitude: 56.15, longitude: 10.2 } }\ncamera: { source: clip.mp4 }\nlines: []\n";
writeFileSync(configFile, DEVICE);
const config = parseConfig(
  {
    device: { id: "rebind-1", location: { latitude: 56.15, longitude: 10.2 } },
    camera: { source: "clip.mp4" },
  },
  "device.yaml",
  {},
);
const setup = new SetupMode(setupOptionsFrom(config), () => {});
const source: ApiSource = {
  history: {
    deviceId: "rebind-1",
    database: () => undefined,
    databaseError: () => "not opened in this test",
  },
  model: () => "yolox-nano",
  camera: () => undefined,
  broker: () => ({ enabled: false, connected: false, lastError: null }),
  outboxDepth: () => 0,
  metrics: async () => ({ contentType: "text/plain", text: "" }),
  status: () => ({ deviceId: "rebind-1" }) as unknown as StatusMessage,
  redactedConfig: () => redactConfig(config),
  geometry: () => ({ lines: [], zones: [], anchor: "bottom-center", revision: geometryRevision(configFile) }),
  saveGeometry: (edit, revision) => {
    const saved = saveGeometry(configFile, edit, {}, revision);
    return {
      lines: saved.lines,
      zones: saved.zones,
      anchor: saved.counting.anchor,
      revision: geometryRevision(configFile),
    };
  },
  setup,
  liveCounts: () => ({ totals: [], today: [], occupancy: [], processedFps: 0 }),
};
const app = buildApi({
  source,
  host: "127.0.0.1",
  token: undefined,
  redact: (t) => Redactor.for(config).text(t),
});
let port = 0;

beforeAll(async () => {
  await app.listen({ host: "127.0.0.1", port: 0 });
  port = (app.server.address() as AddressInfo).port;
});
afterAll(async () => {
  setup.switch(false);
  await app.close();
});

/** What the attacker's page tries, reporting each answer's status. */
const ATTACK = `<!doctype html><script>
async function attack() {
  const out = {};
  const json = { "content-type": "application/json" };
  out.config = (await fetch("/api/config")).status;
  out.geometry = (await fetch("/api/geometry")).status;
  out.save = (await fetch("/api/geometry", { method: "PUT", headers: json,
    body: JSON.stringify({ lines: [{ name: "evil", points: [[0, 0], [1, 1]] }], zones: [] }) })).status;
  out.setup = (await fetch("/api/setup", { method: "POST", headers: json, body: JSON.stringify({ active: true }) })).status;
  out.preview = (await fetch("/api/setup/background.jpg")).status;
  return out;
}
</script>`;

/** One raw HTTP/1.1 request (as a browser never sends it), answered with its status code. */
function rawStatus(request: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.end(request));
    let text = "";
    socket.on("data", (d) => {
      text += d.toString("latin1");
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0)));
  });
}

it("a request target in absolute form names its own host: a foreign one is refused whatever the Host header says", async () => {
  const host = `127.0.0.1:${port}`;
  expect(
    await rawStatus(
      `GET http://evil.example:${port}/api/config HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
    ),
  ).toBe(403);
  expect(
    await rawStatus(`GET http://${host}/api/config HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
  ).toBe(200);
  expect(await rawStatus("GET /api/config HTTP/1.0\r\n\r\n")).toBe(403);
});

describeWithAssets(
  "DNS rebinding in Chromium (the loopback API refuses foreign host names)",
  [CHROMIUM],
  () => {
    it("a page of evil.example resolving to 127.0.0.1 can neither read, write nor switch set-up on; the device's own page can", async () => {
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          "--no-sandbox",
          `--host-resolver-rules=MAP evil.example 127.0.0.1`,
          // Chromium's own guard against public pages calling private addresses is switched off: other
          // browsers (and older Chromiums) have none, and the device must not depend on it
          "--disable-features=BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights,PrivateNetworkAccessRespectPreflightResults,LocalNetworkAccessChecks",
          "--disable-background-networking",
          "--disable-component-update",
        ],
      });
      try {
        const page = await browser.newPage();
        // the attacker's own server delivered this page before the name was rebound
        await page.route(`http://evil.example:${port}/`, (route) =>
          route.fulfill({ status: 200, contentType: "text/html", body: ATTACK }),
        );
        await page.goto(`http://evil.example:${port}/`);
        const attacked = await page.evaluate("attack()");
        expect(attacked).toEqual({ config: 403, geometry: 403, save: 403, setup: 403, preview: 403 });
        expect(readFileSync(configFile, "utf8")).toBe(DEVICE);
        expect(setup.status().active).toBe(false);
        // the same requests by the device's address work (so the refusals above are about the name)
        const own = await browser.newPage();
        const res = await own.goto(`http://127.0.0.1:${port}/api/geometry`);
        expect(res?.status()).toBe(200);
        const status = await own.evaluate(
          async () =>
            (
              await fetch("/api/setup", {
                method: "POST",
                headers: { "content-type": "application/json" },
                body: JSON.stringify({ active: true }),
              })
            ).status,
        );
        expect(status).toBe(200);
        expect(setup.status().active).toBe(true);
      } finally {
        await browser.close();
      }
    }, 60_000);
  },
);
