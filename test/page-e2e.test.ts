import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import sharp from "sharp";
import { afterAll, expect, it } from "vitest";
import { parse } from "yaml";
import { parseConfig } from "../edge/config/load.ts";
import { loadDetector } from "../edge/detect/load-detector.ts";
import type { CountsMessage, StatusMessage } from "../edge/publish/messages.ts";
import { dataPath, describeWithAssets, MODEL_DIR, modelPath, REPO_ROOT } from "./helpers/assets.ts";
import { freePort, startAedes, subscriber, waitFor } from "./helpers/brokers.ts";
import { counterProcess } from "./helpers/counter-process.ts";
import { deviceConfig } from "./helpers/device-config.ts";

// The set-up page end to end: a real `counter run` replaying the PETS plaza at its own pace, a real
// broker, Debian's Chromium driven by playwright-core. Screenshots of each step go to SHOTS.
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const clip = dataPath("pets09-s2l1/pets09-s2l1.avi");
const SHOTS = join(REPO_ROOT, "test-results", "page-e2e");
const TOKEN = "page-test-token-0123456789";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Every frame of the clip at the preview's size, as RGB, one after another. */
async function forEachFrame(width: number, height: number, visit: (rgb: Buffer) => void): Promise<number> {
  const ff = spawn("ffmpeg", [
    "-v",
    "error",
    "-i",
    clip,
    "-vf",
    `scale=${width}:${height}`,
    "-f",
    "rawvideo",
    "-pix_fmt",
    "rgb24",
    "-",
  ]);
  const size = width * height * 3;
  let pending = Buffer.alloc(0);
  let frames = 0;
  for await (const chunk of ff.stdout as AsyncIterable<Buffer>) {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= size) {
      visit(pending.subarray(0, size));
      pending = pending.subarray(size);
      frames++;
    }
  }
  return frames;
}

