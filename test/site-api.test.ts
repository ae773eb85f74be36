import { afterAll, expect, it } from "vitest";
import { parseSiteConfig } from "../edge/site/load.ts";
import { readCountsMessage } from "../edge/site/messages.ts";
import { buildSiteApi } from "../edge/site/site-api.ts";

// The Site page's server shares the device page's access rules (edge/api/access.ts): checked here
// through fastify.inject on the real server with a real site configuration.
const config = parseSiteConfig(
  {
    site: { id: "fest", name: "Festival" },
    gates: [{ name: "north", device: "gate-1", line: "entry", in: "outside" }],
    capacity: 1000,
    api: { host: "0.0.0.0", port: 8090, token: "a-long-enough-site-token" },
  },
  "site.yaml",
  {},
);
const app = buildSiteApi(config, {
  latest: () => undefined,
  csv: () => "gate,bucket\n",
  brokerConnected: () => true,
});
afterAll(() => app.close());
const auth = { authorization: "Bearer a-long-enough-site-token" };

it("the Site page refuses a foreign Host and Origin, echoes no URL, and limits wrong tokens like the device", async () => {
  expect((await app.inject({ url: "/api/site.csv", headers: auth })).statusCode).toBe(200);
  expect(
    (await app.inject({ url: "/api/site.csv", headers: { ...auth, host: "evil.example" } })).statusCode,
  ).toBe(403);
  expect((await app.inject({ url: "/nope", headers: { ...auth, host: "evil.example" } })).statusCode).toBe(
    403,
  );
  expect(
    (await app.inject({ url: "/api/site.csv", headers: { ...auth, origin: "http://evil.example" } }))
      .statusCode,
  ).toBe(403);
  const lost = await app.inject({ url: `/${"a".repeat(15_000)}`, headers: auth });
  expect(lost.statusCode).toBe(404);
  expect(lost.body.length).toBeLessThan(200);
  const from = { remoteAddress: "198.51.100.70" };
  const codes: number[] = [];
  for (let i = 0; i < 6; i++)
    codes.push(
      (await app.inject({ url: "/api/site", headers: { authorization: `Bearer g${i}` }, ...from }))
        .statusCode,
    );
  expect(codes).toEqual([401, 401, 401, 401, 401, 429]);
});

it("a counts message with an impossible count is refused, not summed into the occupancy", () => {
  const message = (count: number) =>
    JSON.stringify({
      type: "counts",
      deviceId: "gate-1",
      seq: 1,
      intervalStart: "2026-12-07T10:00:00Z",
      intervalEnd: "2026-12-07T10:01:00Z",
      quality: { coverageSec: 60 },
      lines: [{ line: "entry", from: "outside", to: "inside", mode: "pedestrian", count }],
      zones: [],
    });
  expect(readCountsMessage(message(12))).toMatchObject({ lines: [{ count: 12 }] });
  expect(readCountsMessage(message(1e308))).toBe("bad line count");
  expect(readCountsMessage(message(-1))).toBe("bad line count");
});
