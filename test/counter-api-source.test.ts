import { afterAll, describe, expect, it } from "vitest";
import type { GeometryView } from "../edge/api/contract.ts";
import { type CounterOutputs, counterApiSource, type RunningCounter } from "../edge/api/counter-source.ts";
import { buildApi } from "../edge/api/server.ts";
import type { StatusMessage } from "../edge/publish/messages.ts";
import { SetupMode, setupOptionsFrom } from "../edge/setup/setup-mode.ts";
import { deviceConfig } from "./helpers/device-config.ts";

// The API over a running counter's parts, as `counter run` wires it, without a model or a camera.

const { config } = deviceConfig("adapter-1", "mqtt://user:BrokerSecret-9@127.0.0.1:1");
const output = {
  database: undefined,
  storageError: "cannot open database /data/counts.db: disk I/O error" as string | null,
  brokerConnected: false as boolean,
  brokerError: "connect ECONNREFUSED" as string | null,
  depth: 4,
  outboxDepth() {
    return this.depth;
  },
  statusMessage: (online: boolean) => ({ online, deviceId: "adapter-1" }) as unknown as StatusMessage,
} satisfies CounterOutputs & { depth: number };
const gauge: number[] = [];
const saves: { edit: unknown; revision: string | undefined }[] = [];
const geometry: GeometryView = { lines: [], zones: [], anchor: "bottom-center", revision: "r1" };
const counter: RunningCounter = {
  config,
  output,
  metrics: {
    registry: { contentType: "text/plain; version=0.0.4", metrics: async () => `outbox ${gauge.at(-1)}\n` },
    outboxDepth: { set: (v) => gauge.push(v) },
  },
  setup: new SetupMode(setupOptionsFrom(config), () => {}),
  modelLoaded: () => "yolox-nano",
  camera: () => undefined,
  geometry: () => geometry,
  saveGeometry: (edit, revision) => {
    saves.push({ edit, revision });
    return { ...geometry, revision: "r2" };
  },
  liveCounts: () => ({ totals: [], today: [], occupancy: [], processedFps: 12.5 }),
};
const app = buildApi({
  source: counterApiSource(counter),
  host: "127.0.0.1",
  token: undefined,
  redact: (t) => t,
});
afterAll(() => app.close());

describe("the API's source over a running counter", () => {
  it("health reads the database's trouble and the broker from the counter's outputs, as they are now", async () => {
    const health = (await app.inject("/health")).json();
    expect(health.database).toEqual({ state: "error", error: output.storageError });
    expect(health.broker).toEqual({ state: "disconnected", lastError: "connect ECONNREFUSED" });
    expect(health.model).toBe("yolox-nano");
    expect(health.outboxDepth).toBe(4);
    output.storageError = null;
    output.brokerConnected = true;
    output.brokerError = null;
    const again = (await app.inject("/health")).json();
    expect(again.database).toEqual({ state: "ok", error: null });
    expect(again.broker.state).toBe("connected");
  });

  it("the history says why the database is not available", async () => {
    output.storageError = "disk full";
    const res = await app.inject("/api/counts");
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ error: "the database is not available", detail: "disk full" });
  });

  it("a scrape sets the outbox gauge first (nothing per frame touches the database)", async () => {
    output.depth = 9;
    const res = await app.inject("/metrics");
    expect(res.headers["content-type"]).toBe("text/plain; version=0.0.4");
    expect(res.body).toBe("outbox 9\n");
  });

  it("the configuration without secrets, the status as published online, geometry saves passed on", async () => {
    const redacted = (await app.inject("/api/config")).json();
    expect(JSON.stringify(redacted)).not.toContain("BrokerSecret-9");
    expect((await app.inject("/api/status")).json()).toEqual({ online: true, deviceId: "adapter-1" });
    const res = await app.inject({
      method: "PUT",
      url: "/api/geometry",
      headers: { "content-type": "application/json" },
      payload: { lines: [], zones: [], revision: "r1" },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().revision).toBe("r2");
    expect(saves).toEqual([{ edit: { lines: [], zones: [] }, revision: "r1" }]);
  });
});