describeWithAssets(
  "the set-up page in Chromium, on a running counter",
  [modelPath("yolox_nano.onnx"), clip, CHROMIUM],
  () => {
    it("log in, set-up on, draw a line, save: the file keeps its comments, the line counts on the page and over MQTT; the preview shows nobody", async () => {
      mkdirSync(SHOTS, { recursive: true });
      const broker = await startAedes();
      cleanups.push(broker.close);
      const sub = await subscriber(broker.url, "city/#");
      cleanups.push(() => sub.client.endAsync());
      const port = await freePort();
      const { raw, dir } = deviceConfig("page-1", broker.url, {
        // the recording at its own pace, as a camera would deliver it
        camera: { source: clip, mode: "live", fps: 7, region: "lines" },
        model: { id: "yolox-nano", dir: MODEL_DIR, threads: 1 },
        lines: [],
        aggregation: { periodSec: 5 },
        api: { host: "0.0.0.0", port, token: TOKEN },
        setup: { maxMinutes: 1.2, sampleEverySec: 0.5 },
      });
      const configFile = join(dir, "device.yaml");
      writeFileSync(
        configFile,
        `# pole 7 on the plaza: set up from the page\n${JSON.stringify(raw, null, 2)}\n`,
      );
      const counter = counterProcess(["run", "--config", configFile]);
      cleanups.push(() => counter.child.kill("SIGKILL"));
      const base = `http://127.0.0.1:${port}`;
      await waitFor(() => counter.stderr().includes("camera state"), 120_000, "the camera to start");

      const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
      cleanups.push(() => browser.close());
      const page: Page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
      // every preview the page is served passes through here and is kept for the privacy check
      const served: Buffer[] = [];
      await page.route("**/api/setup/background.jpg", async (route) => {
        const response = await route.fetch();
        if (response.status() === 200) served.push(await response.body());
        await route.fulfill({ response });
      });
      const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

      // 1. the API listens beyond loopback: the page asks for the token
      await page.goto(base);
      await page.getByLabel("API token").fill(TOKEN);
      // a figure for docs/performance.md, not an assertion (the first request also bundles the page)
      const paint = await page.evaluate(
        () => performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? Number.NaN,
      );
      console.log(`page: first contentful paint ${paint.toFixed(0)} ms after navigation (first request)`);
      await shot("1-login");
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByRole("tab", { name: "Set-up" }).click();
      await expect.poll(() => page.locator("#setup-status").textContent()).toContain("off");
      // the header says whether the counter can see: the plaza in daylight, once its normal is learnt
      await expect.poll(() => page.locator("#scene").textContent(), { timeout: 30_000 }).toBe("View: ok");

      // 2. set-up mode on: after a few samples, the scene without its road users
      await page.locator("#setup-toggle").click();
      await expect.poll(() => page.locator("#setup-status").textContent()).toContain("on until");
      await page.waitForFunction(
        () => (document.getElementById("preview") as HTMLImageElement | null)?.naturalWidth,
        null,
        {
          timeout: 60_000,
        },
      );
      await shot("2-setup-preview");

      // 3. a line drawn with two clicks across the plaza's walkway, its sides named, saved
      await page.getByRole("button", { name: "Add line" }).click();
      const view = await page.locator("svg.overlay").boundingBox();
      if (!view) throw new Error("no drawing surface");
      await page.mouse.click(view.x + view.width * 0.5, view.y + view.height * 0.2);
      await page.mouse.click(view.x + view.width * 0.5, view.y + view.height * 0.95);
      await page.getByRole("button", { name: "Finish" }).click();
      // a name the schema refuses: the problem shows beside the field, nothing is written
      const before = readFileSync(configFile, "utf8");
      await page.locator('input[data-path="lines[0].name"]').fill("walk/way");
      await page.getByRole("button", { name: "Save and apply" }).click();
      await expect
        .poll(() => page.locator('.problem[data-for="lines[0].name"]').textContent())
        .toMatch(/^lines\[0\]\.name: /);
      expect(await page.locator('input[data-path="lines[0].name"]').getAttribute("aria-invalid")).toBe(
        "true",
      );
      expect(readFileSync(configFile, "utf8")).toBe(before);
      await page.locator('input[data-path="lines[0].name"]').fill("walkway");
      await page.locator('input[data-path="lines[0].from"]').fill("west");
      await page.locator('input[data-path="lines[0].to"]').fill("east");
      // the detector's region outside set-up (camera.region: lines) follows the line on the page
      const region = page.locator("svg.overlay rect.region");
      await expect.poll(() => region.count()).toBe(1);
      const rx = Number(await region.getAttribute("x"));
      const rw = Number(await region.getAttribute("width"));
      expect(rx).toBeLessThan(500);
      expect(rx + rw).toBeGreaterThan(500);
      expect(rw).toBeLessThan(1000);
      await shot("3-line-drawn");
      await page.getByRole("button", { name: "Save and apply" }).click();
      await expect.poll(() => page.locator("#save-message").textContent()).toContain("Saved and applied");

      // the file on disk: valid, comments kept, the new line in it
      const text = readFileSync(configFile, "utf8");
      expect(text.startsWith("# pole 7 on the plaza")).toBe(true);
      const saved = parseConfig(parse(text), configFile, {});
      expect(saved.lines).toHaveLength(1);
      expect(saved.lines[0]).toMatchObject({ name: "walkway", from: "west", to: "east" });
      const [[x1, y1], [x2, y2]] = saved.lines[0]!.points as [[number, number], [number, number]];
      expect(Math.abs(x1 - 0.5)).toBeLessThan(0.02);
      expect(Math.abs(x2 - 0.5)).toBeLessThan(0.02);
      expect(y1).toBeLessThan(y2);

      // 4. crossings of the new line show on the page (live, set-up mode) ...
      await expect
        .poll(
          async () =>
            Number((await page.locator('[data-seen="walkway"]').textContent())?.match(/\d+/)?.[0] ?? 0),
          {
            timeout: 90_000,
            interval: 500,
          },
        )
        .toBeGreaterThan(0);
      await shot("4-crossings-live");
      // ... and in the counts messages over MQTT from the next interval on, which is flagged
      const counts = () =>
        sub.messages
          .filter((m) => m.topic === "city/page-1/counts")
          .map((m) => JSON.parse(m.payload) as CountsMessage);
      await waitFor(
        () => counts().some((c) => c.lines.some((l) => l.line === "walkway" && l.count > 0)),
        90_000,
        "a counts message with the new line",
      );
      expect(counts().some((c) => c.quality.geometryChanged === true)).toBe(true);

      // a zone drawn with three clicks, one corner moved with the keyboard alone, saved beside the line
      await page.getByRole("button", { name: "Add zone" }).click();
      for (const [fx, fy] of [
        [0.2, 0.6],
        [0.4, 0.6],
        [0.3, 0.8],
      ] as const)
        await page.mouse.click(view.x + view.width * fx, view.y + view.height * fy);
      await page.keyboard.press("Enter");
      const corner = page.getByRole("slider", { name: "zone-1, point 1" });
      await corner.focus();
      await page.keyboard.press("Shift+ArrowRight"); // 0.02 to the right
      await page.locator('input[data-path="zones[0].dwellThresholdSec"]').fill("30");
      await page.getByRole("button", { name: "Save and apply" }).click();
      await expect.poll(() => readFileSync(configFile, "utf8")).toContain("zone-1");
      const withZone = parseConfig(parse(readFileSync(configFile, "utf8")), configFile, {});
      expect(withZone.lines.map((l) => l.name)).toEqual(["walkway"]);
      expect(withZone.zones).toHaveLength(1);
      expect(withZone.zones[0]!.dwellThresholdSec).toBe(30);
      expect(withZone.zones[0]!.polygon).toHaveLength(3);
      expect(withZone.zones[0]!.polygon[0]![0]).toBeCloseTo(0.22, 2);
      expect(withZone.zones[0]!.polygon[1]![0]).toBeCloseTo(0.4, 2);

      // 5. the preview's privacy, measured: every image served is run through the project's detector
      const previews = [...served];
      expect(previews.length).toBeGreaterThan(0);
      console.log(`the page was served ${previews.length} previews; each goes through the detector`);
      const detector = await loadDetector({ ...saved.model, inference: "main-thread", confidence: 0.3 });
      cleanups.push(() => detector.release());
      for (const jpeg of previews) {
        const people = (await detector.detect({ kind: "encoded", data: jpeg })).filter(
          (d) => d.label === "person",
        );
        expect(people).toEqual([]);
      }
      // ... and no served image is a frame of the clip: a frame re-encoded would differ from its
      // source in almost no pixel; the preview differs from every frame where people walk
      const decoded = await Promise.all(
        previews.map((p) => sharp(p).raw().toBuffer({ resolveWithObject: true })),
      );
      const { width, height } = decoded[0]!.info;
      expect(decoded.every((d) => d.info.width === width && d.info.height === height)).toBe(true);
      const closest = decoded.map(() => 1);
      const frames = await forEachFrame(width, height, (rgb) => {
        decoded.forEach(({ data: preview }, k) => {
          let differing = 0;
          for (let i = 0; i < rgb.length; i += 3) {
            const d =
              Math.abs((rgb[i] as number) - (preview[i] as number)) +
              Math.abs((rgb[i + 1] as number) - (preview[i + 1] as number)) +
              Math.abs((rgb[i + 2] as number) - (preview[i + 2] as number));
            if (d > 120) differing++;
          }
          closest[k] = Math.min(closest[k]!, differing / (rgb.length / 3));
        });
      });
      expect(frames).toBe(795);
      console.log(
        `each preview vs its closest of ${frames} frames: ${closest.map((c) => `${(c * 100).toFixed(2)} %`).join(", ")} of pixels differ by > 40 per channel`,
      );
      for (const c of closest) expect(c).toBeGreaterThan(0.003);

      // 6. the counts view: totals since start, live over server-sent events (aggregates only)
      await page.getByRole("tab", { name: "Counts" }).click();
      await expect
        .poll(async () => Number(await page.locator('td[data-line="walkway"]').first().textContent()), {
          timeout: 30_000,
        })
        .toBeGreaterThan(0);
      await expect.poll(() => page.locator("a.button").getAttribute("href")).toMatch(/format=csv/);
      await shot("5-counts");
      // the device's facts: secrets only as set / not set, never their values
      await page.getByRole("tab", { name: "Device" }).click();
      await expect
        .poll(() => page.locator("#secrets").textContent())
        .toContain("API token (for this page beyond the device)set");
      expect(await page.content()).not.toContain(TOKEN);
      await page.getByRole("tab", { name: "Set-up" }).click();

      // on a phone at the pole: nothing wider than the screen
      await page.setViewportSize({ width: 360, height: 740 });
      await shot("6-phone");
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);

      // 7. set-up mode ends by itself: the endpoints refuse, the retained status says so
      const statuses = () =>
        sub.messages
          .filter((m) => m.topic === "city/page-1/status")
          .map((m) => JSON.parse(m.payload) as StatusMessage);
      expect(statuses().some((s) => s.setup.active)).toBe(true);
      await waitFor(() => statuses().at(-1)?.setup.active === false, 120_000, "set-up mode to end by itself");
      const after = await fetch(`${base}/api/setup/background.jpg`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(after.status).toBe(403);
      const live = await fetch(`${base}/api/setup/live`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(live.status).toBe(403);
      await expect
        .poll(() => page.locator("#setup-status").textContent(), { timeout: 10_000 })
        .toContain("off");
      await shot("7-setup-ended");
      // set-up over: the camera is cropped around the saved line and zone
      await waitFor(
        () => /"region":\{"x":[^\n]*"detection region changed"/.test(counter.stderr()),
        30_000,
        "the capture to restart cropped to the region",
      );

      // 8. `counter setup` on the device switches it through the same API, audited the same way
      const cli = async (action: string) => {
        const p = counterProcess(["setup", action, "--config", configFile]);
        expect(await p.exited).toBe(0);
        return p.stdout();
      };
      expect(await cli("status")).toContain("set-up mode off");
      expect(await cli("on")).toMatch(
        /set-up mode on since .* until .*page: http:\/\/127\.0\.0\.1:\d+\/#setup/,
      );
      await waitFor(() => statuses().at(-1)?.setup.active === true, 10_000, "the status to say set-up is on");
      expect(await cli("off")).toContain("set-up mode off");
      await waitFor(
        () => statuses().at(-1)?.setup.active === false,
        10_000,
        "the status to say set-up is off",
      );
    }, 420_000);
  },
);
