import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { type Browser, chromium } from "playwright-core";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "../edge/app/logger.ts";
import { parseSiteConfig } from "../edge/site/load.ts";
import { SiteProcess } from "../edge/site/site-process.ts";
import { REPO_ROOT } from "./helpers/assets.ts";
import { freePort, startAedes, waitFor } from "./helpers/brokers.ts";
import { gateCountsMessage } from "./helpers/gate-messages.ts";

// The Site page end to end: a site process fed over a real broker, Debian's Chromium driven by
// playwright-core. Screenshots go to SHOTS.
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SHOTS = join(REPO_ROOT, "test-results", "site-page");
const TOKEN = "site-page-token-0123456789";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const hasChromium = existsSync(CHROMIUM);
if (!hasChromium && process.env.CI !== "true") console.warn(`site page test skipped: no ${CHROMIUM}`);

describe.runIf(hasChromium || process.env.CI === "true")("the Site page in Chromium", () => {
  it("log in, occupancy in large type, gates with in/out and state, alarm, live update, CSV, 360 px", async () => {
    mkdirSync(SHOTS, { recursive: true });
    const broker = await startAedes();
    cleanups.push(broker.close);
    const port = await freePort();
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    const config = parseSiteConfig(
      {
        site: { id: "fest", name: "Harbour Festival" },
        gates: [
          { name: "North gate", device: "g1", line: "gate", in: "south" },
          { name: "Ferry pier", device: "g2", line: "gate", in: "south" },
        ],
        // the day started an hour ago, so the intervals below lie in it
        reset: { time: new Date(minute - 3_600_000).toISOString().slice(11, 16), timeZone: "UTC" },
        capacity: 30,
        mqtt: { url: broker.url, baseTopic: "city" },
        storage: { path: join(mkdtempSync(join(tmpdir(), "site-page-")), "site.db") },
        api: { host: "0.0.0.0", port, token: TOKEN },
      },
      "site.yaml",
      {},
    );
    const site = new SiteProcess(config, { log: createLogger("silent") });
    await site.startApi();
    site.start();
    cleanups.push(() => site.stop());
    await waitFor(() => site.brokerConnected, 10_000, "site connected");
    const devices = await mqtt.connectAsync(broker.url);
    cleanups.push(() => devices.endAsync());
    let seq = 0;
    const send = async (device: string, startMs: number, entered: number, exited: number) => {
      const msg = gateCountsMessage({ device, seq: ++seq, startMs, entered, exited });
      await devices.publishAsync(`city/${device}/counts`, JSON.stringify(msg), { qos: 1 });
    };
    await send("g1", minute - 120_000, 20, 3);
    await send("g2", minute - 120_000, 5, 0);
    await send("g2", minute - 60_000, 3, 0);
    await waitFor(() => site.latest?.occupancy === 25, 10_000, "the site counting");

    const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    cleanups.push(() => browser.close());
    // the API answers nothing without a login
    const anonymous = await browser.newPage();
    const refused = await anonymous.goto(`http://127.0.0.1:${port}/api/site`);
    expect(refused?.status()).toBe(401);
    await anonymous.close();

    const page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.locator("#token").fill("not-the-token-at-all");
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByText("Wrong token").waitFor();
    await page.locator("#token").fill(TOKEN);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.locator("#occupancy", { hasText: "25" }).waitFor();
    expect(await page.locator("#login").isHidden()).toBe(true);
    await page.screenshot({ path: join(SHOTS, "1-site.png") });

    const rows = await page
      .locator("#gates tbody tr")
      .evaluateAll((trs) =>
        trs.map((tr) => [...tr.querySelectorAll("td")].slice(0, 2).map((td) => td.textContent?.trim())),
      );
    expect(rows).toEqual([
      ["North gate", "20 / 3"],
      ["Ferry pier", "8 / 0"],
    ]);
    // 25 of 30 is past the warning level (80 %)
    expect(await page.locator("#alarm").textContent()).toBe("Capacity alarm: warning");
    expect(await page.locator("#capacity").textContent()).toBe("of 30 (83 %)");
    expect(await page.locator("#partial").isHidden()).toBe(true);

    // a gate's status and a new interval: the page follows without a reload
    await devices.publishAsync(
      "city/g1/status",
      JSON.stringify({ type: "status", deviceId: "g1", online: false }),
      { qos: 1, retain: true },
    );
    await send("g1", minute - 60_000, 0, 10);
    await page.locator("#occupancy", { hasText: /^15$/ }).waitFor();
    await page.locator("#alarm").waitFor({ state: "hidden" });
    expect(await page.locator('#gates tr[data-gate="North gate"] td').nth(2).textContent()).toMatch(
      /^offline since/,
    );
    // the device's last will: occupancy is partial, and the page says since when and why
    expect(await page.locator("#partial").textContent()).toMatch(
      /^Partial since \d\d:\d\d: North gate offline/,
    );

    // CSV per gate and 15 minutes, as the page's link downloads it
    const download = page.waitForEvent("download");
    await page.locator("#csv-15m").click();
    const csv = await (await download).createReadStream().then(async (s) => {
      let text = "";
      for await (const chunk of s) text += chunk;
      return text;
    });
    const quarter = Math.floor((minute - 120_000) / 900_000) * 900_000;
    const lines = csv.trim().split("\n");
    expect(lines[0]).toBe("gate,start,end,entered,exited");
    // the two minutes may straddle a quarter hour: sum per gate
    const sum = (gate: string) =>
      lines
        .slice(1)
        .filter((l) => l.startsWith(`${gate},`))
        .reduce((t, l) => [t[0]! + Number(l.split(",")[3]), t[1]! + Number(l.split(",")[4])], [0, 0]);
    expect(sum("North gate")).toEqual([20, 13]);
    expect(sum("Ferry pier")).toEqual([8, 0]);
    expect(lines[1]).toContain(new Date(quarter).toISOString());

    // 360 px: nothing wider than the screen, occupancy still the largest thing on it
    await page.setViewportSize({ width: 360, height: 740 });
    await page.screenshot({ path: join(SHOTS, "2-site-360.png"), fullPage: true });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    const size = await page
      .locator("#occupancy")
      .evaluate((el) => Number.parseFloat(getComputedStyle(el).fontSize));
    expect(size).toBeGreaterThanOrEqual(64);
  });
});
